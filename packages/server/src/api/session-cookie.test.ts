import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../server.ts";
import { type TempDir, tempDir } from "../store/temp-dir.testkit.ts";
import { startAdminServer } from "./admin-server.testkit.ts";
import type { ApiAnswer, ApiClient } from "./api-client.testkit.ts";
import { csrfCookieName, csrfTokenOf, sessionCookieName } from "./session-cookie.ts";

const password = "correct horse battery staple";

/** The `Set-Cookie` values of an answer, by cookie name. */
function setCookies(answer: ApiAnswer): Map<string, string> {
  const values = answer.headers["set-cookie"];
  return new Map((Array.isArray(values) ? values : []).map((value) => [value.slice(0, value.indexOf("=")), value]));
}

function cookieValue(setCookie: string | undefined): string {
  return /^[^=]+=([^;]*)/.exec(setCookie ?? "")?.[1] ?? "";
}

/** The web UI's session in an HttpOnly cookie with a CSRF token (docs/security.md "Browser sessions"), on a real server. */
describe("the browser session cookie", () => {
  let dir: TempDir;
  let server: RunningServer;
  let api: ApiClient;
  let cookie: string;
  let csrf: string;

  beforeAll(async () => {
    dir = tempDir("session-cookie");
    ({ server, api } = await startAdminServer(dir, password));
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await dir?.[Symbol.asyncDispose]();
  });

  it("is set at login: the JWT HttpOnly, its CSRF token readable, both __Host-, Secure, SameSite=Strict, 8 h", async () => {
    const login = await api.call("POST", "/api/auth", { body: { Username: "admin", Password: password }, token: null });
    expect(login.status).toBe(200);
    const cookies = setCookies(login);
    const session = cookies.get(sessionCookieName);
    const token = cookies.get(csrfCookieName);
    expect(session).toBe(`${sessionCookieName}=${String(login.json["jwt"])}; Path=/; Max-Age=28800; Secure; HttpOnly; SameSite=Strict`);
    expect(token).toBe(`${csrfCookieName}=${csrfTokenOf(String(login.json["jwt"]))}; Path=/; Max-Age=28800; Secure; SameSite=Strict`);
    cookie = `${sessionCookieName}=${cookieValue(session)}; ${csrfCookieName}=${cookieValue(token)}`;
    csrf = cookieValue(token);
  });

  it("authenticates a read by the cookie alone", async () => {
    expect(cookie).toContain(sessionCookieName);
    const answer = await api.call("GET", "/api/endpoints", { token: null, headers: { cookie } });
    expect(answer.status, answer.text).toBe(200);
    expect((await api.call("GET", "/api/endpoints", { token: null })).status).toBe(401);
  });

  it("refuses a change carried by the cookie without its session's CSRF token (403), and takes it with the token", async () => {
    const body = { Name: "made-by-cookie" };
    const missing = await api.call("POST", "/api/endpoints", { token: null, body, headers: { cookie } });
    expect(missing.status).toBe(403);
    expect(missing.json).toMatchObject({ code: "forbidden", message: expect.stringContaining("CSRF token") as unknown, fix: expect.stringContaining(csrfCookieName) as unknown });
    // Another session's token (a cookie planted from elsewhere) does not match this session.
    const planted = await api.call("POST", "/api/endpoints", { token: null, body, headers: { cookie, "x-csrf-token": csrfTokenOf("another.jwt.value") } });
    expect(planted.status).toBe(403);
    expect((await api.call("GET", "/api/endpoints?search=made-by-cookie")).json).toEqual([]);
    const made = await api.call("POST", "/api/endpoints", { token: null, body, headers: { cookie, "x-csrf-token": csrf } });
    expect(made.status, made.text).toBe(200);
    expect(made.json["Name"]).toBe("made-by-cookie");
  });

  it("is cleared at logout, and the JWT it carried is refused from then on", async () => {
    const logout = await api.call("POST", "/api/auth/logout", { token: null, headers: { cookie, "x-csrf-token": csrf } });
    expect(logout.status).toBe(204);
    const cleared = setCookies(logout);
    expect(cleared.get(sessionCookieName)).toMatch(/^__Host-pier_session=; Path=\/; Max-Age=0; Secure; HttpOnly; SameSite=Strict$/);
    expect(cleared.get(csrfCookieName)).toMatch(/^__Host-pier_csrf=; Path=\/; Max-Age=0;/);
    const after = await api.call("GET", "/api/endpoints", { token: null, headers: { cookie } });
    expect(after.status).toBe(401);
  });

  it("ignores a Cookie header over 8 KiB (no session read from it)", async () => {
    const answer = await api.call("GET", "/api/endpoints", { token: null, headers: { cookie: `${cookie}; filler=${"x".repeat(8192)}` } });
    expect(answer.status).toBe(401);
  });
});
