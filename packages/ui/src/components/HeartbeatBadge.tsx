import { Badge } from "@mantine/core";

/** The heartbeat dot: green "online" while check-ins arrive on time, red "offline" otherwise. */
export function HeartbeatBadge({ alive }: { alive: boolean }) {
  return (
    <Badge variant="dot" color={alive ? "green" : "red"} size="md" styles={{ label: { textTransform: "none" } }}>
      {alive ? "online" : "offline"}
    </Badge>
  );
}
