import { Badge, Group, Text } from "@mantine/core";
import { useTranslation } from "react-i18next";
import type { EdgeStack } from "../../api/fleet-types.ts";
import { stackStatusCounts } from "../../fleet/stack-status.ts";

/** How many devices of a stack are in each state, as badges ("Running 3", "Error 1"). */
export function StatusCounts({ stack }: { stack: Pick<EdgeStack, "Status"> }) {
  const { t } = useTranslation("fleet");
  const counts = stackStatusCounts(stack);
  if (counts.length === 0)
    return (
      <Text size="sm" c="dimmed">
        {t("counts.noDeviceYet")}
      </Text>
    );
  return (
    <Group gap={4}>
      {counts.map((count) => (
        <Badge key={count.type} color={count.color} variant="light" tt="none">
          {count.name} {count.count}
        </Badge>
      ))}
    </Group>
  );
}
