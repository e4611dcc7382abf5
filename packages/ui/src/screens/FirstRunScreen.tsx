import { Alert, Button, Code, Stack, TextInput } from "@mantine/core";
import { type FormEvent, useState } from "react";
import { Trans, useTranslation } from "react-i18next";
import { useNavigate } from "react-router";
import { createAdministrator } from "../api/auth.ts";
import { ApiError, messageOf } from "../api/client.ts";
import { AuthCard } from "../components/AuthCard.tsx";
import { PasswordField } from "../components/PasswordField.tsx";
import { usePageTitle } from "../hooks/use-page-title.ts";

/** `/init`: the first run creates the administrator, logs in as it and goes Home. */
export function FirstRunScreen() {
  const { t } = useTranslation("auth");
  usePageTitle(t("firstRun.pageTitle"));
  const navigate = useNavigate();
  const [setupToken, setSetupToken] = useState("");
  const [username, setUsername] = useState("admin");
  const [password, setPassword] = useState("");
  const [confirmation, setConfirmation] = useState("");
  const [error, setError] = useState<{ field?: string; message: string }>();
  const [busy, setBusy] = useState(false);
  const mismatch = confirmation !== "" && confirmation !== password;

  async function handleSubmit(event: FormEvent) {
    event.preventDefault();
    if (password !== confirmation) {
      setError({ field: "Confirm", message: t("firstRun.mismatch") });
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      await createAdministrator(username, password, setupToken);
      await navigate("/", { replace: true });
    } catch (failure) {
      if (failure instanceof ApiError && failure.status === 409) {
        await navigate("/login", { replace: true });
        return;
      }
      // The token's help text already says how to read it: under that field, the message alone.
      const tokenRefused = failure instanceof ApiError && failure.field === "SetupToken";
      setError({ ...(failure instanceof ApiError && failure.field ? { field: failure.field } : {}), message: tokenRefused ? failure.message : messageOf(failure) });
      setBusy(false);
    }
  }

  const fieldError = (field: string) => (error?.field === field ? error.message : undefined);
  const refused = { setupToken: fieldError("SetupToken"), username: fieldError("Username"), password: fieldError("Password"), confirm: mismatch ? t("firstRun.mismatch") : fieldError("Confirm") };
  return (
    <AuthCard title={t("firstRun.title")} description={t("firstRun.description")}>
      <form onSubmit={(event) => void handleSubmit(event)}>
        <Stack>
          <PasswordField
            label={t("firstRun.setupToken")}
            autoComplete="off"
            autoFocus
            required
            withAsterisk={false}
            value={setupToken}
            onChange={(event) => setSetupToken(event.currentTarget.value)}
            error={refused.setupToken}
            description={<Trans t={t} i18nKey="firstRun.setupTokenHelp" components={{ code: <Code /> }} />}
          />
          <TextInput label={t("fields.username")} autoComplete="username" required withAsterisk={false} value={username} onChange={(event) => setUsername(event.currentTarget.value)} error={refused.username} />
          <PasswordField label={t("fields.password")} autoComplete="new-password" required withAsterisk={false} value={password} onChange={(event) => setPassword(event.currentTarget.value)} error={refused.password} description={t("firstRun.passwordHelp")} />
          <PasswordField
            label={t("firstRun.confirm")}
            autoComplete="new-password"
            required
            withAsterisk={false}
            value={confirmation}
            onChange={(event) => setConfirmation(event.currentTarget.value)}
            error={refused.confirm}
          />
          {error && !["SetupToken", "Username", "Password", "Confirm"].includes(error.field ?? "") && (
            <Alert color="red" role="alert">
              {error.message}
            </Alert>
          )}
          <Button type="submit" loading={busy} fullWidth>
            {t("firstRun.submit")}
          </Button>
        </Stack>
      </form>
    </AuthCard>
  );
}
