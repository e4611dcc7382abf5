import type { DockerSnapshot } from "@pier/protocol";
import { describe, expect, it } from "vitest";
import type { StoreTarget } from "./database.ts";
import { summarizeDockerSnapshot } from "../docker/docker-summary.ts";
import { sampleSnapshot } from "./snapshot.testkit.ts";
import { describeOnEngines } from "./store-engines.testkit.ts";
import { type Environment, type Store, defaultSettings } from "./store.ts";

/**
 * The store's contract: every test runs on SQLite and on PostgreSQL (store-engines.testkit.ts).
 * What only a SQLite file has (its modes, a file that is not a database) is in sqlite-store.test.ts.
 */

// Asymmetric matchers are typed `any`; these keep the assertions readable and the linter content.
const containing = (text: string): unknown => expect.stringContaining(text);

const device = {
  agent: { version: "0.1.0", platform: "docker", hostname: "edge-17", os: "linux", arch: "arm64" },
  sourceAddress: "198.51.100.7",
  clientCertificate: {
    subject: "CN=edge-17",
    serialNumber: "0a1b2c",
    fingerprintSha256: "ab".repeat(32),
    notAfter: new Date("2031-02-03T04:05:06.789Z"),
    issuer: "CN=Acme Edge CA",
  },
  identity: { kind: "certificate", value: "cd".repeat(32) },
  identityConflict: { at: new Date("2026-01-02T03:04:05.678Z"), presented: "ef".repeat(32), sourceAddress: "203.0.113.9", certificateSubject: "CN=intruder" },
} satisfies Partial<Environment>;

/** `snapshots.put` with the summary the server keeps beside it. */
const put = (store: Store, environmentId: number, snapshot: DockerSnapshot, at: Date) => store.snapshots.put(environmentId, snapshot, at, summarizeDockerSnapshot(snapshot));

