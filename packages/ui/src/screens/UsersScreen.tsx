import { Alert, Button, Group, Modal, Paper, Select, Table, Text, TextInput, VisuallyHidden } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { type Role, roleLabels, roles } from "@pier/protocol";
import { IconKey, IconPlus, IconTrash } from "@tabler/icons-react";
import { useState } from "react";
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

/** The roles as a Select's options, with what each may do. */
export const roleOptions = roles.map((role) => ({
  value: role,
  label: { admin: "Administrator — everything", operator: "Operator — devices, stacks, jobs, containers", helpdesk: "Helpdesk — read-only and logs" }[role],
}));

function NewUserForm({ onCreated }: { onCreated: () => Promise<void> }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<Role>("helpdesk");
  const save = useFormSave();

  const create = () =>
    save.run(async () => {
      const user = await usersApi.create({ Username: username.trim(), Password: password, Role: role });
      notifications.show({ color: "green", message: `User ${user.Username} created (${roleLabels[user.RoleName]}).` });
      setUsername("");
      setPassword("");
      await onCreated();
    });

  return (
    <Paper withBorder radius="md" p="md" mb="md" component="form" aria-label="New user" onSubmit={(event) => (event.preventDefault(), void create())}>
      <Group align="flex-start">
        <TextInput label="Username" required value={username} maxLength={maxUsernameLength} error={save.fieldError("Username")} onChange={(event) => setUsername(event.currentTarget.value)} w={220} />
        <PasswordField label="Password" required description="At least 12 characters" value={password} error={save.fieldError("Password")} onChange={(event) => setPassword(event.currentTarget.value)} w={240} />
        <Select label="Role" data={roleOptions} value={role} allowDeselect={false} onChange={(value) => value && setRole(value)} w={340} />
        <Button type="submit" mt={25} leftSection={<IconPlus size={16} />} loading={save.busy} disabled={username.trim() === "" || password === ""}>
          Add user
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
  const reset = () =>
    save.run(async () => {
      if (!user) return;
      await usersApi.update(user.Id, { Password: password });
      notifications.show({ color: "green", message: `Password of ${user.Username} reset; their sessions ended.` });
      setPassword("");
      onClose();
    });
  return (
    <Modal opened={user !== undefined} onClose={onClose} title={`Reset the password of ${user?.Username ?? ""}`} centered>
      <form onSubmit={(event) => (event.preventDefault(), void reset())}>
        <PasswordField label="New password" description="At least 12 characters. The user's sessions end; tell them the new password." value={password} error={save.error?.message} onChange={(event) => setPassword(event.currentTarget.value)} data-autofocus />
        <Group justify="flex-end" mt="lg">
          <Button variant="default" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" loading={save.busy} disabled={password === ""}>
            Reset password
          </Button>
        </Group>
      </form>
    </Modal>
  );
}

/** `/users` (administrators): every user with their role; add, change role, reset password, delete. */
export function UsersScreen() {
  usePageTitle("Users");
  const me = useCurrentUser();
  const administers = useCan("administer");
  const users = usePolling((signal) => (administers ? usersApi.list(signal) : Promise.resolve([])), 0);
  const [confirm, setConfirm] = useState<ConfirmRequest>();
  const [resetting, setResetting] = useState<UserView>();

  if (!administers) {
    return (
      <>
        <PageHeader title="Users" description="Who can sign in, and what each may do." />
        <Alert color="yellow">Managing users needs the Administrator role; you act as {roleLabels[me.RoleName]}.</Alert>
      </>
    );
  }

  async function changeRole(user: UserView, role: Role) {
    try {
      await usersApi.update(user.Id, { Role: role });
      notifications.show({ color: "green", message: `${user.Username} is now ${roleLabels[role]}.` });
    } catch (failure) {
      notifications.show({ color: "red", title: `The role of ${user.Username} was not changed`, message: messageOf(failure), autoClose: false });
    }
    await users.refresh();
  }

  function askDelete(user: UserView) {
    setConfirm({
      title: `Delete ${user.Username}?`,
      message: "The user can no longer sign in; their sessions and access tokens stop working at once.",
      confirmLabel: "Delete user",
      onConfirm: async () => {
        try {
          await usersApi.remove(user.Id);
          notifications.show({ color: "green", message: `User ${user.Username} deleted.` });
        } catch (failure) {
          notifications.show({ color: "red", title: `${user.Username} was not deleted`, message: messageOf(failure), autoClose: false });
        }
        await users.refresh();
      },
    });
  }

  return (
    <>
      <PageHeader title="Users" description="Who can sign in, and what each may do: administrators everything; operators devices, stacks, jobs and containers; helpdesk reads and follows logs." />
      <NewUserForm onCreated={users.refresh} />
      <LoadError message={users.error} />
      {!users.data ? (
        users.error ? null : <PageLoader />
      ) : (
        <Paper withBorder radius="md">
          <Table verticalSpacing="sm" aria-label="Users">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Username</Table.Th>
                <Table.Th w={360}>Role</Table.Th>
                <Table.Th>Created</Table.Th>
                <Table.Th w={260}>
                  <VisuallyHidden>Actions</VisuallyHidden>
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
                        (you)
                      </Text>
                    )}
                  </Table.Td>
                  <Table.Td>
                    <Select aria-label={`Role of ${user.Username}`} data={roleOptions} value={user.RoleName} allowDeselect={false} onChange={(value) => value && value !== user.RoleName && void changeRole(user, value)} />
                  </Table.Td>
                  <Table.Td>{formatDateTime(user.CreatedAt * 1000)}</Table.Td>
                  <Table.Td>
                    <Group gap="xs" justify="flex-end">
                      <Button size="xs" variant="light" leftSection={<IconKey size={14} />} onClick={() => setResetting(user)}>
                        Reset password
                      </Button>
                      <Button size="xs" variant="light" color="red" leftSection={<IconTrash size={14} />} aria-label={`Delete ${user.Username}`} onClick={() => askDelete(user)}>
                        Delete
                      </Button>
                    </Group>
                  </Table.Td>
                </Table.Tr>
              ))}
              {users.data.length === 0 && <EmptyTableRow columns={4}>No users</EmptyTableRow>}
            </Table.Tbody>
          </Table>
        </Paper>
      )}
      <ResetPasswordDialog user={resetting} onClose={() => setResetting(undefined)} />
      <ConfirmDialog request={confirm} onClose={() => setConfirm(undefined)} />
    </>
  );
}
