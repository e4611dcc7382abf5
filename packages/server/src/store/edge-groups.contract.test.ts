import { expect, it } from "vitest";
import { ServerError } from "../errors.ts";
import { describeOnEngines } from "./store-engines.testkit.ts";
import type { Store } from "./store.ts";

async function environments(store: Store, count: number, trusted = true) {
  const created = [];
  for (let i = 0; i < count; i++) created.push(await store.environments.create({ name: `device-${i}`, type: "edge-agent", userTrusted: trusted }));
  return created.map((environment) => environment.id);
}

const codeOf = (promise: Promise<unknown>) => promise.then(() => "resolved", (error: unknown) => (error instanceof ServerError ? error.code : String(error)));

describeOnEngines("tags and edge groups", (engine) => {
  it("tags: names unique case-insensitively, set on an environment, removed everywhere when deleted", async () => {
    await using store = await engine.open();
    const production = await store.tags.create("production");
    const berlin = await store.tags.create("Berlin");
    expect(await codeOf(store.tags.create("PRODUCTION"))).toBe("conflict");
    expect(await store.tags.list()).toEqual([production, berlin]);
    expect(await store.tags.count()).toBe(2);

    const [a, b] = await environments(store, 2);
    if (a === undefined || b === undefined) throw new Error("not created");
    expect(await store.tags.setEnvironmentTags(a, [berlin.id, production.id, berlin.id])).toEqual([]);
    expect(await store.tags.setEnvironmentTags(b, [berlin.id])).toEqual([]);
    expect(await store.tags.tagsOf([a, b])).toEqual(new Map([[a, [production.id, berlin.id]], [b, [berlin.id]]]));
    expect(await store.tags.setEnvironmentTags(a, [production.id])).toEqual([production.id, berlin.id]);
    expect(await codeOf(store.tags.setEnvironmentTags(a, [999]))).toBe("bad_request");
    expect(await codeOf(store.tags.setEnvironmentTags(999, [production.id]))).toBe("not_found");
    // The refused write left the tags as they were.
    expect((await store.tags.tagsOf([a])).get(a)).toEqual([production.id]);

    const rule = await store.edgeGroups.create({ name: "rule", dynamic: true, partialMatch: false, tagIds: [production.id, berlin.id], environmentIds: [] });
    expect(await store.tags.delete(production.id)).toBe(true);
    expect(await store.tags.delete(production.id)).toBe(false);
    expect((await store.tags.tagsOf([a])).has(a)).toBe(false);
    expect((await store.edgeGroups.get(rule.id))?.tagIds).toEqual([berlin.id]);
  });

  it("membership: static (associated members only), dynamic all tags, dynamic any tag; waiting devices are never members", async () => {
    await using store = await engine.open();
    const [one, two, three] = await environments(store, 3);
    const [waiting] = await environments(store, 1, false);
    if (one === undefined || two === undefined || three === undefined || waiting === undefined) throw new Error("not created");
    const x = await store.tags.create("x");
    const y = await store.tags.create("y");
    await store.tags.setEnvironmentTags(one, [x.id, y.id]);
    await store.tags.setEnvironmentTags(two, [x.id]);
    await store.tags.setEnvironmentTags(waiting, [x.id, y.id]);

    const fixed = await store.edgeGroups.create({ name: "Fixed", dynamic: false, partialMatch: false, tagIds: [x.id], environmentIds: [three, waiting, three] });
    const all = await store.edgeGroups.create({ name: "all", dynamic: true, partialMatch: false, tagIds: [x.id, y.id], environmentIds: [one] });
    const any = await store.edgeGroups.create({ name: "any", dynamic: true, partialMatch: true, tagIds: [x.id, y.id], environmentIds: [] });
    const empty = await store.edgeGroups.create({ name: "no tags", dynamic: true, partialMatch: false, tagIds: [], environmentIds: [] });
    // Static groups keep no rule, dynamic ones no members.
    expect(fixed).toMatchObject({ dynamic: false, tagIds: [], environmentIds: [three, waiting] });
    expect(all).toMatchObject({ dynamic: true, tagIds: [x.id, y.id], environmentIds: [] });

    expect(await store.edgeGroups.membersOf([fixed.id])).toEqual([three]);
    expect(await store.edgeGroups.membersOf([all.id])).toEqual([one]);
    expect(await store.edgeGroups.membersOf([any.id])).toEqual([one, two]);
    expect(await store.edgeGroups.membersOf([empty.id])).toEqual([]);
    expect(await store.edgeGroups.membersOf([fixed.id, all.id, any.id])).toEqual([one, two, three]);
    expect(await store.edgeGroups.membersOf([])).toEqual([]);
    expect(await store.edgeGroups.membersByGroup([fixed.id, all.id, any.id, empty.id])).toEqual(
      new Map([
        [fixed.id, [three]],
        [all.id, [one]],
        [any.id, [one, two]],
        [empty.id, []],
      ]),
    );
    expect(await store.edgeGroups.groupsOf(one)).toEqual([all.id, any.id]);
    expect(await store.edgeGroups.groupsOf(two)).toEqual([any.id]);
    expect(await store.edgeGroups.groupsOf(three)).toEqual([fixed.id]);
    // The waiting device carries both tags and is stored in the static group: still in none.
    expect(await store.edgeGroups.groupsOf(waiting)).toEqual([]);

    // Association makes it a member of all three at once; a tag removed drops it from the all-tags group.
    await store.environments.update(waiting, { userTrusted: true });
    expect(await store.edgeGroups.groupsOf(waiting)).toEqual([fixed.id, all.id, any.id]);
    await store.tags.setEnvironmentTags(waiting, [y.id]);
    expect(await store.edgeGroups.groupsOf(waiting)).toEqual([fixed.id, any.id]);
  });

  it("groups: names unique case-insensitively, update replaces rule and members, unknown ids refused, removal cascades", async () => {
    await using store = await engine.open();
    const [one, two] = await environments(store, 2);
    if (one === undefined || two === undefined) throw new Error("not created");
    const tag = await store.tags.create("t");
    const group = await store.edgeGroups.create({ name: "Sites", dynamic: false, partialMatch: false, tagIds: [], environmentIds: [one] });
    expect(await codeOf(store.edgeGroups.create({ name: "SITES", dynamic: false, partialMatch: false, tagIds: [], environmentIds: [] }))).toBe("conflict");
    expect(await codeOf(store.edgeGroups.create({ name: "bad tag", dynamic: true, partialMatch: false, tagIds: [999], environmentIds: [] }))).toBe("bad_request");
    expect(await codeOf(store.edgeGroups.create({ name: "bad env", dynamic: false, partialMatch: false, tagIds: [], environmentIds: [999] }))).toBe("bad_request");
    // A refused create left nothing behind.
    expect((await store.edgeGroups.list()).map((g) => g.name)).toEqual(["Sites"]);

    const other = await store.edgeGroups.create({ name: "other", dynamic: false, partialMatch: false, tagIds: [], environmentIds: [] });
    expect(await codeOf(store.edgeGroups.update(other.id, { name: "sites", dynamic: false, partialMatch: false, tagIds: [], environmentIds: [] }))).toBe("conflict");
    expect(await codeOf(store.edgeGroups.update(999, { name: "x", dynamic: false, partialMatch: false, tagIds: [], environmentIds: [] }))).toBe("not_found");

    await store.tags.setEnvironmentTags(two, [tag.id]);
    const updated = await store.edgeGroups.update(group.id, { name: "Sites 2", dynamic: true, partialMatch: true, tagIds: [tag.id], environmentIds: [one] });
    expect(updated).toMatchObject({ id: group.id, name: "Sites 2", dynamic: true, partialMatch: true, tagIds: [tag.id], environmentIds: [] });
    expect(await store.edgeGroups.membersOf([group.id])).toEqual([two]);
    expect((await store.edgeGroups.getByNames(["sites 2", "OTHER", "none"])).map((g) => g.id)).toEqual([group.id, other.id]);

    await store.edgeGroups.addStaticMembers(other.id, [one, two, one]);
    await store.edgeGroups.addStaticMembers(other.id, [two]);
    expect((await store.edgeGroups.get(other.id))?.environmentIds).toEqual([one, two]);
    expect(await codeOf(store.edgeGroups.addStaticMembers(other.id, [999]))).toBe("not_found");
    await store.environments.delete(one);
    expect((await store.edgeGroups.get(other.id))?.environmentIds).toEqual([two]);

    expect(await store.edgeGroups.delete(other.id)).toBe(true);
    expect(await store.edgeGroups.delete(other.id)).toBe(false);
    expect(await store.edgeGroups.get(other.id)).toBeNull();
  });

  it("requests: the names a device asked for, replaced, forgotten with [] and with the environment", async () => {
    await using store = await engine.open();
    const [one, two] = await environments(store, 2, false);
    if (one === undefined || two === undefined) throw new Error("not created");
    await store.edgeGroups.setRequest(one, ["sites", "lab"]);
    await store.edgeGroups.setRequest(two, ["lab"]);
    await store.edgeGroups.setRequest(two, ["lab", "new"]);
    expect(await store.edgeGroups.requestsOf([one, two])).toEqual(new Map([[one, ["sites", "lab"]], [two, ["lab", "new"]]]));
    await store.edgeGroups.setRequest(one, []);
    await store.environments.delete(two);
    expect(await store.edgeGroups.requestsOf([one, two])).toEqual(new Map());
  });

  it("environments.page filters by tags (every one listed) and by edge group, and counts what matches", async () => {
    await using store = await engine.open();
    const [one, two, three] = await environments(store, 3);
    const [waiting] = await environments(store, 1, false);
    if (one === undefined || two === undefined || three === undefined || waiting === undefined) throw new Error("not created");
    const x = await store.tags.create("x");
    const y = await store.tags.create("y");
    await store.tags.setEnvironmentTags(one, [x.id, y.id]);
    await store.tags.setEnvironmentTags(two, [x.id]);
    await store.tags.setEnvironmentTags(waiting, [x.id, y.id]);
    const ids = (page: { items: { id: number }[]; total: number }) => [page.items.map((item) => item.id), page.total];
    expect(ids(await store.environments.page({ tagIds: [x.id] }))).toEqual([[one, two, waiting], 3]);
    expect(ids(await store.environments.page({ tagIds: [x.id, y.id, x.id] }))).toEqual([[one, waiting], 2]);
    const any = await store.edgeGroups.create({ name: "any", dynamic: true, partialMatch: true, tagIds: [x.id, y.id], environmentIds: [] });
    const fixed = await store.edgeGroups.create({ name: "fixed", dynamic: false, partialMatch: false, tagIds: [], environmentIds: [three] });
    // Waiting devices are in no group, so not in its list either.
    expect(ids(await store.environments.page({ edgeGroupId: any.id, limit: 1, sort: "name", order: "desc" }))).toEqual([[two], 2]);
    expect(ids(await store.environments.page({ edgeGroupId: fixed.id }))).toEqual([[three], 1]);
    expect(ids(await store.environments.page({ edgeGroupId: any.id, tagIds: [y.id] }))).toEqual([[one], 1]);
    expect(ids(await store.environments.page({ edgeGroupId: 999 }))).toEqual([[], 0]);
  });

  it("membership stays one fast query with 10,000 environments", async () => {
    const target = await engine.cleanTarget();
    await using store = await engine.open(target);
    const x = await store.tags.create("x");
    const y = await store.tags.create("y");
    // Rows made by one statement each (through the store's API they would take minutes): ids
    // 1 to 10,000, every second one tagged x, every fourth x and y.
    const series = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)";
    await engine.sql(target, `${series} INSERT INTO environments (name, type, edge_key_environment, user_trusted, created_at) SELECT 'bulk-' || i, 'edge-agent', 0, 1, 0 FROM n`);
    await engine.sql(target, `${series} INSERT INTO environment_tags (environment_id, tag_id) SELECT i, ${x.id} FROM n WHERE i % 2 = 0`);
    await engine.sql(target, `${series} INSERT INTO environment_tags (environment_id, tag_id) SELECT i, ${y.id} FROM n WHERE i % 4 = 0`);
    const ids = Array.from({ length: 10_000 }, (_, i) => i + 1);
    const all = await store.edgeGroups.create({ name: "all", dynamic: true, partialMatch: false, tagIds: [x.id, y.id], environmentIds: [] });
    const fixed = await store.edgeGroups.create({ name: "fixed", dynamic: false, partialMatch: false, tagIds: [], environmentIds: ids });
    let started = performance.now();
    expect((await store.edgeGroups.membersOf([all.id])).length).toBe(2_500);
    expect((await store.edgeGroups.membersOf([all.id, fixed.id])).length).toBe(10_000);
    const membersMs = performance.now() - started;
    started = performance.now();
    expect(await store.edgeGroups.groupsOf(9_996)).toEqual([all.id, fixed.id]);
    expect(await store.edgeGroups.groupsOf(9_998)).toEqual([fixed.id]);
    const groupsMs = performance.now() - started;
    console.log(`[${engine.dialect}] membersOf (10,000 environments) ${membersMs.toFixed(1)} ms for two calls, groupsOf ${groupsMs.toFixed(1)} ms for two`);
    // Generous bounds for a loaded 2-core machine; a query per environment would take seconds.
    expect(membersMs).toBeLessThan(2_000);
    expect(groupsMs).toBeLessThan(200);
  }, 120_000);
});
