import { Alert, Button, Paper, Stack, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useState } from "react";
import { useTranslation } from "react-i18next";
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
  const { t } = useTranslation("auth");

  const refused = { current: save.fieldError("Password"), next: save.fieldError("NewPassword") };
  const change = () =>
    save.run(async () => {
      await usersApi.changePassword(user.Id, { Password: current, NewPassword: next });
      await logIn(user.Username, next);
      setCurrent("");
      setNext("");
      notifications.show({ color: "green", message: t("account.changePassword.changed") });
    });

  return (
    <Paper withBorder radius="md" p="md" component="form" aria-label={t("account.changePassword.title")} onSubmit={(event) => (event.preventDefault(), void change())}>
      <Title order={2} size="h4" mb="sm">
        {t("account.changePassword.title")}
      </Title>
      <Stack gap="sm" maw={360}>
        <PasswordField label={t("account.changePassword.current")} required autoComplete="current-password" value={current} error={refused.current} onChange={(event) => setCurrent(event.currentTarget.value)} />
        <PasswordField label={t("account.changePassword.next")} required autoComplete="new-password" description={t("account.changePassword.nextHelp")} value={next} error={refused.next} onChange={(event) => setNext(event.currentTarget.value)} />
        {save.error && !save.error.field && <Alert color="red">{save.error.message}</Alert>}
        <Button type="submit" loading={save.busy} disabled={current === "" || next === ""} w="fit-content">
          {t("account.changePassword.title")}
        </Button>
      </Stack>
    </Paper>
  );
}
