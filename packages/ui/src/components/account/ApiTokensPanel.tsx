import { ActionIcon, Alert, Badge, Button, Code, Group, Paper, Select, Table, Text, TextInput, Title, Tooltip, VisuallyHidden } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { type Role, roleWithin, roles } from "@pier/protocol";
import { IconKey, IconTrash } from "@tabler/icons-react";
import { useState } from "react";
import { Trans, useTranslation } from "react-i18next";
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
  const { t } = useTranslation(["auth", "common"]);
  const scopes = roles.filter((role) => roleWithin(role, user.RoleName)).map((role) => ({ value: role, label: t(`common:roles.${role}`) }));

  // The server names the field it refused; a refusal of no field shows under the description.
  const refused = { description: save.fieldError("description") ?? (save.error && !save.error.field ? save.error.message : undefined), scope: save.fieldError("scope") };
  const create = () =>
    save.run(async () => {
      const created = await usersApi.createToken(user.Id, { description: description.trim(), scope, expiresInDays: Number(days) });
      setDescription("");
      await onCreated(created.rawAPIKey);
    });

  return (
    <Group align="flex-start" component="form" aria-label={t("tokens.form.label")} onSubmit={(event) => (event.preventDefault(), void create())} mb="sm">
      <TextInput label={t("tokens.form.description")} placeholder={t("tokens.form.descriptionPlaceholder")} required value={description} maxLength={maxTokenDescriptionLength} error={refused.description} onChange={(event) => setDescription(event.currentTarget.value)} w={260} />
      <Select label={t("tokens.form.scope")} description={t("tokens.form.scopeHelp")} data={scopes} value={scope} allowDeselect={false} onChange={(value) => value && setScope(value)} w={180} error={refused.scope} />
      <Select label={t("tokens.form.expiresIn")} description={t("tokens.form.expiresInHelp")} data={tokenLifetimes.map((d) => ({ value: String(d), label: t("tokens.form.days", { count: d }) }))} value={days} allowDeselect={false} onChange={(value) => value && setDays(value)} w={140} />
      <Button type="submit" mt={45} leftSection={<IconKey size={16} />} loading={save.busy} disabled={description.trim() === ""}>
        {t("tokens.form.create")}
      </Button>
    </Group>
  );
}

/** The signed-in user's access tokens: create one with a scope and an expiry (its value shown once), list, revoke. */
export function ApiTokensPanel({ user }: { user: UserView }) {
  const tokens = usePolling((signal) => usersApi.tokens(user.Id, signal), 0, String(user.Id));
  const [raw, setRaw] = useState<string>();
  const [confirm, setConfirm] = useState<ConfirmRequest>();
  const { t } = useTranslation(["auth", "common"]);

  function askRevoke(token: ApiKeyView) {
    setConfirm({
      title: t("tokens.revoke.confirmTitle", { description: token.description }),
      message: t("tokens.revoke.confirmMessage", { prefix: token.prefix }),
      confirmLabel: t("tokens.revoke.confirmLabel"),
      onConfirm: async () => {
        try {
          await usersApi.revokeToken(user.Id, token.id);
          notifications.show({ color: "green", message: t("tokens.revoke.done", { description: token.description }) });
        } catch (failure) {
          notifications.show({ color: "red", title: t("tokens.revoke.failed"), message: messageOf(failure), autoClose: false });
        }
        await tokens.refresh();
      },
    });
  }

  const now = Date.now() / 1000;
  return (
    <Paper withBorder radius="md" p="md">
      <Title order={2} size="h4" mb={4}>
        {t("tokens.title")}
      </Title>
      <Text size="sm" c="dimmed" mb="sm">
        <Trans t={t} i18nKey="tokens.intro" components={{ code: <Code /> }} />
      </Text>
      <NewTokenForm
        user={user}
        onCreated={async (value) => {
          setRaw(value);
          await tokens.refresh();
        }}
      />
      {raw && (
        <Alert color="green" mb="sm" title={t("tokens.created.title")} withCloseButton onClose={() => setRaw(undefined)}>
          <Group gap="sm">
            <Code data-testid="new-token">{raw}</Code>
            <CopyTextButton value={raw} label={t("tokens.created.copy")} />
          </Group>
        </Alert>
      )}
      <LoadError message={tokens.error} />
      <Table verticalSpacing="xs" aria-label={t("tokens.title")}>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>{t("tokens.columns.description")}</Table.Th>
            <Table.Th>{t("tokens.columns.token")}</Table.Th>
            <Table.Th>{t("tokens.columns.scope")}</Table.Th>
            <Table.Th>{t("tokens.columns.created")}</Table.Th>
            <Table.Th>{t("tokens.columns.expires")}</Table.Th>
            <Table.Th>{t("tokens.columns.lastUsed")}</Table.Th>
            <Table.Th w={50}>
              <VisuallyHidden>{t("tokens.columns.actions")}</VisuallyHidden>
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
                <Badge variant="light">{t(`common:roles.${token.scope}`)}</Badge>
              </Table.Td>
              <Table.Td>{formatDateTime(token.dateCreated * 1000)}</Table.Td>
              <Table.Td>{token.expiresAt <= now ? <Badge color="red">{t("tokens.expired")}</Badge> : formatDateTime(token.expiresAt * 1000)}</Table.Td>
              <Table.Td>{token.lastUsed === 0 ? t("common:values.never") : formatAgo(token.lastUsed)}</Table.Td>
              <Table.Td>
                <Tooltip label={t("tokens.revoke.label", { description: token.description })}>
                  <ActionIcon variant="subtle" color="red" aria-label={t("tokens.revoke.label", { description: token.description })} onClick={() => askRevoke(token)}>
                    <IconTrash size={16} />
                  </ActionIcon>
                </Tooltip>
              </Table.Td>
            </Table.Tr>
          ))}
          {tokens.data?.length === 0 && <EmptyTableRow columns={7}>{t("tokens.empty")}</EmptyTableRow>}
        </Table.Tbody>
      </Table>
      <ConfirmDialog request={confirm} onClose={() => setConfirm(undefined)} />
    </Paper>
  );
}
