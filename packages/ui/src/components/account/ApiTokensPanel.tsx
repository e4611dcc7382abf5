import { ActionIcon, Alert, Badge, Button, Code, Group, Paper, Select, Table, Text, TextInput, Title, Tooltip, VisuallyHidden } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { type Role, roleLabels, roleWithin, roles } from "@pier/protocol";
import { IconKey, IconTrash } from "@tabler/icons-react";
import { useState } from "react";
import { messageOf } from "../../api/client.ts";
import { type ApiKeyView, type UserView, maxTokenDescriptionLength, tokenLifetimes, usersApi } from "../../api/users.ts";
import { formatAgo, formatDateTime } from "../../format.ts";
import { useFormSave } from "../../hooks/use-form-save.ts";
import { usePolling } from "../../hooks/use-polling.ts";
import { ConfirmDialog, type ConfirmRequest } from "../ConfirmDialog.tsx";
import { CopyTextButton } from "../CopyTextButton.tsx";
import { EmptyTableRow } from "../EmptyTableRow.tsx";
import { LoadError } from "../LoadError.tsx";

function NewTokenForm({ user, onCreated }: { user: UserView; onCreated: (raw: string) => Promise<void> }) {
  const [description, setDescription] = useState("");
  const [scope, setScope] = useState<Role>(user.RoleName);
  const [days, setDays] = useState<string>("90");
  const save = useFormSave();
  const scopes = roles.filter((role) => roleWithin(role, user.RoleName)).map((role) => ({ value: role, label: roleLabels[role] }));

  const create = () =>
    save.run(async () => {
      const created = await usersApi.createToken(user.Id, { description: description.trim(), scope, expiresInDays: Number(days) });
      setDescription("");
      await onCreated(created.rawAPIKey);
    });

  return (
    <Group align="flex-start" component="form" aria-label="New access token" onSubmit={(event) => (event.preventDefault(), void create())} mb="sm">
      <TextInput label="Description" placeholder="e.g. CI pipeline" required value={description} maxLength={maxTokenDescriptionLength} error={save.fieldError("description") ?? (save.error && !save.error.field ? save.error.message : undefined)} onChange={(event) => setDescription(event.currentTarget.value)} w={260} />
      <Select label="Scope" description="At most your role" data={scopes} value={scope} allowDeselect={false} onChange={(value) => value && setScope(value)} w={180} error={save.fieldError("scope")} />
      <Select label="Expires in" description="At most a year" data={tokenLifetimes.map((d) => ({ value: String(d), label: `${d} days` }))} value={days} allowDeselect={false} onChange={(value) => value && setDays(value)} w={140} />
      <Button type="submit" mt={45} leftSection={<IconKey size={16} />} loading={save.busy} disabled={description.trim() === ""}>
        Create token
      </Button>
    </Group>
  );
}

/** The signed-in user's access tokens: create one with a scope and an expiry (its value shown once), list, revoke. */
export function ApiTokensPanel({ user }: { user: UserView }) {
  const tokens = usePolling((signal) => usersApi.tokens(user.Id, signal), 0, String(user.Id));
  const [raw, setRaw] = useState<string>();
  const [confirm, setConfirm] = useState<ConfirmRequest>();

  function askRevoke(token: ApiKeyView) {
    setConfirm({
      title: `Revoke ${token.description}?`,
      message: `Requests sending ${token.prefix}… are refused from now on.`,
      confirmLabel: "Revoke token",
      onConfirm: async () => {
        try {
          await usersApi.revokeToken(user.Id, token.id);
          notifications.show({ color: "green", message: `Token ${token.description} revoked.` });
        } catch (failure) {
          notifications.show({ color: "red", title: "The token was not revoked", message: messageOf(failure), autoClose: false });
        }
        await tokens.refresh();
      },
    });
  }

  const now = Date.now() / 1000;
  return (
    <Paper withBorder radius="md" p="md">
      <Title order={2} size="h4" mb={4}>
        Access tokens
      </Title>
      <Text size="sm" c="dimmed" mb="sm">
        For scripts and automation: send the token as the X-API-Key header. A token acts with its scope, never more than your role.
      </Text>
      <NewTokenForm
        user={user}
        onCreated={async (value) => {
          setRaw(value);
          await tokens.refresh();
        }}
      />
      {raw && (
        <Alert color="green" mb="sm" title="Copy the token now: it is shown only once" withCloseButton onClose={() => setRaw(undefined)}>
          <Group gap="sm">
            <Code data-testid="new-token">{raw}</Code>
            <CopyTextButton value={raw} label="Copy the token" />
          </Group>
        </Alert>
      )}
      <LoadError message={tokens.error} />
      <Table verticalSpacing="xs" aria-label="Access tokens">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Description</Table.Th>
            <Table.Th>Token</Table.Th>
            <Table.Th>Scope</Table.Th>
            <Table.Th>Created</Table.Th>
            <Table.Th>Expires</Table.Th>
            <Table.Th>Last used</Table.Th>
            <Table.Th w={50}>
                  <VisuallyHidden>Actions</VisuallyHidden>
                </Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(tokens.data ?? []).map((token) => (
            <Table.Tr key={token.id}>
              <Table.Td fw={500}>{token.description}</Table.Td>
              <Table.Td>
                <Code>{token.prefix}…</Code>
              </Table.Td>
              <Table.Td>
                <Badge variant="light">{roleLabels[token.scope]}</Badge>
              </Table.Td>
              <Table.Td>{formatDateTime(token.dateCreated * 1000)}</Table.Td>
              <Table.Td>{token.expiresAt <= now ? <Badge color="red">expired</Badge> : formatDateTime(token.expiresAt * 1000)}</Table.Td>
              <Table.Td>{token.lastUsed === 0 ? "never" : formatAgo(token.lastUsed)}</Table.Td>
              <Table.Td>
                <Tooltip label={`Revoke ${token.description}`}>
                  <ActionIcon variant="subtle" color="red" aria-label={`Revoke ${token.description}`} onClick={() => askRevoke(token)}>
                    <IconTrash size={16} />
                  </ActionIcon>
                </Tooltip>
              </Table.Td>
            </Table.Tr>
          ))}
          {tokens.data?.length === 0 && <EmptyTableRow columns={7}>No access tokens</EmptyTableRow>}
        </Table.Tbody>
      </Table>
      <ConfirmDialog request={confirm} onClose={() => setConfirm(undefined)} />
    </Paper>
  );
}