describeOnEngines("store", (engine) => {
  async function withStore(test: (store: Store, target: StoreTarget) => Promise<void>): Promise<void> {
    const target = await engine.cleanTarget();
    await using store = await engine.open(target);
    await test(store, target);
  }

  describe("reopen and close", () => {
    it("keeps everything across close and reopen", async () => {
      const target = await engine.cleanTarget();
      const first = await engine.open(target);
      const environment = await first.environments.create({ name: "edge-1", type: "edge-agent", edgeId: "edge-1", ...device });
      const user = await first.users.create({ username: "admin", passwordHash: "scrypt$x" });
      const token = await first.apiTokens.create({ userId: user.id, description: "ci", tokenHash: "00".repeat(32), prefix: "pier_abc", scope: "admin", expiresAt: new Date(Date.now() + 86_400_000) });
      await first.settings.update({ trustOnFirstConnect: true });
      const event = await first.audit.append({ kind: "enrolled", environmentId: environment.id, edgeId: "edge-1", detail: { via: "fleet key" } });
      await first.close();

      await using second = await engine.open(target);
      expect(await second.environments.get(environment.id)).toEqual(environment);
      expect(await second.users.getByUsername("admin")).toEqual(user);
      expect(await second.apiTokens.findByHash("00".repeat(32))).toEqual(token);
      expect((await second.settings.get()).trustOnFirstConnect).toBe(true);
      expect(await second.audit.list()).toEqual([event]);
    });

    it("fails with store_failed once closed, and closing twice is harmless", async () => {
      const store = await engine.open();
      await store.close();
      await store.close();
      await expect(store.environments.list()).rejects.toMatchObject({ code: "store_failed", message: "The store has been closed (the server is shutting down)." });
    });
  });

  describe("environments", () => {
    it("creates with defaults and ids that are positive and never reused", () =>
      withStore(async (store) => {
        const before = Date.now();
        const first = await store.environments.create({ name: "edge-1", type: "edge-agent" });
        expect(first).toEqual({
          id: 1,
          name: "edge-1",
          type: "edge-agent",
          edgeId: null,
          edgeKeyEnvironment: false,
          userTrusted: false,
          checkinIntervalSeconds: null,
          createdAt: first.createdAt,
          lastCheckInAt: null,
          agent: null,
          sourceAddress: null,
          clientCertificate: null,
          identity: null,
          identityConflict: null,
          identityClone: null,
          edgeKeySecretHash: null,
          enrollmentCsr: null,
          enrollmentKeySha256: null,
          reenrollment: null,
        });
        expect(first.createdAt).toBeInstanceOf(Date);
        expect(first.createdAt.getTime()).toBeGreaterThanOrEqual(before);
        expect(await store.environments.delete(first.id)).toBe(true);
        expect(await store.environments.delete(first.id)).toBe(false);
        expect((await store.environments.create({ name: "edge-2", type: "edge-agent" })).id).toBe(2);
      }));

    it("round-trips identity, certificate and conflict, with Dates as Dates", () =>
      withStore(async (store) => {
        const created = await store.environments.create({ name: "edge-17", type: "edge-agent", edgeId: "edge-17", edgeKeyEnvironment: true, userTrusted: true, checkinIntervalSeconds: 30, ...device });
        const read = await store.environments.getByEdgeId("edge-17");
        expect(read).toEqual(created);
        expect(read?.clientCertificate?.notAfter).toBeInstanceOf(Date);
        expect(read?.clientCertificate?.notAfter.toISOString()).toBe("2031-02-03T04:05:06.789Z");
        expect(read?.identityConflict?.at).toBeInstanceOf(Date);
        expect(read?.identityConflict).toEqual(device.identityConflict);
        expect(read?.identity).toEqual({ kind: "certificate", value: "cd".repeat(32) });
        expect(read).toMatchObject({ edgeKeyEnvironment: true, userTrusted: true, checkinIntervalSeconds: 30 });

        const cleared = await store.environments.update(created.id, { identityConflict: null, identity: { kind: "token", value: "12".repeat(32) } });
        expect(cleared.identityConflict).toBeNull();
        expect(cleared.identity).toEqual({ kind: "token", value: "12".repeat(32) });
        const withoutSubject = { at: device.identityConflict.at, presented: "ef".repeat(32), sourceAddress: "203.0.113.9" };
        expect((await store.environments.update(created.id, { identityConflict: withoutSubject })).identityConflict).toEqual(withoutSubject);

        const clone = { addresses: ["198.51.100.7", "203.0.113.9"], firstSeen: new Date("2026-01-02T03:04:05.678Z"), lastSeen: new Date("2026-01-02T03:09:05.678Z") };
        expect((await store.environments.update(created.id, { identityClone: clone })).identityClone).toEqual(clone);
        expect((await store.environments.get(created.id))?.identityClone?.lastSeen).toBeInstanceOf(Date);

        expect((await store.environments.update(created.id, { edgeKeySecretHash: "5e".repeat(32) })).edgeKeySecretHash).toBe("5e".repeat(32));
        expect((await store.environments.get(created.id))?.edgeKeySecretHash).toBe("5e".repeat(32));
        await expect(store.environments.update(created.id, { edgeKeySecretHash: "the secret itself" })).rejects.toThrow(/edgeKeySecretHash must be a SHA-256 in hex/);
        expect((await store.environments.update(created.id, { edgeKeySecretHash: null })).edgeKeySecretHash).toBeNull();
      }));

    it("lists the waiting room and the associated devices apart", () =>
      withStore(async (store) => {
        const waiting = await store.environments.create({ name: "w", type: "edge-agent", edgeId: "w" });
        const trusted = await store.environments.create({ name: "t", type: "edge-agent", edgeId: "t", userTrusted: true });
        const waitingToo = await store.environments.create({ name: "w2", type: "edge-agent", edgeId: "w2" });
        expect((await store.environments.list({ untrusted: true })).map((e) => e.id)).toEqual([waiting.id, waitingToo.id]);
        expect((await store.environments.list({ untrusted: false })).map((e) => e.id)).toEqual([trusted.id]);
        expect((await store.environments.list()).map((e) => e.id)).toEqual([waiting.id, trusted.id, waitingToo.id]);

        await store.environments.update(waiting.id, { userTrusted: true });
        expect((await store.environments.list({ untrusted: true })).map((e) => e.id)).toEqual([waitingToo.id]);
      }));

    it("updates only what the patch names, and says when the environment is missing", () =>
      withStore(async (store) => {
        const created = await store.environments.create({ name: "edge", type: "edge-agent", edgeId: "edge", ...device });
        const updated = await store.environments.update(created.id, { name: "renamed", checkinIntervalSeconds: undefined, sourceAddress: "192.0.2.1" });
        expect(updated).toEqual({ ...created, name: "renamed", sourceAddress: "192.0.2.1" });
        expect(await store.environments.get(created.id)).toEqual(updated);
        await expect(store.environments.update(999, { name: "x" })).rejects.toMatchObject({ code: "not_found", message: "Environment 999 does not exist." });
        await expect(store.environments.update(created.id, { checkinIntervalSeconds: 0 })).rejects.toMatchObject({ code: "bad_request", field: "checkinIntervalSeconds" });
        await expect(store.environments.update(created.id, { lastCheckInAt: new Date(Number.NaN) })).rejects.toMatchObject({ code: "bad_request" });
        expect(await store.environments.get(created.id)).toEqual(updated);
      }));

    it("refuses a second environment with the same EDGE_ID", () =>
      withStore(async (store) => {
        await store.environments.create({ name: "a", type: "edge-agent", edgeId: "same" });
        const other = await store.environments.create({ name: "b", type: "edge-agent", edgeId: "other" });
        await expect(store.environments.create({ name: "c", type: "edge-agent", edgeId: "same" })).rejects.toMatchObject({ code: "conflict", status: 409 });
        await expect(store.environments.update(other.id, { edgeId: "same" })).rejects.toMatchObject({ code: "conflict" });
        expect(await store.environments.getByEdgeId("missing")).toBeNull();
        expect(await store.environments.get(12345)).toBeNull();
      }));

    it("records a batch of check-ins, never moving one backwards and skipping removed devices", () =>
      withStore(async (store) => {
        const [a, b, c] = await Promise.all(["a", "b", "c"].map((name) => store.environments.create({ name, type: "edge-agent", edgeId: name })));
        if (a === undefined || b === undefined || c === undefined) throw new Error("setup failed");
        const t1 = new Date("2026-03-01T10:00:00.000Z");
        const t2 = new Date("2026-03-01T10:00:05.000Z");
        await store.environments.recordCheckIns([
          { id: a.id, at: t2 },
          { id: b.id, at: t1 },
          { id: 999, at: t2 },
        ]);
        await store.environments.recordCheckIns([
          { id: a.id, at: t1 },
          { id: b.id, at: t2 },
        ]);
        await store.environments.recordCheckIns([]);
        expect((await store.environments.get(a.id))?.lastCheckInAt).toEqual(t2);
        expect((await store.environments.get(b.id))?.lastCheckInAt).toEqual(t2);
        expect((await store.environments.get(c.id))?.lastCheckInAt).toBeNull();
      }));
  });

  describe("users and access tokens", () => {
    it("finds users by name regardless of case and refuses duplicates", () =>
      withStore(async (store) => {
        expect(await store.users.count()).toBe(0);
        const admin = await store.users.create({ username: "Admin", passwordHash: "scrypt$1" });
        expect(admin).toMatchObject({ id: 1, username: "Admin", role: "admin" });
        expect(admin.createdAt).toBeInstanceOf(Date);
        expect(await store.users.getByUsername("admin")).toEqual(admin);
        expect(await store.users.get(admin.id)).toEqual(admin);
        expect(await store.users.getByUsername("nobody")).toBeNull();
        await expect(store.users.create({ username: "ADMIN", passwordHash: "scrypt$2" })).rejects.toMatchObject({ code: "conflict", message: 'A user named "ADMIN" already exists.' });
        expect(await store.users.count()).toBe(1);
      }));

    it("creates the first user only while there is none, also from two connections to one database", () =>
      withStore(async (store, target) => {
        await using other = await engine.open(target);
        const results = await Promise.all([store.users.createFirst({ username: "admin", passwordHash: "scrypt$1" }), other.users.createFirst({ username: "root", passwordHash: "scrypt$2" })]);
        // Either may win (PostgreSQL does not keep the call order); exactly one does.
        const created = results.filter((user) => user !== null);
        expect(created).toHaveLength(1);
        expect(created[0]).toMatchObject({ id: 1 });
        expect(await other.users.createFirst({ username: "late", passwordHash: "scrypt$3" })).toBeNull();
        expect(await store.users.count()).toBe(1);
        expect(await store.users.setPasswordHash(1, "scrypt$new")).toBe(true);
        expect((await other.users.get(1))?.passwordHash).toBe("scrypt$new");
        expect(await store.users.setPasswordHash(99, "scrypt$new")).toBe(false);
      }));

    it("stores, finds, touches, lists and deletes access tokens", () =>
      withStore(async (store) => {
        const alice = await store.users.create({ username: "alice", passwordHash: "x" });
        const bob = await store.users.create({ username: "bob", passwordHash: "x" });
        const ci = await store.apiTokens.create({ userId: alice.id, description: "ci", tokenHash: "aa".repeat(32), prefix: "pier_aaaaaaaa", scope: "admin", expiresAt: new Date(Date.now() + 86_400_000) });
        const backup = await store.apiTokens.create({ userId: bob.id, description: "backup", tokenHash: "bb".repeat(32), prefix: "pier_bbbbbbbb", scope: "admin", expiresAt: new Date(Date.now() + 86_400_000) });
        expect(ci).toMatchObject({ userId: alice.id, description: "ci", lastUsedAt: null });
        expect(ci.createdAt).toBeInstanceOf(Date);

        const usedAt = new Date("2026-04-05T06:07:08.009Z");
        await store.apiTokens.touch(ci.id, usedAt);
        expect(await store.apiTokens.findByHash("aa".repeat(32))).toEqual({ ...ci, lastUsedAt: usedAt });
        expect(await store.apiTokens.findByHash("cc".repeat(32))).toBeNull();
        expect((await store.apiTokens.list()).map((t) => t.id)).toEqual([ci.id, backup.id]);
        expect((await store.apiTokens.list({ userId: bob.id })).map((t) => t.id)).toEqual([backup.id]);
        expect(await store.apiTokens.delete(ci.id)).toBe(true);
        expect(await store.apiTokens.delete(ci.id)).toBe(false);
        expect(await store.apiTokens.findByHash("aa".repeat(32))).toBeNull();
        await expect(store.apiTokens.create({ userId: 42, description: "", tokenHash: "dd".repeat(32), prefix: "pier_", scope: "admin", expiresAt: new Date(Date.now() + 86_400_000) })).rejects.toMatchObject({ code: "not_found", message: "User 42 does not exist." });
      }));
  });

  describe("settings", () => {
    it("starts from the defaults and applies partial updates", () =>
      withStore(async (store) => {
        expect(await store.settings.get()).toEqual({ edgeComputeEnabled: true, edgeAgentCheckinInterval: 5, trustOnFirstConnect: false });
        expect(await store.settings.get()).toEqual(defaultSettings);

        expect(await store.settings.update({ edgeAgentCheckinInterval: 30, edgePortainerUrl: "https://pier.example.com:9443" })).toEqual({
          edgeComputeEnabled: true,
          edgeAgentCheckinInterval: 30,
          trustOnFirstConnect: false,
          edgePortainerUrl: "https://pier.example.com:9443",
        });
        await store.settings.update({ trustOnFirstConnect: true, edgeTunnelServerAddress: "pier.example.com:8000" });
        expect(await store.settings.get()).toEqual({
          edgeComputeEnabled: true,
          edgeAgentCheckinInterval: 30,
          trustOnFirstConnect: true,
          edgePortainerUrl: "https://pier.example.com:9443",
          edgeTunnelServerAddress: "pier.example.com:8000",
        });
        // null removes an optional field; undefined keeps it.
        expect(await store.settings.update({ edgePortainerUrl: null, edgeTunnelServerAddress: undefined })).toEqual({
          edgeComputeEnabled: true,
          edgeAgentCheckinInterval: 30,
          trustOnFirstConnect: true,
          edgeTunnelServerAddress: "pier.example.com:8000",
        });
      }));

    it("refuses out-of-range values and unknown names, changing nothing", () =>
      withStore(async (store) => {
        await store.settings.update({ edgeAgentCheckinInterval: 10 });
        await expect(store.settings.update({ edgeAgentCheckinInterval: 0 })).rejects.toMatchObject({ code: "bad_request", field: "edgeAgentCheckinInterval" });
        await expect(store.settings.update({ edgeAgentCheckinInterval: 2.5, trustOnFirstConnect: true })).rejects.toMatchObject({ code: "bad_request" });
        await expect(store.settings.update({ edgePortainerUrl: "ftp://example.com" })).rejects.toMatchObject({ field: "edgePortainerUrl" });
        await expect(store.settings.update({ edgeTunnelServerAddress: "no-port" })).rejects.toMatchObject({ field: "edgeTunnelServerAddress" });
        await expect(store.settings.update({ EdgeAgentCheckinInterval: 5 } as never)).rejects.toMatchObject({ message: 'Unknown setting "EdgeAgentCheckinInterval".' });
        expect(await store.settings.get()).toEqual({ ...defaultSettings, edgeAgentCheckinInterval: 10 });
      }));
  });

  describe("audit trail", () => {
    it("lists newest first, ties broken by insertion order, filtered by environment and limited", () =>
      withStore(async (store) => {
        const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second));
        const old = await store.audit.append({ kind: "enrolled", at: at(1), environmentId: 1, edgeId: "a", sourceAddress: "192.0.2.1", detail: { key: "fleet" } });
        const newest = await store.audit.append({ kind: "refused_tls", at: at(9), detail: { reason: "certificate has expired" } });
        const middle = await store.audit.append({ kind: "associated", at: at(5), environmentId: 1 });
        const sameTime = await store.audit.append({ kind: "identity_conflict", at: at(5), environmentId: 2, edgeId: "b" });

        expect(old).toEqual({ id: 1, at: at(1), environmentId: 1, edgeId: "a", kind: "enrolled", sourceAddress: "192.0.2.1", actor: null, detail: { key: "fleet" }, prevHash: "0".repeat(64), hash: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown });
        expect(newest).toMatchObject({ environmentId: null, edgeId: null, sourceAddress: null });
        expect(middle.detail).toEqual({});
        expect((await store.audit.list()).map((e) => e.id)).toEqual([newest.id, sameTime.id, middle.id, old.id]);
        expect((await store.audit.list({ environmentId: 1 })).map((e) => e.id)).toEqual([middle.id, old.id]);
        expect((await store.audit.list({ limit: 2 })).map((e) => e.id)).toEqual([newest.id, sameTime.id]);
        expect(await store.audit.list({ environmentId: 3 })).toEqual([]);
        await expect(store.audit.list({ limit: 0 })).rejects.toMatchObject({ code: "bad_request" });
      }));
  });

  describe("Docker snapshots", () => {
    it("keeps the latest snapshot per environment, with its time as a Date", () =>
      withStore(async (store) => {
        const a = await store.environments.create({ name: "a", type: "edge-agent", edgeId: "a" });
        const b = await store.environments.create({ name: "b", type: "edge-agent", edgeId: "b" });
        expect(await store.snapshots.get(a.id)).toBeNull();

        const first = sampleSnapshot();
        const t1 = new Date("2026-03-01T10:00:01.234Z");
        await put(store, a.id, first, t1);
        expect(await store.snapshots.get(a.id)).toEqual({ at: t1, snapshot: first });
        expect((await store.snapshots.get(a.id))?.at).toBeInstanceOf(Date);
        expect(await store.snapshots.get(b.id)).toBeNull();

        const second = sampleSnapshot({ containers: [], engine: { ...first.engine, version: "28.0.0" } });
        const t2 = new Date("2026-03-01T10:05:00.000Z");
        await put(store, a.id, second, t2);
        expect(await store.snapshots.get(a.id)).toEqual({ at: t2, snapshot: second });
      }));

    it("goes with its environment, and refuses one for an environment that does not exist", () =>
      withStore(async (store, target) => {
        const environment = await store.environments.create({ name: "a", type: "edge-agent", edgeId: "a" });
        await put(store, environment.id, sampleSnapshot(), new Date());
        expect(await store.environments.delete(environment.id)).toBe(true);
        expect(await store.snapshots.get(environment.id)).toBeNull();
        expect(await engine.sql(target, "SELECT environment_id FROM snapshots")).toEqual([]);
        await expect(put(store, environment.id, sampleSnapshot(), new Date())).rejects.toMatchObject({ code: "not_found", message: `Environment ${environment.id} does not exist.` });
      }));

    it("refuses a snapshot the protocol would refuse, naming the field, and an invalid time", () =>
      withStore(async (store) => {
        const environment = await store.environments.create({ name: "a", type: "edge-agent", edgeId: "a" });
        const broken = { ...sampleSnapshot(), host: { name: "x", cpus: -1, memoryBytes: 1 } };
        await expect(put(store, environment.id, broken, new Date())).rejects.toMatchObject({ code: "bad_request", field: "host.cpus" });
        await expect(put(store, environment.id, sampleSnapshot(), new Date(Number.NaN))).rejects.toMatchObject({ code: "bad_request", field: "at" });
        expect(await store.snapshots.get(environment.id)).toBeNull();
      }));

    it("reports a stored document that no longer fits the schema as unreadable", () =>
      withStore(async (store, target) => {
        const environment = await store.environments.create({ name: "a", type: "edge-agent", edgeId: "a" });
        await put(store, environment.id, sampleSnapshot(), new Date());
        await engine.sql(target, "UPDATE snapshots SET json = ? WHERE environment_id = ?", [JSON.stringify({ engine: {} }), environment.id]);
        await expect(store.snapshots.get(environment.id)).rejects.toMatchObject({ code: "store_failed", message: containing("unreadable value (snapshot field collectedAt)") });
      }));
  });
});
