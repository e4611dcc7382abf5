import { Button, Group, Paper, Stack, Text, Title } from "@mantine/core";
import { roleLabels } from "@pier/protocol";
import { IconLogout } from "@tabler/icons-react";
import { useState } from "react";
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
  usePageTitle("Account");
  const user = useCurrentUser();
  const navigate = useNavigate();
  const [confirm, setConfirm] = useState<ConfirmRequest>();

  function askEndSessions() {
    setConfirm({
      title: "End all your sessions?",
      message: "Every browser signed in as you, this one included, is signed out on every server replica. Access tokens keep working; revoke them below.",
      confirmLabel: "End all sessions",
      onConfirm: async () => {
        await usersApi.endSessions(user.Id);
        session.end();
        await navigate("/login", { replace: true });
      },
    });
  }

  return (
    <>
      <PageHeader title="Account" description={`Signed in as ${user.Username}, ${roleLabels[user.RoleName]}.`} />
      <Stack gap="md">
        <ChangePasswordForm user={user} />
        <Paper withBorder radius="md" p="md">
          <Title order={2} size="h4" mb={4}>
            Sessions
          </Title>
          <Group justify="space-between">
            <Text size="sm" c="dimmed">
              Signed in somewhere you should not be, or lost a device? End every session of your account.
            </Text>
            <Button color="red" variant="light" leftSection={<IconLogout size={16} />} onClick={askEndSessions}>
              End all sessions
            </Button>
          </Group>
        </Paper>
        <ApiTokensPanel user={user} />
      </Stack>
      <ConfirmDialog request={confirm} onClose={() => setConfirm(undefined)} />
    </>
  );
}
