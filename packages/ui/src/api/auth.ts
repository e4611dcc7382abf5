import { i18n } from "../i18n/index.ts";
import { ApiError, api, session } from "./client.ts";

/**
 * Logs in: the server sets the session cookie every tab of this browser shares.
 *
 * @example
 * await logIn("admin", "correct horse battery staple");
 */
export async function logIn(username: string, password: string): Promise<void> {
  await api<{ jwt: string }>("POST", "/api/auth", { body: { Username: username, Password: password }, allowUnauthorized: true });
}

/**
 * Creates the first administrator with the one-time setup token from the server's
 * `DATA/admin-setup-token`, then logs in as it. A 403 (no token, or another one) is an `ApiError`
 * whose `field` is `SetupToken`.
 */
export async function createAdministrator(username: string, password: string, setupToken: string): Promise<void> {
  try {
    await api("POST", "/api/users/admin/init", { body: { Username: username, Password: password, SetupToken: setupToken.trim() } });
  } catch (error) {
    if (error instanceof ApiError && error.status === 409) administratorKnown = true;
    if (error instanceof ApiError && error.status === 403) throw new ApiError(403, error.message, "SetupToken", error.fix, error.code);
    throw error;
  }
  administratorKnown = true;
  await logIn(username, password);
}

/** Ends the session on the server (its token is refused from then on) and here; a server failure does not keep anyone logged in. */
export async function logOut(): Promise<void> {
  try {
    await api("POST", "/api/auth/logout", { allowUnauthorized: true });
  } catch {
    // The session is forgotten below either way; its token expires on its own.
  } finally {
    session.end();
  }
}

// The answer of the last check, asked once per page load; creating the administrator here, or
// being told one exists, updates it.
let administratorKnown: boolean | undefined;

/**
 * Whether the first administrator exists yet. Asked from `GET /api/system/status`
 * (`AdminExists`), which answers 200 either way: `GET /api/users/admin/check` says "none" with a
 * 404, which the browser logs as a console error. Servers without `AdminExists` are asked there.
 */
export async function administratorExists(): Promise<boolean> {
  if (administratorKnown !== undefined) return administratorKnown;
  const status = await fetch("/api/system/status", { headers: { Accept: "application/json" } });
  const body = status.ok ? ((await status.json()) as { AdminExists?: unknown }) : {};
  if (typeof body.AdminExists === "boolean") {
    administratorKnown = body.AdminExists;
    return administratorKnown;
  }
  const response = await fetch("/api/users/admin/check", { headers: { Accept: "application/json" } });
  if (response.status !== 204 && response.status !== 404) throw new Error(i18n.t("auth:firstRun.adminCheckFailed", { status: response.status }));
  administratorKnown = response.status === 204;
  return administratorKnown;
}
