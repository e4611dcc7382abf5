import { Alert, Button, Stack, TextInput } from "@mantine/core";
import { type FormEvent, useState } from "react";
import { useNavigate } from "react-router";
import { createAdministrator } from "../api/auth.ts";
import { ApiError, messageOf } from "../api/client.ts";
import { AuthCard } from "../components/AuthCard.tsx";
import { PasswordField } from "../components/PasswordField.tsx";
import { usePageTitle } from "../hooks/use-page-title.ts";

/** `/init`: the first run creates the administrator, logs in as it and goes Home. */
export function FirstRunScreen() {
  usePageTitle("First run");
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
      setError({ field: "Confirm", message: "The two passwords differ." });
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
  return (
    <AuthCard title="Create the administrator" description="This is the first start of this Pier server: prove you run it with its setup token, then choose the administrator's name and password.">
      <form onSubmit={(event) => void handleSubmit(event)}>
        <Stack>
          <PasswordField
            label="Setup token"
            autoComplete="off"
            autoFocus
            required
            withAsterisk={false}
            value={setupToken}
            onChange={(event) => setSetupToken(event.currentTarget.value)}
            error={fieldError("SetupToken")}
            description="A one-time token the server wrote to admin-setup-token in its data directory (--data; /data in the pier-server image), e.g. cat pier-data/admin-setup-token. Its start-up log names the path."
          />
          <TextInput label="Username" autoComplete="username" required withAsterisk={false} value={username} onChange={(event) => setUsername(event.currentTarget.value)} error={fieldError("Username")} />
          <PasswordField label="Password" autoComplete="new-password" required withAsterisk={false} value={password} onChange={(event) => setPassword(event.currentTarget.value)} error={fieldError("Password")} description="At least 12 characters." />
          <PasswordField
            label="Confirm password"
            autoComplete="new-password"
            required
            withAsterisk={false}
            value={confirmation}
            onChange={(event) => setConfirmation(event.currentTarget.value)}
            error={mismatch ? "The two passwords differ." : fieldError("Confirm")}
          />
          {error && !["SetupToken", "Username", "Password", "Confirm"].includes(error.field ?? "") && (
            <Alert color="red" role="alert">
              {error.message}
            </Alert>
          )}
          <Button type="submit" loading={busy} fullWidth>
            Create administrator
          </Button>
        </Stack>
      </form>
    </AuthCard>
  );
}
