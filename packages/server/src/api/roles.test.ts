import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateApiToken } from "../auth/index.ts";
import type { RunningServer } from "../server.ts";
import { type TempDir, tempDir } from "../store/temp-dir.testkit.ts";
import { startAdminServer } from "./admin-server.testkit.ts";
import type { ApiAnswer, ApiClient } from "./api-client.testkit.ts";

const password = "correct horse battery staple";
const operatorPassword = "operator horse battery staple";
const helpdeskPassword = "helpdesk horse battery staple";

// Each login from its own loopback address: the login throttle allows 5 a minute per address.
let lastAddress = 10;
const loginSource = () => ({ localAddress: `127.0.0.${++lastAddress}` });

/** The refusal a role gets: 403 in the one error shape, naming the role needed and the fix. */
function expectForbidden(answer: ApiAnswer, needed: "Operator" | "Administrator"): void {
  expect(answer.status, answer.text).toBe(403);
  expect(answer.json).toMatchObject({ code: "forbidden", message: expect.stringContaining(`needs the ${needed} role`) as unknown, fix: expect.stringContaining("administrator") as unknown });
}

describe("users and roles through the API", () => {
  let dir: TempDir;
  let server: RunningServer;
  let api: ApiClient;
  let admin: string;
  let operator: { id: number; jwt: string };
  let helpdesk: { id: number; jwt: string };

  async function createUser(username: string, userPassword: string, role: string): Promise<{ id: number; jwt: string }> {
    const created = await api.call("POST", "/api/users", { body: { Username: username, Password: userPassword, Role: role }, token: admin });
    expect(created.status, created.text).toBe(200);
    expect(created.json).toMatchObject({ Username: username, RoleName: role });
    const login = await api.call("POST", "/api/auth", { body: { Username: username, Password: userPassword }, token: null, ...loginSource() });
    expect(login.status, login.text).toBe(200);
    return { id: Number(created.json["Id"]), jwt: String(login.json["jwt"]) };
  }

  beforeAll(async () => {
    dir = tempDir("roles");
    ({ server, api } = await startAdminServer(dir, password));
    admin = await api.login("admin", password);
    operator = await createUser("olga", operatorPassword, "operator");
    helpdesk = await createUser("hugo", helpdeskPassword, "helpdesk");
  });
  afterAll(async () => {
    await server.close();
    await dir[Symbol.asyncDispose]();
  });

  it("tells each user their role (GET /api/users/me)", async () => {
    const me = await api.call("GET", "/api/users/me", { token: helpdesk.jwt });
    expect(me.status).toBe(200);
    expect(me.json).toMatchObject({ Id: helpdesk.id, Username: "hugo", Role: 3, RoleName: "helpdesk" });
    expect(me.text).not.toContain("scrypt");
  });

  it("lets helpdesk read but not change, operators change devices and fleet but not settings, users or PKI", async () => {
    for (const path of ["/api/endpoints", "/api/edge_groups", "/api/edge_stacks", "/api/edge_jobs", "/api/tags"]) {
      expect((await api.call("GET", path, { token: helpdesk.jwt })).status, path).toBe(200);
    }
    expectForbidden(await api.call("POST", "/api/tags", { body: { Name: "by-helpdesk" }, token: helpdesk.jwt }), "Operator");
    expectForbidden(await api.call("POST", "/api/endpoints/edge/generate-key", { token: helpdesk.jwt }), "Operator");
    expectForbidden(await api.call("DELETE", "/api/edge_stacks/1", { token: helpdesk.jwt }), "Operator");
    expectForbidden(await api.call("GET", "/api/settings", { token: helpdesk.jwt }), "Administrator");

    const tag = await api.call("POST", "/api/tags", { body: { Name: "by-operator" }, token: operator.jwt });
    expect(tag.status, tag.text).toBe(200);
    expectForbidden(await api.call("GET", "/api/settings", { token: operator.jwt }), "Administrator");
    expectForbidden(await api.call("PUT", "/api/settings/edge/mtls", { body: {}, token: operator.jwt }), "Administrator");
    expectForbidden(await api.call("POST", "/api/pki/rotation", { body: {}, token: operator.jwt }), "Administrator");
    expectForbidden(await api.call("GET", "/api/pki/device-certificates", { token: operator.jwt }), "Administrator");
    expectForbidden(await api.call("GET", "/api/users", { token: operator.jwt }), "Administrator");
    expectForbidden(await api.call("POST", "/api/users", { body: { Username: "x", Password: password, Role: "admin" }, token: operator.jwt }), "Administrator");
    expectForbidden(await api.call("PUT", `/api/users/${operator.id}`, { body: { Role: "admin" }, token: operator.jwt }), "Administrator");

    expect((await api.call("GET", "/api/settings", { token: admin })).status).toBe(200);
  });

  it("refuses helpdesk a container action in the Docker proxy before looking at the environment", async () => {
    // Environment 999 does not exist: helpdesk learns nothing about it, an operator is told.
    expectForbidden(await api.call("POST", "/api/endpoints/999/docker/containers/abc/stop", { token: helpdesk.jwt }), "Operator");
    expect((await api.call("POST", "/api/endpoints/999/docker/containers/abc/stop", { token: operator.jwt })).status).toBe(404);
    expect((await api.call("GET", "/api/endpoints/999/docker/containers/json", { token: helpdesk.jwt })).status).toBe(404);
  });

  it("keeps one administrator: the last can be neither deleted nor demoted (409)", async () => {
    const deleted = await api.call("DELETE", "/api/users/1", { token: admin });
    expect(deleted.status, deleted.text).toBe(409);
    expect(deleted.json).toMatchObject({ code: "conflict", fix: expect.stringContaining("another user an administrator") as unknown });
    expect((await api.call("PUT", "/api/users/1", { body: { Role: "helpdesk" }, token: admin })).status).toBe(409);
    expect((await api.call("GET", "/api/users/me", { token: admin })).json).toMatchObject({ RoleName: "admin" });

    const second = await createUser("ada", "second admin battery staple", "admin");
    const demoted = await api.call("PUT", "/api/users/1", { body: { Role: "operator" }, token: second.jwt });
    expect(demoted.status, demoted.text).toBe(200);
    // The role counts at once: the old session now acts as operator.
    expectForbidden(await api.call("GET", "/api/settings", { token: admin }), "Administrator");
    expect((await api.call("PUT", `/api/users/${second.id}`, { body: { Role: "operator" }, token: second.jwt })).status).toBe(409);
    expect((await api.call("PUT", "/api/users/1", { body: { Role: "admin" }, token: second.jwt })).status).toBe(200);
    expect((await api.call("DELETE", `/api/users/${second.id}`, { token: admin })).status).toBe(204);
    expect((await api.call("GET", "/api/users/me", { token: second.jwt })).status).toBe(401);
  });

  it("ends the other sessions when a password changes; the new password logs in at once", async () => {
    const other = String((await api.call("POST", "/api/auth", { body: { Username: "olga", Password: operatorPassword }, token: null, ...loginSource() })).json["jwt"]);
    const otherMe = await api.call("GET", "/api/users/me", { token: other });
    expect(otherMe.status, otherMe.text).toBe(200);
    const wrong = await api.call("PUT", `/api/users/${operator.id}/passwd`, { body: { Password: "not the password", NewPassword: "new operator battery staple" }, token: operator.jwt });
    expect(wrong.status).toBe(403);
    expect(wrong.json).toMatchObject({ field: "Password" });
    const changed = await api.call("PUT", `/api/users/${operator.id}/passwd`, { body: { Password: operatorPassword, NewPassword: "new operator battery staple" }, token: operator.jwt });
    expect(changed.status, changed.text).toBe(204);
    for (const token of [other, operator.jwt]) {
      const refused = await api.call("GET", "/api/users/me", { token });
      expect(refused.status).toBe(401);
      expect(refused.json).toMatchObject({ details: { reason: "ended" } });
    }
    expect((await api.call("POST", "/api/auth", { body: { Username: "olga", Password: operatorPassword }, token: null, ...loginSource() })).status).toBe(422);
    const again = await api.call("POST", "/api/auth", { body: { Username: "olga", Password: "new operator battery staple" }, token: null, ...loginSource() });
    expect(again.status).toBe(200);
    operator.jwt = String(again.json["jwt"]);
    expect((await api.call("GET", "/api/users/me", { token: operator.jwt })).status).toBe(200);
  });

  it("ends all of a user's sessions on request, leaving access tokens working; only self or an administrator may", async () => {
    const token = await api.call("POST", `/api/users/${helpdesk.id}/tokens`, { body: { description: "read-only bot" }, token: helpdesk.jwt });
    expect(token.status, token.text).toBe(200);
    const key = String(token.json["rawAPIKey"]);
    expect((await api.call("POST", `/api/users/${helpdesk.id}/sessions/end`, { token: operator.jwt })).status).toBe(403);
    expect((await api.call("POST", `/api/users/${helpdesk.id}/sessions/end`, { token: admin })).status).toBe(204);
    expect((await api.call("GET", "/api/users/me", { token: helpdesk.jwt })).status).toBe(401);
    expect((await api.call("GET", "/api/users/me", { token: null, headers: { "x-api-key": key } })).status).toBe(200);
    helpdesk.jwt = String((await api.call("POST", "/api/auth", { body: { Username: "hugo", Password: helpdeskPassword }, token: null, ...loginSource() })).json["jwt"]);
    expect((await api.call("GET", "/api/users/me", { token: helpdesk.jwt })).status).toBe(200);
  });

  it("scopes access tokens: at most the owner's role, acting with the lesser of scope and current role", async () => {
    const over = await api.call("POST", `/api/users/${helpdesk.id}/tokens`, { body: { description: "too much", scope: "operator" }, token: helpdesk.jwt });
    expect(over.status).toBe(400);
    expect(over.json).toMatchObject({ field: "scope" });

    const scoped = await api.call("POST", "/api/users/1/tokens", { body: { description: "dashboard", scope: "helpdesk", expiresInDays: 30 }, token: admin });
    expect(scoped.status, scoped.text).toBe(200);
    expect(scoped.json["apiKey"]).toMatchObject({ scope: "helpdesk", lastUsed: 0 });
    const expiresAt = Number((scoped.json["apiKey"] as Record<string, unknown>)["expiresAt"]);
    expect(Math.abs(expiresAt - (Date.now() / 1000 + 30 * 86_400))).toBeLessThan(120);
    const key = { "x-api-key": String(scoped.json["rawAPIKey"]) };
    expect((await api.call("GET", "/api/endpoints", { token: null, headers: key })).status).toBe(200);
    expectForbidden(await api.call("GET", "/api/settings", { token: null, headers: key }), "Administrator");
    // A scoped token cannot mint a stronger one.
    expect((await api.call("POST", "/api/users/1/tokens", { body: { description: "escalate", scope: "admin" }, token: null, headers: key })).status).toBe(400);

    const operatorToken = await api.call("POST", `/api/users/${operator.id}/tokens`, { body: { description: "ci" }, token: operator.jwt });
    expect(operatorToken.json["apiKey"]).toMatchObject({ scope: "operator" });
    const operatorKey = { "x-api-key": String(operatorToken.json["rawAPIKey"]) };
    expect((await api.call("POST", "/api/tags", { body: { Name: "by-token" }, token: null, headers: operatorKey })).status).toBe(200);
    expect((await api.call("PUT", `/api/users/${operator.id}`, { body: { Role: "helpdesk" }, token: admin })).status).toBe(200);
    expectForbidden(await api.call("POST", "/api/tags", { body: { Name: "after-demotion" }, token: null, headers: operatorKey }), "Operator");
    expect((await api.call("PUT", `/api/users/${operator.id}`, { body: { Role: "operator" }, token: admin })).status).toBe(200);

    const list = await api.call("GET", "/api/users/1/tokens", { token: admin });
    const listed = list.json as unknown as { description: string; lastUsed: number; scope: string }[];
    expect(listed.find((t) => t.description === "dashboard")).toMatchObject({ scope: "helpdesk", lastUsed: expect.any(Number) as unknown });
    expect(listed.find((t) => t.description === "dashboard")?.lastUsed).toBeGreaterThan(0);
    expect((await api.call("GET", "/api/users/1/tokens", { token: helpdesk.jwt })).status).toBe(403);
  });

  it("refuses an expired access token with a clear 401", async () => {
    const generated = generateApiToken();
    await server.store.apiTokens.create({ userId: 1, description: "old", tokenHash: generated.tokenHash, prefix: generated.prefix, scope: "admin", expiresAt: new Date(Date.now() - 1000) });
    const refused = await api.call("GET", "/api/users/me", { token: null, headers: { "x-api-key": generated.token } });
    expect(refused.status).toBe(401);
    expect(refused.json).toMatchObject({ code: "unauthorized", message: expect.stringContaining("expired on") as unknown, details: { reason: "expired" }, fix: expect.stringContaining("Create a new access token") as unknown });
  });

  it("refuses over-long and unknown inputs", async () => {
    const long = (n: number) => "x".repeat(n);
    const answers = await Promise.all([
      api.call("POST", "/api/users", { body: { Username: long(129), Password: password, Role: "helpdesk" }, token: admin }),
      api.call("POST", "/api/users", { body: { Username: "pat", Password: long(1025), Role: "helpdesk" }, token: admin }),
      api.call("POST", "/api/users", { body: { Username: "pat", Password: password, Role: "root" }, token: admin }),
      api.call("POST", "/api/users/1/tokens", { body: { description: long(129) }, token: admin }),
      api.call("POST", "/api/users/1/tokens", { body: { description: "year and a day", expiresInDays: 366 }, token: admin }),
      api.call("PUT", "/api/users/1/passwd", { body: { Password: password, NewPassword: long(1025) }, token: admin }),
    ]);
    expect(answers.map((a) => [a.status, a.json["field"]])).toEqual([
      [400, "Username"],
      [400, "Password"],
      [400, "Role"],
      [400, "description"],
      [400, "expiresInDays"],
      [400, "NewPassword"],
    ]);
    expect((await api.call("POST", "/api/users", { body: { Username: "pat", Password: "short", Role: "helpdesk" }, token: admin })).json).toMatchObject({ field: "Password" });
  });
});
