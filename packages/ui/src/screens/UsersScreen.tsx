import { Alert, Button, Group, Modal, Paper, Select, Table, Text, TextInput, VisuallyHidden } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { type Role, roles } from "@pier/protocol";
import { IconKey, IconPlus, IconTrash } from "@tabler/icons-react";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { messageOf } from "../api/client.ts";
import { type UserView, maxUsernameLength, usersApi } from "../api/users.ts";
import { ConfirmDialog, type ConfirmRequest } from "../components/ConfirmDialog.tsx";
import { EmptyTableRow } from "../components/EmptyTableRow.tsx";
import { LoadError } from "../components/LoadError.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { PageLoader } from "../components/PageLoader.tsx";
import { PasswordField } from "../components/PasswordField.tsx";
import { formatDateTime } from "../format.ts";
import { useCan, useCurrentUser } from "../hooks/use-current-user.ts";
import { useFormSave } from "../hooks/use-form-save.ts";
import { usePageTitle } from "../hooks/use-page-title.ts";
import { usePolling } from "../hooks/use-polling.ts";
import { removalRequest } from "../components/removal-request.ts";

/** The roles as a Select's options, with what each may do, in the UI's language. */
export function useRoleOptions(): { value: Role; label: string }[] {
  const { t } = useTranslation(["auth", "common"]);
  return roles.map((role) => ({ value: role, label: t(`users.roleOptions.${role}`) }));
}

function NewUserForm({ onCreated }: { onCreated: () => Promise<void> }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<Role>("helpdesk");
  const save = useFormSave();
  const { t } = useTranslation(["auth", "common"]);
  const roleOptions = useRoleOptions();
  const refused = { username: save.fieldError("Username"), password: save.fieldError("Password") };

  const create = () =>
    save.run(async () => {
      const user = await usersApi.create({ Username: username.trim(), Password: password, Role: role });
      notifications.show({ color: "green", message: t("users.form.created", { username: user.Username, role: t(`common:roles.${user.RoleName}`) }) });
      setUsername("");
      setPassword("");
      await onCreated();
    });

  return (
    <Paper withBorder radius="md" p="md" mb="md" component="form" aria-label={t("users.form.label")} onSubmit={(event) => (event.preventDefault(), void create())}>
      <Group align="flex-start">
        <TextInput label={t("fields.username")} required value={username} maxLength={maxUsernameLength} error={refused.username} onChange={(event) => setUsername(event.currentTarget.value)} w={220} />
        <PasswordField label={t("fields.password")} required description={t("users.form.passwordHelp")} value={password} error={refused.password} onChange={(event) => setPassword(event.currentTarget.value)} w={240} />
        <Select label={t("users.form.role")} data={roleOptions} value={role} allowDeselect={false} onChange={(value) => value && setRole(value)} w={340} />
        <Button type="submit" mt={25} leftSection={<IconPlus size={16} />} loading={save.busy} disabled={username.trim() === "" || password === ""}>
          {t("users.form.submit")}
        </Button>
      </Group>
      {save.error && !save.error.field && (
        <Alert color="red" mt="sm">
          {save.error.message}
        </Alert>
      )}
    </Paper>
  );
}

function ResetPasswordDialog({ user, onClose }: { user: UserView | undefined; onClose: () => void }) {
  const [password, setPassword] = useState("");
  const save = useFormSave();
  const { t } = useTranslation(["auth", "common"]);
  const reset = () =>
    save.run(async () => {
      if (!user) return;
      await usersApi.update(user.Id, { Password: password });
      notifications.show({ color: "green", message: t("users.reset.done", { username: user.Username }) });
      setPassword("");
      onClose();
    });
  return (
    <Modal opened={user !== undefined} onClose={onClose} title={t("users.reset.title", { username: user?.Username ?? "" })} centered>
      <form onSubmit={(event) => (event.preventDefault(), void reset())}>
        <PasswordField label={t("users.reset.password")} description={t("users.reset.passwordHelp")} value={password} error={save.error?.message} onChange={(event) => setPassword(event.currentTarget.value)} data-autofocus />
        <Group justify="flex-end" mt="lg">
          <Button variant="default" onClick={onClose}>
            {t("common:actions.cancel")}
          </Button>
          <Button type="submit" loading={save.busy} disabled={password === ""}>
            {t("users.reset.submit")}
          </Button>
        </Group>
      </form>
    </Modal>
  );
}

