import { Alert, Button, Stack, TextInput } from "@mantine/core";
import { type FormEvent, useState } from "react";
import { useTranslation } from "react-i18next";
import { useNavigate } from "react-router";
import { logIn } from "../api/auth.ts";
import { messageOf } from "../api/client.ts";
import { AuthCard } from "../components/AuthCard.tsx";
import { PasswordField } from "../components/PasswordField.tsx";
import { usePageTitle } from "../hooks/use-page-title.ts";
import { returnPathOf } from "../return-path.ts";

/** `/login`: user name and password → a session, then Home. */
export function LoginScreen() {
  const { t } = useTranslation("auth");
  usePageTitle(t("login.title"));
  const navigate = useNavigate();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  async function handleSubmit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await logIn(username, password);
      await navigate(returnPathOf(window.location.search), { replace: true });
    } catch (failure) {
      setError(messageOf(failure));
      setBusy(false);
    }
  }

  return (
    <AuthCard title={t("login.title")} description={t("login.description")}>
      <form onSubmit={(event) => void handleSubmit(event)}>
        <Stack>
          <TextInput label={t("login.username")} autoComplete="username" required withAsterisk={false} value={username} onChange={(event) => setUsername(event.currentTarget.value)} data-autofocus autoFocus />
          <PasswordField label={t("login.password")} autoComplete="current-password" required withAsterisk={false} value={password} onChange={(event) => setPassword(event.currentTarget.value)} />
          {error && (
            <Alert color="red" role="alert">
              {error}
            </Alert>
          )}
          <Button type="submit" loading={busy} fullWidth>
            {t("login.submit")}
          </Button>
        </Stack>
      </form>
    </AuthCard>
  );
}
