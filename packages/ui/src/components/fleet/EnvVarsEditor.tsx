import { ActionIcon, Button, Group, Stack, Text, TextInput } from "@mantine/core";
import { IconPlus, IconTrash } from "@tabler/icons-react";
import { useTranslation } from "react-i18next";
import type { EnvVar } from "../../api/fleet-types.ts";

/** The server's bounds on a stack's variables (`fleetLimits` in @pier/protocol). */
export const envVarLimits = { count: 100, name: 128, value: 4096 } as const;

/**
 * A stack's environment variables (`${NAME}` in its compose file): a name and a value per row.
 *
 * @example
 * <EnvVarsEditor value={vars} onChange={setVars} />
 */
export function EnvVarsEditor({ value, onChange }: { value: readonly EnvVar[]; onChange: (vars: EnvVar[]) => void }) {
  const { t } = useTranslation("fleet");
  const set = (index: number, change: Partial<EnvVar>) => onChange(value.map((entry, other) => (other === index ? { ...entry, ...change } : entry)));
  return (
    <Stack gap="xs" mb="md">
      <Text size="sm" fw={500}>
        {t("envVars.title")}
      </Text>
      <Text size="xs" c="dimmed">
        {t("envVars.hint")}
      </Text>
      {value.map((entry, index) => (
        <Group key={index} gap="xs">
          <TextInput aria-label={t("envVars.nameLabel", { index: index + 1 })} placeholder={t("envVars.namePlaceholder")} value={entry.name} maxLength={envVarLimits.name} onChange={(event) => set(index, { name: event.currentTarget.value })} w={220} styles={{ input: { fontFamily: "var(--mantine-font-family-monospace)" } }} />
          <TextInput aria-label={t("envVars.valueLabel", { index: index + 1 })} placeholder={t("envVars.valuePlaceholder")} value={entry.value} maxLength={envVarLimits.value} onChange={(event) => set(index, { value: event.currentTarget.value })} w={360} />
          <ActionIcon variant="subtle" color="red" aria-label={t("envVars.remove", { name: entry.name || index + 1 })} onClick={() => onChange(value.filter((_, other) => other !== index))}>
            <IconTrash size={16} />
          </ActionIcon>
        </Group>
      ))}
      <Group>
        <Button variant="light" size="xs" leftSection={<IconPlus size={14} />} disabled={value.length >= envVarLimits.count} onClick={() => onChange([...value, { name: "", value: "" }])}>
          {t("envVars.add")}
        </Button>
      </Group>
    </Stack>
  );
}
