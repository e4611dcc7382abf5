import { Badge, Group, Text } from "@mantine/core";
import { useTranslation } from "react-i18next";
import type { AgentUpdateSchedule } from "../../api/fleet-types.ts";
import { agentUpdateStatusCounts } from "../../fleet/agent-update-status.ts";

/** How many devices of an agent update are in each status, as badges ("Pending 3", "Failed 1"). */
export function AgentUpdateCounts({ schedule }: { schedule: Pick<AgentUpdateSchedule, "status"> }) {
  const { t } = useTranslation("fleet");
  const counts = agentUpdateStatusCounts(schedule.status);
  if (counts.length === 0)
    return (
      <Text size="sm" c="dimmed">
        {t("counts.noDevice")}
      </Text>
    );
  return (
    <Group gap={4}>
      {counts.map((count) => (
        <Badge key={count.status} color={count.color} variant="light" tt="none">
          {count.name} {count.count}
        </Badge>
      ))}
    </Group>
  );
}
