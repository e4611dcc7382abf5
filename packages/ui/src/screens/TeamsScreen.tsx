import { Alert, Button, Group, Modal, MultiSelect, Paper, Table, TextInput, VisuallyHidden } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconPencil, IconPlus, IconTrash } from "@tabler/icons-react";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { type TeamInput, type TeamView, maxTeamNameLength, teamsApi } from "../api/teams.ts";
import { usersApi } from "../api/users.ts";
import { ConfirmDialog, type ConfirmRequest } from "../components/ConfirmDialog.tsx";
import { EmptyTableRow } from "../components/EmptyTableRow.tsx";
import { LoadError } from "../components/LoadError.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { PageLoader } from "../components/PageLoader.tsx";
import { useCan, useCurrentUser } from "../hooks/use-current-user.ts";
import { namesById, useEdgeGroups } from "../hooks/use-fleet-lists.ts";
import { useFormSave } from "../hooks/use-form-save.ts";
import { usePageTitle } from "../hooks/use-page-title.ts";
import { usePolling } from "../hooks/use-polling.ts";
import { removalRequest } from "../components/removal-request.ts";

type Option = { value: string; label: string };

/** The body's fields, as the server names a refused one. */
const fields = { name: "Name", members: "UserIds", edgeGroups: "EdgeGroupIds" } as const;

/** Name, members and edge groups of a team: the create form, and the edit dialog's body. */
function TeamFields({ initial, users, groups, submitLabel, label, onSave }: { initial: TeamInput; users: Option[]; groups: Option[]; submitLabel: string; label: string; onSave: (input: TeamInput) => Promise<void> }) {
  const { t } = useTranslation("teams");
  const [name, setName] = useState(initial.Name);
  const [members, setMembers] = useState(initial.UserIds.map(String));
  const [edgeGroups, setEdgeGroups] = useState(initial.EdgeGroupIds.map(String));
  const save = useFormSave();
  const submit = () => save.run(() => onSave({ Name: name.trim(), UserIds: members.map(Number), EdgeGroupIds: edgeGroups.map(Number) }));

  return (
    <form aria-label={label} onSubmit={(event) => (event.preventDefault(), void submit())}>
      <Group align="flex-start">
        <TextInput label={t("form.name")} required value={name} maxLength={maxTeamNameLength} error={save.fieldError(fields.name)} onChange={(event) => setName(event.currentTarget.value)} w={220} data-autofocus />
        <MultiSelect label={t("form.members")} placeholder={t("form.membersPlaceholder")} data={users} value={members} onChange={setMembers} searchable error={save.fieldError(fields.members)} w={240} />
        <MultiSelect
          label={t("form.edgeGroups")}
          placeholder={t("form.edgeGroupsPlaceholder")}
          description={t("form.edgeGroupsHelp")}
          data={groups}
          value={edgeGroups}
          onChange={setEdgeGroups}
          searchable
          error={save.fieldError(fields.edgeGroups)}
          w={280}
        />
        <Button type="submit" mt={25} leftSection={<IconPlus size={16} />} loading={save.busy} disabled={name.trim() === ""}>
          {submitLabel}
        </Button>
      </Group>
      {save.error && !save.error.field && (
        <Alert color="red" mt="sm">
          {save.error.message}
        </Alert>
      )}
    </form>
  );
}

