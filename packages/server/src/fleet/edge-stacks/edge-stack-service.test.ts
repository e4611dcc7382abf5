import { DatabaseSync } from "node:sqlite";
import { type StackReport, edgeStackStatusTypes as types } from "@pier/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { edgeStackView } from "../../api/routes/edge-stacks.ts";
import { openStore } from "../../store/open-store.ts";
import type { SqlStore } from "../../store/sql-store.ts";
import { type TempDir, tempDir } from "../../store/temp-dir.testkit.ts";
import type { FleetChanges } from "../fleet-contracts.ts";
import { membership } from "../membership.ts";
import { EdgeStackService } from "./edge-stack-service.ts";

const compose = (image: string) => `services:\n  web:\n    image: ${image}\n`;

/** The stack service on a real SQLite store with real edge groups; desired-state recomputation is a recording stand-in. */
describe("edge stack service", () => {
  let dir: TempDir;
  let store: SqlStore;
  let changed: (readonly number[] | "all")[];
  let service: EdgeStackService;
  let now: Date;

  beforeEach(async () => {
    dir = tempDir("edge-stack-service");
    store = await openStore({ path: dir.file("pier.db") });
    changed = [];
    // Stand-in for the desired-state service: records which environments it was told about.
    const changes: FleetChanges = { changed: (ids) => (changed.push(ids), Promise.resolve()) };
    now = new Date(Date.UTC(2026, 11, 6, 12));
    // Stand-in for H5's unsealing: the credentials of registry ids, made up from the ids.
    const credentialsFor = (ids: readonly number[]) => Promise.resolve(ids.map((id) => ({ serverAddress: `registry-${id}.lab:5000`, username: "ci", password: `secret-${id}` })));
    service = new EdgeStackService({ store, membership: membership(store.edgeGroups), changes, credentialsFor, log: () => undefined, now: () => now });
  });
  afterEach(async () => {
    await store.close();
    await dir[Symbol.asyncDispose]();
  });

  const device = async (name: string, trusted = true) => (await store.environments.create({ name, type: "edge-agent", userTrusted: trusted })).id;
  const group = async (name: string, environmentIds: number[]) => (await store.edgeGroups.create({ name, dynamic: false, partialMatch: false, tagIds: [], environmentIds })).id;
  const report = (stackId: number, version: number, type: number, time: number, extra: Partial<StackReport> = {}): StackReport => ({ stackId, version, type, time, ...extra });

  it("gives members of its groups the stack (with registry credentials) at its version, and tells the desired state who changed", async () => {
    const a = await device("a");
    const b = await device("b");
    const waiting = await device("waiting", false);
    const outsider = await device("outsider");
    const sites = await group("sites", [a, b, waiting]);
    const lab = await group("lab", [b]);
    const registry = await store.registries.create({ name: "lab", url: "registry-1.lab:5000", authentication: true, username: "ci" }, () => Buffer.from("sealed"), now);
    const { stack } = await service.create({ name: "web", composeFile: compose("nginx:1"), groupIds: [sites], envVars: [{ name: "A", value: "1" }], registryIds: [registry.id] }, "admin");
    expect(changed).toEqual([[a, b]]);
    const expected = { id: stack.id, name: "web", version: 1, deploymentType: 0, composeFile: compose("nginx:1"), envVars: [{ name: "A", value: "1" }], registries: [{ serverAddress: `registry-${registry.id}.lab:5000`, username: "ci", password: `secret-${registry.id}` }] };
    expect(await service.desiredStacks(a)).toEqual([expected]);
    expect(await service.desiredStacks(outsider)).toEqual([]);
    expect(await service.desiredStacks(waiting)).toEqual([]);
    // Moved to the lab group with a new file: a leaves (told, gets nothing), b gets version 2.
    changed = [];
    await service.update(stack.id, { composeFile: compose("nginx:2"), groupIds: [lab], envVars: [], registryIds: [], updateVersion: false }, "admin");
    expect(changed).toEqual([[a, b]]);
    expect(await service.desiredStacks(a)).toEqual([]);
    expect(await service.desiredStacks(b)).toEqual([{ ...expected, version: 2, composeFile: compose("nginx:2"), envVars: [], registries: [] }]);
    changed = [];
    await service.delete(stack.id, "admin");
    expect(changed).toEqual([[b]]);
    expect(await service.desiredStacks(b)).toEqual([]);
    expect((await store.audit.list()).map((event) => event.kind)).toEqual(["edge_stack_deleted", "edge_stack_updated", "edge_stack_created"]);
  });

  it("keeps reported transitions in Portainer's Status shape, ignores reports about an older version, records a rollback", async () => {
    const a = await device("a");
    const b = await device("b");
    const sites = await group("sites", [a, b]);
    const { stack } = await service.create({ name: "web", composeFile: compose("nginx:1"), groupIds: [sites], envVars: [], registryIds: [] }, "admin");
    await service.recordStatus(a, report(stack.id, 1, types.acknowledged, 1000));
    await service.recordStatus(a, report(stack.id, 1, types.imagesPulled, 1001));
    await service.recordStatus(a, report(stack.id, 1, types.running, 1002));
    await service.update(stack.id, { composeFile: compose("nginx:broken"), groupIds: [sites], envVars: [], registryIds: [], updateVersion: false }, "admin");
    await service.recordStatus(b, report(stack.id, 2, types.error, 2000, { error: "pull access denied for nginx:broken" }));
    await service.recordStatus(b, report(stack.id, 2, types.rolledBack, 2001, { rolledBackTo: 1 }));
    // A late report about version 1 from b changes nothing.
    await service.recordStatus(b, report(stack.id, 1, types.running, 2002));
    const view = edgeStackView(await service.get(stack.id));
    expect(JSON.parse(JSON.stringify(view.Status))).toEqual({
      [String(a)]: {
        EndpointID: a,
        Status: [
          { Type: 3, Time: 1000, Error: "" },
          { Type: 6, Time: 1001, Error: "" },
          { Type: 7, Time: 1002, Error: "" },
        ],
        DeploymentInfo: { Version: 1, FileVersion: 1, ConfigHash: "" },
        ReadyRePullImage: false,
      },
      [String(b)]: {
        EndpointID: b,
        Status: [
          { Type: 2, Time: 2000, Error: "pull access denied for nginx:broken" },
          { Type: 13, Time: 2001, Error: "", RollbackTo: 1 },
        ],
        DeploymentInfo: { Version: 2, FileVersion: 2, ConfigHash: "" },
        ReadyRePullImage: false,
      },
    });
    expect(await store.edgeStacks.status(stack.id, b)).toMatchObject({ rolledBackTo: 1 });
    // A newer version starts a new list on a.
    // Stored: true (what the metrics count as a deployment's end, docs/architecture.md "Metrics").
    expect(await service.recordStatus(a, report(stack.id, 2, types.acknowledged, 3000))).toBe(true);
    expect((await store.edgeStacks.status(stack.id, a))?.transitions).toEqual([{ type: 3, time: 3000 }]);
    // A version the stack never had, and a stack that never existed, are ignored (false: not counted).
    expect(await service.recordStatus(a, report(stack.id, 9, types.running, 3001))).toBe(false);
    expect(await service.recordStatus(a, report(4242, 1, types.running, 3001))).toBe(false);
    expect((await store.edgeStacks.status(stack.id, a))?.version).toBe(2);
    expect(await store.edgeStacks.status(4242, a)).toBeNull();
  });

  it("shows an unfinished rollout as Pier.Rollout and holds environments not yet released at the previous version", async () => {
    const released = await device("released");
    const held = await device("held");
    const sites = await group("sites", [released, held]);
    const { stack } = await service.create({ name: "web", composeFile: compose("nginx:1"), groupIds: [sites], envVars: [], registryIds: [] }, "admin");
    await service.update(stack.id, { composeFile: compose("nginx:2"), groupIds: [sites], envVars: [], registryIds: [], updateVersion: false }, "admin");
    // Precondition: no rollout, both get version 2 and the view has no Rollout.
    expect(edgeStackView(await service.get(stack.id)).Pier).toEqual({ UpdatedDate: now.getTime() / 1000 });
    expect((await service.desiredStacks(held))[0]?.version).toBe(2);
    // Stand-in for the rollout engine (not built): its rows, written as an operator's sqlite3 would.
    const sqlite = new DatabaseSync(dir.file("pier.db"));
    sqlite.prepare("INSERT INTO edge_stack_rollouts (stack_id, version, previous_version, batch_size, batch_percent, wait_seconds, failure_threshold, state, started_at, released_at, updated_at) VALUES (?, 2, 1, NULL, 50, 300, 1, 'paused', ?, ?, ?)").run(stack.id, now.getTime(), now.getTime(), now.getTime());
    sqlite.prepare("INSERT INTO edge_stack_targets (stack_id, environment_id, version, released_at) VALUES (?, ?, 2, ?)").run(stack.id, released, now.getTime());
    sqlite.close();
    expect(edgeStackView(await service.get(stack.id)).Pier).toEqual({
      UpdatedDate: now.getTime() / 1000,
      Rollout: { Version: 2, PreviousVersion: 1, State: "paused", BatchSize: null, BatchPercent: 50, WaitSeconds: 300, FailureThreshold: 1, StartedDate: now.getTime() / 1000, Released: 1, Total: 2 },
    });
    expect((await service.desiredStacks(released))[0]).toMatchObject({ version: 2, composeFile: compose("nginx:2") });
    expect((await service.desiredStacks(held))[0]).toMatchObject({ version: 1, composeFile: compose("nginx:1") });
  });

  it("keeps a deleted stack's status rows until each device reports Removed, then deletes them", async () => {
    const a = await device("a");
    const sites = await group("sites", [a]);
    const { stack } = await service.create({ name: "web", composeFile: compose("nginx:1"), groupIds: [sites], envVars: [], registryIds: [] }, "admin");
    await service.recordStatus(a, report(stack.id, 1, types.running, 1000));
    await service.delete(stack.id, "admin");
    expect(await store.edgeStacks.status(stack.id, a)).not.toBeNull();
    await service.recordStatus(a, report(stack.id, 1, types.removing, 1001));
    expect((await store.edgeStacks.status(stack.id, a))?.transitions.map((t) => t.type)).toEqual([types.running, types.removing]);
    await service.recordStatus(a, report(stack.id, 1, types.removed, 1002));
    expect(await store.edgeStacks.status(stack.id, a)).toBeNull();
  });

  it("records Removed of a stack the device still belongs to (a redeploy), and deletes the row once it left the stack's groups", async () => {
    const a = await device("a");
    const sites = await group("sites", [a]);
    const empty = await group("empty", []);
    const { stack } = await service.create({ name: "web", composeFile: compose("nginx:1"), groupIds: [sites], envVars: [], registryIds: [] }, "admin");
    await service.recordStatus(a, report(stack.id, 1, types.removed, 1000));
    expect((await store.edgeStacks.status(stack.id, a))?.transitions).toEqual([{ type: types.removed, time: 1000 }]);
    await service.update(stack.id, { composeFile: compose("nginx:1"), groupIds: [empty], envVars: [], registryIds: [], updateVersion: false }, "admin");
    await service.recordStatus(a, report(stack.id, 1, types.removed, 1001));
    expect(await store.edgeStacks.status(stack.id, a)).toBeNull();
  });
});
