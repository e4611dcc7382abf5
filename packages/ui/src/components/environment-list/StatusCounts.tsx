import { Anchor, Button, Group, Text } from "@mantine/core";
import { useTranslation } from "react-i18next";
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
  const { t } = useTranslation("environments");
  const counts = usePolling((signal) => api<EndpointCounts>("GET", "/api/endpoints/counts", { signal }), intervalMs, "endpoint-counts");
  if (!counts.data) return null;
  const { Environments, Online, Offline, Waiting } = counts.data;
  const filters: { which: "online" | "offline" | undefined; label: string; color: string }[] = [
    { which: undefined, label: t("home.counts.environments", { count: Environments }), color: "gray" },
    { which: "online", label: t("home.counts.online", { count: Online }), color: "green" },
    { which: "offline", label: t("home.counts.offline", { count: Offline }), color: "red" },
  ];
  return (
    <Group gap="xs" mb="md" data-testid="status-counts" aria-label={t("home.counts.label")} role="group">
      {filters.map(({ which, label, color }) => (
        <Button key={which ?? "all"} variant={status === which ? "light" : "subtle"} color={color} size="compact-md" aria-pressed={status === which} onClick={() => onStatus(which)}>
          {label}
        </Button>
      ))}
      <Text c="dimmed">·</Text>
      <Anchor component={Link} to="/waiting-room" size="sm">
        {t("home.counts.waiting", { count: Waiting })}
      </Anchor>
    </Group>
  );
}