/** `/users` (administrators): every user with their role; add, change role, reset password, delete. */
export function UsersScreen() {
  const { t } = useTranslation(["auth", "common"]);
  const roleOptions = useRoleOptions();
  usePageTitle(t("users.title"));
  const me = useCurrentUser();
  const administers = useCan("administer");
  const users = usePolling((signal) => (administers ? usersApi.list(signal) : Promise.resolve([])), 0);
  const [confirm, setConfirm] = useState<ConfirmRequest>();
  const [resetting, setResetting] = useState<UserView>();

  if (!administers) {
    return (
      <>
        <PageHeader title={t("users.title")} description={t("users.descriptionShort")} />
        <Alert color="yellow">{t("users.needsAdministrator", { role: t(`common:roles.${me.RoleName}`) })}</Alert>
      </>
    );
  }

  async function changeRole(user: UserView, role: Role) {
    try {
      await usersApi.update(user.Id, { Role: role });
      notifications.show({ color: "green", message: t("users.roleChanged", { username: user.Username, role: t(`common:roles.${role}`) }) });
    } catch (failure) {
      notifications.show({ color: "red", title: t("users.roleNotChanged", { username: user.Username }), message: messageOf(failure), autoClose: false });
    }
    await users.refresh();
  }

  function askDelete(user: UserView) {
    const username = user.Username;
    const words = {
      title: t("users.delete.confirmTitle", { username }),
      message: t("users.delete.confirmMessage"),
      confirmLabel: t("users.delete.confirmLabel"),
      done: t("users.delete.done", { username }),
      failed: t("users.delete.failed", { username }),
    };
    setConfirm(removalRequest(words, () => usersApi.remove(user.Id), users.refresh));
  }

  return (
    <>
      <PageHeader title={t("users.title")} description={t("users.description")} />
      <NewUserForm onCreated={users.refresh} />
      <LoadError message={users.error} />
      {!users.data ? (
        users.error ? null : <PageLoader />
      ) : (
        <Paper withBorder radius="md">
          <Table verticalSpacing="sm" aria-label={t("users.title")}>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>{t("users.columns.username")}</Table.Th>
                <Table.Th w={360}>{t("users.columns.role")}</Table.Th>
                <Table.Th>{t("users.columns.created")}</Table.Th>
                <Table.Th w={260}>
                  <VisuallyHidden>{t("users.columns.actions")}</VisuallyHidden>
                </Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {users.data.map((user) => (
                <Table.Tr key={user.Id}>
                  <Table.Td fw={500}>
                    {user.Username}
                    {user.Id === me.Id && (
                      <Text span c="dimmed" size="sm">
                        {" "}
                        {t("users.you")}
                      </Text>
                    )}
                  </Table.Td>
                  <Table.Td>
                    <Select aria-label={t("users.roleOf", { username: user.Username })} data={roleOptions} value={user.RoleName} allowDeselect={false} onChange={(value) => value && value !== user.RoleName && void changeRole(user, value)} />
                  </Table.Td>
                  <Table.Td>{formatDateTime(user.CreatedAt * 1000)}</Table.Td>
                  <Table.Td>
                    <Group gap="xs" justify="flex-end">
                      <Button size="xs" variant="light" leftSection={<IconKey size={14} />} onClick={() => setResetting(user)}>
                        {t("users.reset.submit")}
                      </Button>
                      <Button size="xs" variant="light" color="red" leftSection={<IconTrash size={14} />} aria-label={t("users.delete.label", { username: user.Username })} onClick={() => askDelete(user)}>
                        {t("common:actions.delete")}
                      </Button>
                    </Group>
                  </Table.Td>
                </Table.Tr>
              ))}
              {users.data.length === 0 && <EmptyTableRow columns={4}>{t("users.empty")}</EmptyTableRow>}
            </Table.Tbody>
          </Table>
        </Paper>
      )}
      <ResetPasswordDialog user={resetting} onClose={() => setResetting(undefined)} />
      <ConfirmDialog request={confirm} onClose={() => setConfirm(undefined)} />
    </>
  );
}
