import { Button, Group, MultiSelect, Paper, Text, TextInput, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconPlus } from "@tabler/icons-react";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { messageOf } from "../../api/client.ts";
import { tagsApi } from "../../api/fleet.ts";
import { useTags } from "../../hooks/use-fleet-lists.ts";
import { useCan } from "../../hooks/use-current-user.ts";

/** The longest tag name the server takes. */
export const maxTagNameLength = 128;

/**
 * An environment's tags: pick from the existing ones or create one inline; each change is saved
 * at once (`PUT /api/endpoints/{id} {TagIDs}`), and dynamic edge groups follow it.
 *
 * @example
 * <EnvironmentTags environmentId={env.Id} tagIds={env.TagIds ?? []} onChanged={environment.refresh} />
 */
export function EnvironmentTags({ environmentId, tagIds, onChanged }: { environmentId: number; tagIds: readonly number[]; onChanged: () => Promise<void> }) {
  const { t } = useTranslation("fleet");
  const canOperate = useCan("operate");
  const tags = useTags();
  const [newTag, setNewTag] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  async function save(ids: readonly number[]) {
    setBusy(true);
    setError(undefined);
    try {
      await tagsApi.setForEnvironment(environmentId, ids);
      await onChanged();
      notifications.show({ color: "green", message: t("environmentTags.saved") });
    } catch (failure) {
      setError(messageOf(failure));
    } finally {
      setBusy(false);
    }
  }

  async function createAndAdd() {
    const name = newTag.trim();
    if (name === "") return;
    setBusy(true);
    setError(undefined);
    try {
      const existing = tags.data?.find((tag) => tag.Name.toLowerCase() === name.toLowerCase());
      const tag = existing ?? (await tagsApi.create(name));
      await tags.refresh();
      setNewTag("");
      await save([...new Set([...tagIds, tag.ID])]);
    } catch (failure) {
      setError(messageOf(failure));
      setBusy(false);
    }
  }

  return (
    <Paper withBorder radius="md" p="md" mb="lg" component="section" aria-labelledby={`tags-${environmentId}`}>
      <Title order={2} size="h4" mb="xs" id={`tags-${environmentId}`}>
        {t("environmentTags.title")}
      </Title>
      <Text size="sm" c="dimmed" mb="sm">
        {t("environmentTags.description")}
      </Text>
      <Group align="flex-end" gap="sm">
        <MultiSelect
          label={t("environmentTags.label")}
          placeholder={tagIds.length === 0 ? t("environmentTags.none") : undefined}
          data={(tags.data ?? []).map((tag) => ({ value: String(tag.ID), label: tag.Name }))}
          value={tagIds.map(String)}
          onChange={(values) => void save(values.map(Number))}
          searchable
          clearable={canOperate}
          disabled={busy || !canOperate}
          w={420}
        />
        {canOperate && (
          <>
            <TextInput label={t("environmentTags.newTag")} placeholder={t("environmentTags.example")} value={newTag} maxLength={maxTagNameLength} onChange={(event) => setNewTag(event.currentTarget.value)} onKeyDown={(event) => event.key === "Enter" && void createAndAdd()} w={220} />
            <Button variant="light" leftSection={<IconPlus size={16} />} onClick={() => void createAndAdd()} disabled={newTag.trim() === ""} loading={busy}>
              {t("environmentTags.createAndAdd")}
            </Button>
          </>
        )}
      </Group>
      {(error ?? tags.error) && (
        <Text c="red" size="sm" mt="xs" role="alert">
          {error ?? tags.error}
        </Text>
      )}
    </Paper>
  );
}
