import { Alert, Button, Paper, Stack, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useState } from "react";
import { logIn } from "../../api/auth.ts";
import { usersApi } from "../../api/users.ts";
import { useFormSave } from "../../hooks/use-form-save.ts";
import { PasswordField } from "../PasswordField.tsx";

/**
 * Changes the signed-in user's password (the current one is required). The server ends every
 * session of the user; this tab signs in again with the new password, the others must.
 */
export function ChangePasswordForm({ user }: { user: { Id: number; Username: string } }) {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const save = useFormSave();

  const change = () =>
    save.run(async () => {
      await usersApi.changePassword(user.Id, { Password: current, NewPassword: next });
      await logIn(user.Username, next);
      setCurrent("");
      setNext("");
      notifications.show({ color: "green", message: "Password changed. Your other sessions have ended." });
    });

  return (
    <Paper withBorder radius="md" p="md" component="form" aria-label="Change password" onSubmit={(event) => (event.preventDefault(), void change())}>
      <Title order={2} size="h4" mb="sm">
        Change password
      </Title>
      <Stack gap="sm" maw={360}>
        <PasswordField label="Current password" required autoComplete="current-password" value={current} error={save.fieldError("Password")} onChange={(event) => setCurrent(event.currentTarget.value)} />
        <PasswordField label="New password" required autoComplete="new-password" description="At least 12 characters. Your other sessions end." value={next} error={save.fieldError("NewPassword")} onChange={(event) => setNext(event.currentTarget.value)} />
        {save.error && !save.error.field && <Alert color="red">{save.error.message}</Alert>}
        <Button type="submit" loading={save.busy} disabled={current === "" || next === ""} w="fit-content">
          Change password
        </Button>
      </Stack>
    </Paper>
  );
}