/** `/teams` (administrators): teams with their members and edge groups; add, edit, delete. */
export function TeamsScreen() {
  const { t } = useTranslation(["teams", "common"]);
  usePageTitle(t("title"));
  const me = useCurrentUser();
  const administers = useCan("administer");
  const teams = usePolling((signal) => (administers ? teamsApi.list(signal) : Promise.resolve([])), 0, "teams");
  const users = usePolling((signal) => (administers ? usersApi.list(signal) : Promise.resolve([])), 0, "users");
  const groups = useEdgeGroups(0);
  const [confirm, setConfirm] = useState<ConfirmRequest>();
  const [editing, setEditing] = useState<TeamView>();
  const [formKey, setFormKey] = useState(0);

  if (!administers) {
    return (
      <>
        <PageHeader title={t("title")} description={t("description")} />
        <Alert color="yellow">{t("needsAdministrator", { role: t(`common:roles.${me.RoleName}`) })}</Alert>
      </>
    );
  }

  const userNames = namesById(users.data, (user) => user.Id, (user) => user.Username);
  const groupNames = namesById(groups.data, (group) => group.Id, (group) => group.Name);
  const userOptions = (users.data ?? []).map((user) => ({ value: String(user.Id), label: user.Username }));
  const groupOptions = (groups.data ?? []).map((group) => ({ value: String(group.Id), label: group.Name }));
  const names = (ids: number[], byId: Map<number, string>) => (ids.length === 0 ? t("none") : ids.map((id) => byId.get(id) ?? `#${id}`).join(", "));

  async function create(input: TeamInput) {
    const team = await teamsApi.create(input);
    notifications.show({ color: "green", message: t("form.created", { name: team.Name }) });
    setFormKey((key) => key + 1);
    await teams.refresh();
  }

  async function update(input: TeamInput) {
    if (!editing) return;
    const team = await teamsApi.update(editing.Id, input);
    notifications.show({ color: "green", message: t("form.saved", { name: team.Name }) });
    setEditing(undefined);
    await teams.refresh();
  }

  function askDelete(team: TeamView) {
    const name = team.Name;
    const words = {
      title: t("delete.confirmTitle", { name }),
      message: t("delete.confirmMessage"),
      confirmLabel: t("delete.confirmLabel"),
      done: t("delete.done", { name }),
      failed: t("delete.failed", { name }),
    };
    setConfirm(removalRequest(words, () => teamsApi.remove(team.Id), teams.refresh));
  }

  return (
    <>
      <PageHeader title={t("title")} description={t("description")} />
      <Paper withBorder radius="md" p="md" mb="md">
        <TeamFields key={formKey} initial={{ Name: "", UserIds: [], EdgeGroupIds: [] }} users={userOptions} groups={groupOptions} label={t("form.createLabel")} submitLabel={t("form.create")} onSave={create} />
      </Paper>
      <LoadError message={teams.error ?? users.error ?? groups.error} />
      {!teams.data ? (
        teams.error ? null : <PageLoader />
      ) : (
        <Paper withBorder radius="md">
          <Table verticalSpacing="sm" aria-label={t("title")}>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>{t("columns.name")}</Table.Th>
                <Table.Th>{t("columns.members")}</Table.Th>
                <Table.Th>{t("columns.edgeGroups")}</Table.Th>
                <Table.Th w={220}>
                  <VisuallyHidden>{t("columns.actions")}</VisuallyHidden>
                </Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {teams.data.map((team) => (
                <Table.Tr key={team.Id}>
                  <Table.Td fw={500}>{team.Name}</Table.Td>
                  <Table.Td>{names(team.UserIds, userNames)}</Table.Td>
                  <Table.Td>{names(team.EdgeGroupIds, groupNames)}</Table.Td>
                  <Table.Td>
                    <Group gap="xs" justify="flex-end">
                      <Button size="xs" variant="light" leftSection={<IconPencil size={14} />} aria-label={t("edit", { name: team.Name })} onClick={() => setEditing(team)}>
                        {t("common:actions.edit")}
                      </Button>
                      <Button size="xs" variant="light" color="red" leftSection={<IconTrash size={14} />} aria-label={t("delete.label", { name: team.Name })} onClick={() => askDelete(team)}>
                        {t("common:actions.delete")}
                      </Button>
                    </Group>
                  </Table.Td>
                </Table.Tr>
              ))}
              {teams.data.length === 0 && <EmptyTableRow columns={4}>{t("empty")}</EmptyTableRow>}
            </Table.Tbody>
          </Table>
        </Paper>
      )}
      <Modal opened={editing !== undefined} onClose={() => setEditing(undefined)} title={t("form.editTitle", { name: editing?.Name ?? "" })} size="auto" centered>
        {editing && <TeamFields initial={{ Name: editing.Name, UserIds: editing.UserIds, EdgeGroupIds: editing.EdgeGroupIds }} users={userOptions} groups={groupOptions} label={t("form.editTitle", { name: editing.Name })} submitLabel={t("form.save")} onSave={update} />}
      </Modal>
      <ConfirmDialog request={confirm} onClose={() => setConfirm(undefined)} />
    </>
  );
}
