import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { SecretBox } from "../cluster/secret-box.ts";
import { openStore } from "../store/open-store.ts";
import type { Store } from "../store/store.ts";
import { type TempDir, tempDir } from "../store/temp-dir.testkit.ts";
import type { FleetChanges } from "./fleet-contracts.ts";
import { RegistryService, registryAddress, registrySecretBox } from "./registries.ts";

const password = "s3cret-registry-password";

describe("registryAddress", () => {
  it("takes host[:port] as image references name it", () => {
    for (const url of ["registry.example.com", "registry.example.com:5000", "10.0.0.5:5000", "localhost:5000", "[::1]:5000", "  lab:443 "]) expect(registryAddress(url)).toBe(url.trim());
  });

  it("refuses a scheme, a path, a bad port, a bad host or an empty value, naming URL", () => {
    const cases: [string, RegExp][] = [
      ["https://registry.example.com", /has a scheme/],
      ["registry.example.com/team", /has a path/],
      ["registry.example.com:70000", /outside 1–65535/],
      ["registry.example.com:0", /outside 1–65535/],
      ["bad_host!", /is not host\[:port\]/],
      ["-lead.example.com", /is not host\[:port\]/],
      ["   ", /is empty/],
      [`${"a".repeat(250)}.com:5000`, /at most 255/],
    ];
    for (const [url, message] of cases) expect(() => registryAddress(url), url).toThrow(expect.objectContaining({ code: "bad_request", field: "URL", message: expect.stringMatching(message) as unknown }));
  });
});

