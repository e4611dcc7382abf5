import { Alert, Badge, Code, Text, Tooltip } from "@mantine/core";
import type { Endpoint } from "../api/types.ts";
import { formatDateTime } from "../format.ts";

type Clone = NonNullable<Endpoint["Pier"]["Clone"]>;

function addresses(clone: Clone): string {
  return clone.Addresses.join(", ");
}

/** In lists: a red "cloned identity" badge, the addresses and dates in its tooltip. */
export function CloneBadge({ clone }: { clone: Endpoint["Pier"]["Clone"] }) {
  if (!clone) return null;
  return (
    <Tooltip label={`Used at once from ${addresses(clone)} · first seen ${formatDateTime(clone.FirstSeen)} · last seen ${formatDateTime(clone.LastSeen)}`} multiline w={320}>
      <Badge color="red" variant="light" size="sm" ml="xs" styles={{ label: { textTransform: "none" } }}>
        cloned identity
      </Badge>
    </Tooltip>
  );
}

/** On the environment page: what the clone flag means and what to do about it. */
export function CloneAlert({ clone }: { clone: Endpoint["Pier"]["Clone"] }) {
  if (!clone) return null;
  return (
    <Alert color="red" mb="md" title="Two devices use this device's identity">
      <Text size="sm">
        Connections from{" "}
        {clone.Addresses.map((address, index) => (
          <span key={address}>
            {index > 0 && (index === clone.Addresses.length - 1 ? " and " : ", ")}
            <Code>{address}</Code>
          </span>
        ))}{" "}
        presented this device&apos;s identity at the same time and kept taking its session from each other (first seen {formatDateTime(clone.FirstSeen)}, last seen {formatDateTime(clone.LastSeen)}).
      </Text>
      <Text size="sm" mt="xs">
        Usually an agent&apos;s data directory (agent.json) or client certificate was copied to a second device. Give each device its own: a fresh data directory, its own EDGE_ID and certificate. The agents back off meanwhile, so they do not flood the server.
      </Text>
    </Alert>
  );
}
