import { Badge, CloseButton, Group, Checkbox, Paper, ScrollArea, Stack, Text, TextInput } from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { IconSearch } from "@tabler/icons-react";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { environmentListPath, loadEnvironmentPage, maxSearchLength } from "../../api/environment-list.ts";
import { formatNumber } from "../../format.ts";
import { environmentName } from "../../hooks/use-environment-names.ts";
import { usePolling } from "../../hooks/use-polling.ts";

/**
 * Picks environments (a static group's members, a job's explicit targets): a search on the
 * server (name, Edge ID or address; 20 results) with a checkbox each, and the chosen ones as
 * removable badges.
 *
 * `label` is in the UI's language already.
 *
 * @example
 * <EnvironmentPicker label={t("fields.environments")} selected={ids} onChange={setIds} names={names.data} />
 */
export function EnvironmentPicker({ label, selected, onChange, names }: { label: string; selected: readonly number[]; onChange: (ids: number[]) => void; names: ReadonlyMap<number, string> | undefined }) {
  const { t } = useTranslation("fleet");
  const [search, setSearch] = useState("");
  const [debounced] = useDebouncedValue(search, 300);
  const query = { list: "home", search: debounced, sort: "Name", order: "asc", page: 1, pageSize: 25 } as const;
  const results = usePolling((signal) => loadEnvironmentPage(query, signal), 0, environmentListPath(query), { keepDataOnKeyChange: true });
  const chosen = new Set(selected);
  const seen = new Map([...(names ?? []), ...(results.data?.items ?? []).map((environment) => [environment.Id, environment.Name] as const)]);

  function toggle(id: number, on: boolean) {
    onChange(on ? [...selected, id] : selected.filter((other) => other !== id));
  }

  return (
    <Stack gap="xs" mb="md">
      <Text size="sm" fw={500}>
        {t("picker.heading", { label, count: selected.length })}
      </Text>
      <Group gap={6}>
        {selected.map((id) => (
          <Badge key={id} variant="light" radius="sm" tt="none" rightSection={<CloseButton size="xs" aria-label={t("picker.remove", { name: environmentName(seen, id) })} onClick={() => toggle(id, false)} />}>
            {environmentName(seen, id)}
          </Badge>
        ))}
      </Group>
      <TextInput aria-label={t("picker.searchLabel", { label: label.toLowerCase() })} placeholder={t("picker.searchPlaceholder")} leftSection={<IconSearch size={16} />} value={search} maxLength={maxSearchLength} onChange={(event) => setSearch(event.currentTarget.value)} w={420} />
      <Paper withBorder radius="sm" p="xs" w={420}>
        <ScrollArea.Autosize mah={220}>
          {(results.data?.items ?? []).map((environment) => (
            <Checkbox key={environment.Id} my={4} label={environment.Name} checked={chosen.has(environment.Id)} onChange={(event) => toggle(environment.Id, event.currentTarget.checked)} />
          ))}
          {results.data && results.data.items.length === 0 && (
            <Text size="sm" c="dimmed">
              {t("picker.noMatch")}
            </Text>
          )}
          {results.data && results.data.total > results.data.items.length && (
            <Text size="xs" c="dimmed" mt={4}>
              {t("picker.more", { more: formatNumber(results.data.total - results.data.items.length) })}
            </Text>
          )}
          {results.error && (
            <Text size="sm" c="red" role="alert">
              {results.error}
            </Text>
          )}
        </ScrollArea.Autosize>
      </Paper>
    </Stack>
  );
}
