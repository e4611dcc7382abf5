import { readFileSync, statSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registryLimits } from "../../fleet/registries.ts";
import type { RunningServer } from "../../server.ts";
import { type TempDir, tempDir } from "../../store/temp-dir.testkit.ts";
import { startAdminServer } from "../admin-server.testkit.ts";
import type { ApiClient } from "../api-client.testkit.ts";

const adminPassword = "correct horse battery staple";
const registryPassword = "registry-password-never-shown";

/** `/api/registries` through the API of a real server on loopback (SQLite in its --data). */
describe("registries API", () => {
  let dir: TempDir;
  let server: RunningServer;
  let api: ApiClient;
  const logs: string[] = [];

  beforeAll(async () => {
    dir = tempDir("registries-api");
    ({ server, api } = await startAdminServer(dir, adminPassword, (_, m) => logs.push(m)));
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await dir?.[Symbol.asyncDispose]();
  });

  it("answers 401 on every route without a session", async () => {
    const routes: [string, string][] = [
      ["GET", "/api/registries"],
      ["POST", "/api/registries"],
      ["GET", "/api/registries/1"],
      ["PUT", "/api/registries/1"],
      ["DELETE", "/api/registries/1"],
    ];
    for (const [method, path] of routes) {
      const answer = await api.call(method, path, { token: null, ...(method === "POST" || method === "PUT" ? { body: { Name: "x", URL: "lab:5000" } } : {}) });
      expect(answer.status, `${method} ${path}`).toBe(401);
    }
    // Precondition: the same list answers with a session.
    expect((await api.call("GET", "/api/registries")).status).toBe(200);
  });

  it("creates a registry in Portainer's shape, never answers, logs or stores the password in clear", async () => {
    const created = await api.call("POST", "/api/registries", { body: { Name: "lab", URL: "registry.lab:5000", Authentication: true, Username: "ci", Password: registryPassword, Type: 3 } });
    expect(created.status, created.text).toBe(200);
    expect(created.json).toEqual({ Id: 1, Name: "lab", Type: 3, URL: "registry.lab:5000", BaseURL: "", Authentication: true, Username: "ci" });
    const listed = await api.call("GET", "/api/registries");
    expect(listed.json).toEqual([created.json]);
    expect((await api.call("GET", "/api/registries/1")).json).toEqual(created.json);
    expect((await api.call("GET", "/api/registries/99")).status).toBe(404);
    const updated = await api.call("PUT", "/api/registries/1", { body: { Name: "lab-1" } });
    expect(updated.json).toMatchObject({ Id: 1, Name: "lab-1", Authentication: true, Username: "ci" });
    // Sealed at rest with DATA/secrets/registry.key (0600): neither the database nor its WAL holds it.
    const data = dir.file("data");
    expect(statSync(`${data}/secrets/registry.key`).mode & 0o777).toBe(0o600);
    const db = new DatabaseSync(`${data}/pier.db`, { readOnly: true });
    try {
      const row = db.prepare("SELECT password_sealed FROM registries WHERE id = 1").get() as { password_sealed: Uint8Array };
      expect(row.password_sealed.length).toBeGreaterThan(registryPassword.length);
      expect(Buffer.from(row.password_sealed).includes(Buffer.from(registryPassword))).toBe(false);
    } finally {
      db.close();
    }
    for (const file of ["pier.db", "pier.db-wal"]) expect(readFileSync(`${data}/${file}`).includes(Buffer.from(registryPassword)), file).toBe(false);
    for (const answer of [created, listed, updated]) expect(answer.text).not.toContain(registryPassword);
    expect(logs.join("\n")).not.toContain(registryPassword);
    const audit = await server.store.audit.list({ limit: 10 });
    expect(audit.map((event) => event.kind)).toEqual(expect.arrayContaining(["registry_created", "registry_updated"]));
    expect(JSON.stringify(audit)).not.toContain(registryPassword);
  });

  it("refuses each field past its limit, a URL that is not host[:port], another Type, and a missing password (400 naming the field)", async () => {
    const base = { Name: "limits", URL: "lab:5000", Authentication: true, Username: "ci", Password: "p" };
    // Precondition: the base body at the limits is accepted.
    const atLimits = { ...base, Name: "n".repeat(registryLimits.name), Username: "u".repeat(registryLimits.username), Password: "p".repeat(registryLimits.password) };
    const accepted = await api.call("POST", "/api/registries", { body: atLimits });
    expect(accepted.status, accepted.text).toBe(200);
    const cases: [Record<string, unknown>, string][] = [
      [{ ...base, Name: "n".repeat(registryLimits.name + 1) }, "Name"],
      [{ ...base, Name: "" }, "Name"],
      [{ ...base, URL: `${"h".repeat(registryLimits.url - 5)}:5000x` }, "URL"],
      [{ ...base, Username: "u".repeat(registryLimits.username + 1) }, "Username"],
      [{ ...base, Password: "p".repeat(registryLimits.password + 1) }, "Password"],
      [{ ...base, URL: "https://lab:5000" }, "URL"],
      [{ ...base, URL: "lab:5000/team" }, "URL"],
      [{ ...base, Type: 6 }, "Type"],
      [{ ...base, Password: undefined }, "Password"],
      [{ ...base, Username: undefined }, "Username"],
    ];
    for (const [body, field] of cases) {
      const answer = await api.call("POST", "/api/registries", { body });
      expect(answer.status, `${field}: ${answer.text}`).toBe(400);
      expect(answer.json["field"], answer.text).toBe(field);
    }
    const tooLong = await api.call("PUT", `/api/registries/${String(accepted.json["Id"])}`, { body: { Password: "p".repeat(registryLimits.password + 1) } });
    expect(tooLong.status).toBe(400);
    expect((await api.call("GET", "/api/registries")).json).toHaveLength(2);
  });

  it("answers 409 to a duplicate name, and to deleting a registry an edge stack names; deletes it once none does", async () => {
    const first = await api.call("POST", "/api/registries", { body: { Name: "shared", URL: "shared.lab", Authentication: false } });
    expect(first.status).toBe(200);
    const duplicate = await api.call("POST", "/api/registries", { body: { Name: "shared", URL: "other.lab", Authentication: false } });
    expect(duplicate.status).toBe(409);
    expect(duplicate.json).toMatchObject({ field: "Name", message: 'A registry named "shared" already exists.' });
    const id = Number(first.json["Id"]);
    // Stand-in for an edge stack naming it (H2's tables, written as its store does).
    const db = new DatabaseSync(`${dir.file("data")}/pier.db`);
    try {
      db.prepare("INSERT INTO edge_stacks (id, name, version, deployment_type, created_at, updated_at) VALUES (41, 'web', 1, 0, 0, 0)").run();
      db.prepare("INSERT INTO edge_stack_registries (stack_id, registry_id) VALUES (41, ?)").run(id);
      const refused = await api.call("DELETE", `/api/registries/${id}`);
      expect(refused.status).toBe(409);
      expect(refused.json["message"]).toBe(`The registry ${id} is used by the edge stack(s) "web" (41); it was not deleted.`);
      expect((await api.call("GET", `/api/registries/${id}`)).status).toBe(200);
      db.prepare("DELETE FROM edge_stacks WHERE id = 41").run();
    } finally {
      db.close();
    }
    expect((await api.call("DELETE", `/api/registries/${id}`)).status).toBe(204);
    expect((await api.call("GET", `/api/registries/${id}`)).status).toBe(404);
    expect((await api.call("DELETE", `/api/registries/${id}`)).status).toBe(404);
  });
});
