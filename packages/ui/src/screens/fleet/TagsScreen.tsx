import { ActionIcon, Button, Group, Paper, Table, TextInput, Tooltip, VisuallyHidden } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconPlus, IconTrash } from "@tabler/icons-react";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { messageOf } from "../../api/client.ts";
import { tagsApi } from "../../api/fleet.ts";
import { ConfirmDialog, type ConfirmRequest } from "../../components/ConfirmDialog.tsx";
import { EmptyTableRow } from "../../components/EmptyTableRow.tsx";
import { maxTagNameLength } from "../../components/fleet/EnvironmentTags.tsx";
import { LoadError } from "../../components/LoadError.tsx";
import { PageHeader } from "../../components/PageHeader.tsx";
import { PageLoader } from "../../components/PageLoader.tsx";
import { useTags } from "../../hooks/use-fleet-lists.ts";
import { usePageTitle } from "../../hooks/use-page-title.ts";
import { useCan } from "../../hooks/use-current-user.ts";

/** `/tags`: every tag, a form to create one, and a confirmed delete (the tag leaves its environments and groups). */
export function TagsScreen() {
  const { t } = useTranslation("fleet");
  const canOperate = useCan("operate");
  usePageTitle(t("tags.title"));
  const tags = useTags(10_000);
  const [name, setName] = useState("");
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [pending, setPending] = useState<ConfirmRequest>();

  async function create() {
    setBusy(true);
    setError(undefined);
    try {
      const tag = await tagsApi.create(name.trim());
      setName("");
      notifications.show({ color: "green", message: t("tags.created", { name: tag.Name }) });
      await tags.refresh();
    } catch (failure) {
      setError(messageOf(failure));
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <PageHeader title={t("tags.title")} description={t("tags.description")} />
      <LoadError message={tags.error} />
      {canOperate && (
        <Group align="flex-start" mb="md">
          <TextInput
            label={t("tags.nameLabel")}
            placeholder={t("tags.example")}
            value={name}
            maxLength={maxTagNameLength}
            error={error}
            onChange={(event) => setName(event.currentTarget.value)}
            onKeyDown={(event) => event.key === "Enter" && name.trim() !== "" && void create()}
            w={320}
          />
          <Button mt={25} leftSection={<IconPlus size={16} />} onClick={() => void create()} disabled={name.trim() === ""} loading={busy}>
            {t("tags.create")}
          </Button>
        </Group>
      )}
      {!tags.data ? (
        tags.error ? null : <PageLoader />
      ) : (
        <Paper withBorder radius="md">
          <Table striped verticalSpacing="sm" aria-label={t("tags.tableLabel")}>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>{t("columns.name")}</Table.Th>
                <Table.Th w={80}>{t("columns.id")}</Table.Th>
                <Table.Th w={60}>
                  <VisuallyHidden>{t("columns.actions")}</VisuallyHidden>
                </Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {tags.data.map((tag) => (
                <Table.Tr key={tag.ID}>
                  <Table.Td fw={500}>{tag.Name}</Table.Td>
                  <Table.Td>{tag.ID}</Table.Td>
                  <Table.Td>
                    {canOperate && (
                      <Tooltip label={t("tags.deleteTooltip", { name: tag.Name })}>
                        <ActionIcon
                          variant="subtle"
                          color="red"
                          aria-label={t("tags.deleteLabel", { name: tag.Name })}
                          onClick={() =>
                            setPending({
                              title: t("tags.deleteTitle", { name: tag.Name }),
                              message: t("tags.deleteMessage"),
                              confirmLabel: t("tags.deleteConfirm"),
                              onConfirm: async () => {
                                try {
                                  await tagsApi.remove(tag.ID);
                                  notifications.show({ color: "green", message: t("tags.deleted", { name: tag.Name }) });
                                } catch (failure) {
                                  notifications.show({ color: "red", message: messageOf(failure) });
                                }
                                await tags.refresh();
                              },
                            })
                          }
                        >
                          <IconTrash size={16} />
                        </ActionIcon>
                      </Tooltip>
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
              {tags.data.length === 0 && <EmptyTableRow columns={3}>{t("tags.empty")}</EmptyTableRow>}
            </Table.Tbody>
          </Table>
        </Paper>
      )}
      <ConfirmDialog request={pending} onClose={() => setPending(undefined)} />
    </>
  );
}
