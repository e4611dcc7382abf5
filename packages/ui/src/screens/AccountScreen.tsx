import { Button, Group, Paper, Stack, Text, Title } from "@mantine/core";
import { IconLogout } from "@tabler/icons-react";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { useNavigate } from "react-router";
import { session } from "../api/client.ts";
import { usersApi } from "../api/users.ts";
import { ApiTokensPanel } from "../components/account/ApiTokensPanel.tsx";
import { ChangePasswordForm } from "../components/account/ChangePasswordForm.tsx";
import { ConfirmDialog, type ConfirmRequest } from "../components/ConfirmDialog.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { useCurrentUser } from "../hooks/use-current-user.ts";
import { usePageTitle } from "../hooks/use-page-title.ts";

/** `/account` (everyone): who you are, change your password, end all your sessions, your access tokens. */
export function AccountScreen() {
  const { t } = useTranslation(["auth", "common"]);
  usePageTitle(t("account.title"));
  const user = useCurrentUser();
  const navigate = useNavigate();
  const [confirm, setConfirm] = useState<ConfirmRequest>();

  function askEndSessions() {
    setConfirm({
      title: t("account.sessions.confirmTitle"),
      message: t("account.sessions.confirmMessage"),
      confirmLabel: t("account.sessions.endAll"),
      onConfirm: async () => {
        await usersApi.endSessions(user.Id);
        session.end();
        await navigate("/login", { replace: true });
      },
    });
  }

  return (
    <>
      <PageHeader title={t("account.title")} description={t("account.signedInAs", { username: user.Username, role: t(`common:roles.${user.RoleName}`) })} />
      <Stack gap="md">
        <ChangePasswordForm user={user} />
        <Paper withBorder radius="md" p="md">
          <Title order={2} size="h4" mb={4}>
            {t("account.sessions.title")}
          </Title>
          <Group justify="space-between">
            <Text size="sm" c="dimmed">
              {t("account.sessions.hint")}
            </Text>
            <Button color="red" variant="light" leftSection={<IconLogout size={16} />} onClick={askEndSessions}>
              {t("account.sessions.endAll")}
            </Button>
          </Group>
        </Paper>
        <ApiTokensPanel user={user} />
      </Stack>
      <ConfirmDialog request={confirm} onClose={() => setConfirm(undefined)} />
    </>
  );
}
