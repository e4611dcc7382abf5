import { Anchor, Button, Group, Text } from "@mantine/core";
import { Link } from "react-router";
import { api } from "../../api/client.ts";
import { usePolling } from "../../hooks/use-polling.ts";

/** `GET /api/endpoints/counts`. */
export interface EndpointCounts {
  Environments: number;
  Online: number;
  Offline: number;
  Waiting: number;
}

/**
 * The fleet in numbers at the top of Home: environments, online, offline (each a button that
 * filters the list by it) and devices waiting (a link to the Waiting Room). Polled with the
 * list; unchanged counts cost a 304.
 */
export function StatusCounts({ intervalMs, status, onStatus }: { intervalMs: number; status: "online" | "offline" | undefined; onStatus: (status: "online" | "offline" | undefined) => void }) {
  const counts = usePolling((signal) => api<EndpointCounts>("GET", "/api/endpoints/counts", { signal }), intervalMs, "endpoint-counts");
  if (!counts.data) return null;
  const { Environments, Online, Offline, Waiting } = counts.data;
  const filter = (which: "online" | "offline" | undefined, label: string, color: string) => (
    <Button variant={status === which ? "light" : "subtle"} color={color} size="compact-md" aria-pressed={status === which} onClick={() => onStatus(which)}>
      {label}
    </Button>
  );
  return (
    <Group gap="xs" mb="md" data-testid="status-counts" aria-label="Environments by status" role="group">
      {filter(undefined, `${Environments} ${Environments === 1 ? "environment" : "environments"}`, "gray")}
      {filter("online", `${Online} online`, "green")}
      {filter("offline", `${Offline} offline`, "red")}
      <Text c="dimmed">·</Text>
      <Anchor component={Link} to="/waiting-room" size="sm">
        {Waiting} waiting in the Waiting Room
      </Anchor>
    </Group>
  );
}
