import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ServerError } from "../errors.ts";
import { openStore } from "../store/open-store.ts";
import type { SqlStore } from "../store/sql-store.ts";
import { type TempDir, tempDir } from "../store/temp-dir.testkit.ts";
import { EdgeGroupRequests } from "./edge-group-requests.ts";
import { EdgeGroupService } from "./edge-groups.ts";
import type { FleetChanges } from "./fleet-contracts.ts";
import { TagService } from "./tags.ts";

/**
 * Stand-in for the desired-state service (H3's, which pushes to devices): records which
 * environments each write said changed, which is all these services owe it.
 */
class RecordedChanges implements FleetChanges {
  readonly calls: (readonly number[] | "all")[] = [];
  changed(environmentIds: readonly number[] | "all"): Promise<void> {
    this.calls.push(environmentIds === "all" ? "all" : [...environmentIds]);
    return Promise.resolve();
  }
  take(): (readonly number[] | "all")[] {
    return this.calls.splice(0);
  }
}

const codeOf = (promise: Promise<unknown>) => promise.then(() => "resolved", (error: unknown) => (error instanceof ServerError ? `${error.code}: ${error.message}` : String(error)));

describe("tag and edge group services: membership changes and the groups stacks and jobs use", () => {
  let dir: TempDir;
  let store: SqlStore;
  let changes: RecordedChanges;
  let tags: TagService;
  let groups: EdgeGroupService;

  beforeEach(async () => {
    dir = tempDir("fleet-groups");
    store = await openStore({ path: dir.file("pier.db") });
    changes = new RecordedChanges();
    tags = new TagService({ store, changes });
    groups = new EdgeGroupService({ store, tags, changes });
  });
  afterEach(async () => {
    await store.close();
    await dir[Symbol.asyncDispose]();
  });

  const trusted = async (name: string) => (await store.environments.create({ name, type: "edge-agent", userTrusted: true })).id;

  it("keeps the 1,000-tag limit under concurrent creates: one of eight racing for the last place wins (chaos suite, server-crash)", async () => {
    // Before: each create counted, then inserted; eight counts of 999 let all eight in (1,007 tags).
    for (let i = 0; i < 999; i++) await store.tags.create(`bulk-${i}`);
    const outcomes = await Promise.all(Array.from({ length: 8 }, (_, i) => codeOf(tags.create(`racing-${i}`, "admin"))));
    expect(outcomes.filter((outcome) => outcome === "resolved")).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome.startsWith("conflict: There are already 1000 tags"))).toHaveLength(7);
    expect(await store.tags.count()).toBe(1_000);
  });

  it("says which environments changed after each write that moves membership, and nothing after one that does not", async () => {
    const [one, two, three] = [await trusted("one"), await trusted("two"), await trusted("three")];
    const x = await tags.create("x", "admin");
    const y = await tags.create("y", "admin");
    expect(changes.take()).toEqual([]);

    await tags.setEnvironmentTags(one, [x.id, y.id], "admin");
    await tags.setEnvironmentTags(two, [x.id], "admin");
    expect(changes.take()).toEqual([[one], [two]]);
    // The same tags again: no change, no recomputation.
    await tags.setEnvironmentTags(two, [x.id], "admin");
    expect(changes.take()).toEqual([]);

    const fixed = await groups.create({ name: "fixed", dynamic: false, partialMatch: false, tagIds: [], environmentIds: [three] }, "admin");
    expect(changes.take()).toEqual([[three]]);
    const all = await groups.create({ name: "all", dynamic: true, partialMatch: false, tagIds: [x.id, y.id], environmentIds: [] }, "admin");
    expect(all.members).toEqual([one]);
    expect(changes.take()).toEqual([[one]]);

    // Static [three] becomes dynamic "any x": three leaves, one and two join.
    await groups.update(fixed.group.id, { name: "fixed", dynamic: true, partialMatch: true, tagIds: [x.id], environmentIds: [] }, "admin");
    expect(changes.take()).toEqual([[one, two, three]]);

    // Deleting y widens "all" (x alone): one stays, two joins — both recomputed.
    await tags.delete(y.id, "admin");
    expect(changes.take()).toEqual([[one, two]]);
    expect((await groups.get(all.group.id)).members).toEqual([one, two]);

    await groups.delete(all.group.id, "admin");
    expect(changes.take()).toEqual([[one, two]]);
  });

  it("refuses to delete a group an edge stack or job uses, naming them, and shows HasEdgeStack / HasEdgeJob", async () => {
    const group = await groups.create({ name: "used", dynamic: false, partialMatch: false, tagIds: [], environmentIds: [] }, "admin");
    // Stand-ins for H2's stacks and H6's jobs saying which groups they use.
    const stackUsers = new Map<number, string[]>([[group.group.id, ["web"]]]);
    const jobUsers = new Map<number, string[]>();
    groups.registerUsers("stack", () => Promise.resolve(stackUsers));
    groups.registerUsers("job", () => Promise.resolve(jobUsers));
    expect(await groups.get(group.group.id)).toMatchObject({ stacks: ["web"], jobs: [] });
    expect(await codeOf(groups.delete(group.group.id, "admin"))).toBe('conflict: Edge group "used" is used by edge stack "web"; it cannot be deleted.');
    stackUsers.clear();
    jobUsers.set(group.group.id, ["cleanup"]);
    expect(await codeOf(groups.delete(group.group.id, "admin"))).toContain('edge job "cleanup"');
    jobUsers.clear();
    expect(await codeOf(groups.delete(group.group.id, "admin"))).toBe("resolved");
    expect(await store.edgeGroups.get(group.group.id)).toBeNull();
  });

  it("association applies the request to static groups (any case), reports the rest, forgets it and recomputes the device", async () => {
    const requests = new EdgeGroupRequests({ store, changes });
    const sites = await groups.create({ name: "Sites", dynamic: false, partialMatch: false, tagIds: [], environmentIds: [] }, "admin");
    const tag = await tags.create("t", "admin");
    await groups.create({ name: "dyn", dynamic: true, partialMatch: false, tagIds: [tag.id], environmentIds: [] }, "admin");
    changes.take();
    const device = await store.environments.create({ name: "d", type: "edge-agent", edgeId: "d" });
    await requests.heard(device, ["sites", "dyn", "nope"], true);
    expect(await store.edgeGroups.requestsOf([device.id])).toEqual(new Map([[device.id, ["sites", "dyn", "nope"]]]));
    // A waiting device is in no group and nothing is recomputed for it yet.
    expect(changes.take()).toEqual([]);
    await store.environments.update(device.id, { userTrusted: true });
    const outcome = await requests.associated(device.id, "admin", "d");
    expect(outcome).toEqual({ applied: [sites.group.id], notApplied: [{ name: "dyn", reason: "dynamic" }, { name: "nope", reason: "unknown" }] });
    expect(await store.edgeGroups.groupsOf(device.id)).toEqual([sites.group.id]);
    expect(await store.edgeGroups.requestsOf([device.id])).toEqual(new Map());
    expect(changes.take()).toEqual([[device.id]]);

    // A device enrolled associated at once (trust on first connect) has its request applied at its hello.
    const trustedAtOnce = await store.environments.create({ name: "t", type: "edge-agent", edgeId: "t", userTrusted: true });
    await requests.heard(trustedAtOnce, ["SITES"], true);
    expect(await store.edgeGroups.groupsOf(trustedAtOnce.id)).toEqual([sites.group.id]);
    expect(changes.take()).toEqual([[trustedAtOnce.id]]);
    // Its later hellos change nothing.
    await requests.heard(trustedAtOnce, ["other"], false);
    expect(await store.edgeGroups.requestsOf([trustedAtOnce.id])).toEqual(new Map());
  });
});