describe("RegistryService", () => {
  let dir: TempDir;
  let store: Store;
  const changed: (readonly number[] | "all")[] = [];
  const changes: FleetChanges = { changed: (ids) => (changed.push(ids), Promise.resolve()) };
  const logs: string[] = [];

  async function service(box: SecretBox, membersOf?: (ids: readonly number[]) => Promise<number[]>): Promise<RegistryService> {
    dir = tempDir("registries");
    store = await openStore({ path: dir.file("pier.db") });
    return new RegistryService({ store: store.registries, box, changes, log: (_, message) => logs.push(message), ...(membersOf ? { membersOf } : {}) });
  }
  afterEach(async () => {
    changed.length = 0;
    logs.length = 0;
    await store?.close();
    await dir?.[Symbol.asyncDispose]();
  });

  it("creates DATA/secrets/registry.key once (0600, 32 bytes), and a box from it opens what it sealed after a restart", () => {
    const data = tempDir("registry-key");
    try {
      const key = join(data.path, "secrets", "registry.key");
      expect(existsSync(key)).toBe(false);
      const sealedBy = registrySecretBox({ dataDir: data.path }).seal("registries/1/password", password);
      expect(statSync(key).mode & 0o777).toBe(0o600);
      expect(statSync(join(data.path, "secrets")).mode & 0o777).toBe(0o700);
      expect(statSync(key).size).toBe(32);
      expect(registrySecretBox({ dataDir: data.path }).open("registries/1/password", sealedBy).toString()).toBe(password);
      // With the cluster's box (replicas) no key file is made.
      const clusterBox = new SecretBox(Buffer.alloc(32, 7));
      const other = tempDir("registry-key-cluster");
      try {
        expect(registrySecretBox({ clusterBox, dataDir: other.path })).toBe(clusterBox);
        expect(existsSync(join(other.path, "secrets", "registry.key"))).toBe(false);
      } finally {
        void other[Symbol.asyncDispose]();
      }
    } finally {
      void data[Symbol.asyncDispose]();
    }
  });

  it("stores the password sealed (not in the row), answers without it, and unseals it for credentialsFor in the order asked", async () => {
    const registries = await service(new SecretBox(Buffer.alloc(32, 1)));
    const lab = await registries.create({ name: "lab", url: "registry.lab:5000", authentication: true, username: "ci", password });
    const open = await registries.create({ name: "mirror", url: "mirror.lab", authentication: false, username: "ignored", password: "ignored" });
    const other = await registries.create({ name: "other", url: "other.lab:443", authentication: true, username: "bot", password: "p2" });
    expect(lab).toEqual({ id: 1, name: "lab", url: "registry.lab:5000", authentication: true, username: "ci", createdAt: expect.any(Date) as unknown, updatedAt: expect.any(Date) as unknown });
    expect(open.username).toBe("");
    const row = await store.registries.get(lab.id);
    expect(row?.passwordSealed?.length).toBeGreaterThan(password.length);
    expect(row?.passwordSealed?.includes(Buffer.from(password))).toBe(false);
    expect(JSON.stringify(await registries.list())).not.toContain(password);
    expect(await registries.credentialsFor([other.id, open.id, lab.id, 99, lab.id])).toEqual([
      { serverAddress: "other.lab:443", username: "bot", password: "p2" },
      { serverAddress: "registry.lab:5000", username: "ci", password },
    ]);
    expect(await registries.credentialsFor([])).toEqual([]);
  });

  it("refuses authentication without a user name or a password", async () => {
    const registries = await service(new SecretBox(Buffer.alloc(32, 1)));
    await expect(registries.create({ name: "lab", url: "lab:5000", authentication: true, username: "ci" })).rejects.toMatchObject({ code: "bad_request", field: "Password" });
    await expect(registries.create({ name: "lab", url: "lab:5000", authentication: true, password })).rejects.toMatchObject({ code: "bad_request", field: "Username" });
    const plain = await registries.create({ name: "lab", url: "lab:5000", authentication: false });
    await expect(registries.update(plain.id, { authentication: true, username: "ci" })).rejects.toMatchObject({ code: "bad_request", field: "Password" });
    expect(await store.registries.list()).toHaveLength(1);
  });

  it("an update keeps the password unless given, and recomputes the members of the groups of the stacks naming it", async () => {
    const asked: (readonly number[])[] = [];
    const registries = await service(new SecretBox(Buffer.alloc(32, 1)), (groupIds) => (asked.push(groupIds), Promise.resolve([11, 12])));
    const lab = await registries.create({ name: "lab", url: "registry.lab:5000", authentication: true, username: "ci", password });
    // No stack names it: nobody to recompute.
    await registries.update(lab.id, { name: "lab-renamed" });
    expect(changed).toEqual([[]]);
    expect(await registries.credentialsFor([lab.id])).toEqual([{ serverAddress: "registry.lab:5000", username: "ci", password }]);
    // A stack in groups 3 and 4 names it (stand-in rows for H2's edge stack store).
    await insertStack(dir.file("pier.db"), { id: 5, name: "web", registryId: lab.id, groupIds: [3, 4] });
    await registries.update(lab.id, { password: "rotated", username: "ci2" });
    expect(asked).toEqual([[3, 4]]);
    expect(changed.at(-1)).toEqual([11, 12]);
    expect(await registries.credentialsFor([lab.id])).toEqual([{ serverAddress: "registry.lab:5000", username: "ci2", password: "rotated" }]);
    await expect(registries.delete(lab.id)).rejects.toMatchObject({ code: "conflict", message: 'The registry 1 is used by the edge stack(s) "web" (5); it was not deleted.' });
    await expect(registries.update(99, { name: "x" })).rejects.toMatchObject({ code: "not_found" });
  });

  it("leaves out (and logs, without the password) a credential sealed under another secret", async () => {
    const registries = await service(new SecretBox(Buffer.alloc(32, 1)));
    const lab = await registries.create({ name: "lab", url: "registry.lab:5000", authentication: true, username: "ci", password });
    const elsewhere = new RegistryService({ store: store.registries, box: new SecretBox(Buffer.alloc(32, 2)), changes, log: (_, message) => logs.push(message) });
    expect(await elsewhere.credentialsFor([lab.id])).toEqual([]);
    expect(logs.join("\n")).toContain("registry 1 (lab): cannot unseal its password");
    expect(logs.join("\n")).not.toContain(password);
  });
});

/** A stand-in for H2's edge stack store: the rows a stack naming a registry leaves (migration 12's tables). */
async function insertStack(path: string, stack: { id: number; name: string; registryId: number; groupIds: number[] }): Promise<void> {
  const { DatabaseSync } = await import("node:sqlite");
  const db = new DatabaseSync(path);
  try {
    db.prepare("INSERT INTO edge_stacks (id, name, version, deployment_type, created_at, updated_at) VALUES (?, ?, 1, 0, 0, 0)").run(stack.id, stack.name);
    db.prepare("INSERT INTO edge_stack_registries (stack_id, registry_id) VALUES (?, ?)").run(stack.id, stack.registryId);
    for (const groupId of stack.groupIds) db.prepare("INSERT INTO edge_stack_groups (stack_id, group_id) VALUES (?, ?)").run(stack.id, groupId);
  } finally {
    db.close();
  }
}
