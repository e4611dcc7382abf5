import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../server.ts";
import { type TempDir, tempDir } from "../../store/temp-dir.testkit.ts";
import { startAdminServer } from "../admin-server.testkit.ts";
import type { ApiClient } from "../api-client.testkit.ts";

const password = "correct horse battery staple";

/**
 * A change and its audit entry commit together (chaos suite, server-crash): an association, a
 * tag, an edge stack and each new version of it were one transaction and their entry another, so
 * a server killed between them (seen on PostgreSQL: 5 of 9 writes in flight at the kill), or an
 * audit insert that failed (disk full, database gone), left a change the activity log never
 * mentioned. Here the database refuses the entry (a trigger) and the change must not happen either.
 */
describe("writes are audited in their own transaction", () => {
  let dir: TempDir;
  let server: RunningServer;
  let api: ApiClient;

  beforeAll(async () => {
    dir = tempDir("association-audit");
    ({ server, api } = await startAdminServer(dir, password));
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await dir?.[Symbol.asyncDispose]();
  });

  /** Runs `sql` on the server's database file from a second connection (the server is idle meanwhile). */
  const onDatabase = (sql: string) => {
    const db = new DatabaseSync(join(dir.file("data"), "pier.db"), { timeout: 5000 });
    try {
      db.exec(sql);
    } finally {
      db.close();
    }
  };
  const refuseEntries = (kind: string) => onDatabase(`CREATE TRIGGER refuse_entries BEFORE INSERT ON audit_events WHEN NEW.kind = '${kind}' BEGIN SELECT RAISE(ABORT, 'audit refused by the test'); END`);
  const refuseAssociatedEntries = () => refuseEntries("associated");
  const acceptEntries = () => onDatabase("DROP TRIGGER refuse_entries");
  const entries = async (kind: string) => (await server.store.audit.page({ kind })).total;
  const associatedEntries = async (id: number) => (await server.store.audit.page({ environmentId: id, kind: "associated" })).total;
  const waiting = (edgeId: string) => server.store.environments.create({ name: edgeId, type: "edge-agent", edgeId, userTrusted: false });

  it("POST /api/endpoints/{id}/edge/trust: no entry, no association; with the entry, both", async () => {
    const device = await waiting("trust-1");
    refuseAssociatedEntries();
    try {
      const refused = await api.call("POST", `/api/endpoints/${device.id}/edge/trust`);
      expect(refused.status).toBeGreaterThanOrEqual(500);
      expect((await server.store.environments.get(device.id))?.userTrusted).toBe(false);
      expect(await associatedEntries(device.id)).toBe(0);
    } finally {
      acceptEntries();
    }
    expect((await api.call("POST", `/api/endpoints/${device.id}/edge/trust`)).status).toBe(204);
    expect((await server.store.environments.get(device.id))?.userTrusted).toBe(true);
    expect(await associatedEntries(device.id)).toBe(1);
  });

  it("PUT /api/endpoints/{id} with UserTrusted: the rename in the same request is not applied either", async () => {
    const device = await waiting("put-1");
    refuseAssociatedEntries();
    try {
      const refused = await api.call("PUT", `/api/endpoints/${device.id}`, { body: { UserTrusted: true, Name: "renamed" } });
      expect(refused.status).toBeGreaterThanOrEqual(500);
      const after = await server.store.environments.get(device.id);
      expect(after?.userTrusted).toBe(false);
      expect(after?.name).toBe("put-1");
      expect(await associatedEntries(device.id)).toBe(0);
    } finally {
      acceptEntries();
    }
    expect((await api.call("PUT", `/api/endpoints/${device.id}`, { body: { UserTrusted: true, Name: "renamed" } })).status).toBe(200);
    expect(await server.store.environments.get(device.id)).toMatchObject({ userTrusted: true, name: "renamed" });
    expect(await associatedEntries(device.id)).toBe(1);
  });

  it("POST /api/tags: no entry, no tag", async () => {
    refuseEntries("tag_created");
    try {
      expect((await api.call("POST", "/api/tags", { body: { Name: "refused-tag" } })).status).toBeGreaterThanOrEqual(500);
      expect((await server.store.tags.list()).map((tag) => tag.name)).not.toContain("refused-tag");
      expect(await entries("tag_created")).toBe(0);
    } finally {
      acceptEntries();
    }
    expect((await api.call("POST", "/api/tags", { body: { Name: "refused-tag" } })).status).toBe(200);
    expect(await entries("tag_created")).toBe(1);
  });

  it("edge stacks: no entry, no stack; no entry, no new version", async () => {
    const group = await api.call("POST", "/api/edge_groups", { body: { Name: "audited", Dynamic: false, Endpoints: [] } });
    expect(group.status).toBe(200);
    const groupId = (group.json as { Id: number }).Id;
    const file = (revision: number) => `services:\n  web:\n    image: nginx:1.27-alpine\n    environment:\n      - REVISION=${revision}\n`;
    refuseEntries("edge_stack_created");
    try {
      const refused = await api.call("POST", "/api/edge_stacks/create/string", { body: { name: "audited", stackFileContent: file(1), edgeGroups: [groupId], deploymentType: 0 } });
      expect(refused.status).toBeGreaterThanOrEqual(500);
      expect(await server.store.edgeStacks.list()).toEqual([]);
    } finally {
      acceptEntries();
    }
    const created = await api.call("POST", "/api/edge_stacks/create/string", { body: { name: "audited", stackFileContent: file(1), edgeGroups: [groupId], deploymentType: 0 } });
    expect(created.status).toBe(200);
    const stackId = (created.json as { Id: number }).Id;
    refuseEntries("edge_stack_updated");
    try {
      expect((await api.call("PUT", `/api/edge_stacks/${stackId}`, { body: { stackFileContent: file(2), edgeGroups: [groupId] } })).status).toBeGreaterThanOrEqual(500);
      expect(await server.store.edgeStacks.get(stackId)).toMatchObject({ version: 1, composeFile: file(1) });
      expect(await entries("edge_stack_updated")).toBe(0);
    } finally {
      acceptEntries();
    }
    expect((await api.call("PUT", `/api/edge_stacks/${stackId}`, { body: { stackFileContent: file(2), edgeGroups: [groupId] } })).status).toBe(200);
    expect(await server.store.edgeStacks.get(stackId)).toMatchObject({ version: 2, composeFile: file(2) });
    expect([await entries("edge_stack_created"), await entries("edge_stack_updated")]).toEqual([1, 1]);
  });
});
