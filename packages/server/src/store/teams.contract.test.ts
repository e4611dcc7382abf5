import { expect, it } from "vitest";
import { ServerError } from "../errors.ts";
import { describeOnEngines } from "./store-engines.testkit.ts";

const codeOf = (promise: Promise<unknown>) => promise.then(() => "resolved", (error: unknown) => (error instanceof ServerError ? `${error.code} ${error.field ?? ""}`.trim() : String(error)));

/** Teams (migration 19) on SQLite and on PostgreSQL (store-engines.testkit.ts). */
describeOnEngines("teams", (engine) => {
  it("keeps members and edge groups, names unique case-insensitively, refuses unknown users and groups", async () => {
    await using store = await engine.open();
    const admin = await store.users.create({ username: "admin", passwordHash: "x" });
    const olga = await store.users.create({ username: "olga", passwordHash: "x", role: "operator" });
    const hugo = await store.users.create({ username: "hugo", passwordHash: "x", role: "helpdesk" });
    const north = await store.edgeGroups.create({ name: "north", dynamic: false, partialMatch: false, tagIds: [], environmentIds: [] });
    const south = await store.edgeGroups.create({ name: "south", dynamic: false, partialMatch: false, tagIds: [], environmentIds: [] });

    const a = await store.teams.create({ name: "Team A", userIds: [olga.id, hugo.id, olga.id], edgeGroupIds: [south.id, north.id] }, new Date(1000));
    expect(a).toEqual({ id: 1, name: "Team A", userIds: [olga.id, hugo.id], edgeGroupIds: [north.id, south.id], createdAt: new Date(1000) });
    const b = await store.teams.create({ name: "b", userIds: [olga.id], edgeGroupIds: [south.id] });
    expect(await codeOf(store.teams.create({ name: "TEAM a", userIds: [], edgeGroupIds: [] }))).toBe("conflict Name");
    expect(await codeOf(store.teams.create({ name: "c", userIds: [999], edgeGroupIds: [] }))).toBe("bad_request UserIds");
    expect(await codeOf(store.teams.create({ name: "c", userIds: [], edgeGroupIds: [999] }))).toBe("bad_request EdgeGroupIds");
    // The refused creations left nothing behind.
    expect((await store.teams.list()).map((team) => team.name)).toEqual(["Team A", "b"]);

    expect(await store.teams.get(a.id)).toEqual(a);
    expect(await store.teams.get(999)).toBeNull();
    expect((await store.teams.ofUser(olga.id)).map((team) => team.id)).toEqual([a.id, b.id]);
    expect(await store.teams.ofUser(admin.id)).toEqual([]);
    expect(await store.teams.edgeGroupsOfUser(olga.id)).toEqual([north.id, south.id]);
    expect(await store.teams.edgeGroupsOfUser(hugo.id)).toEqual([north.id, south.id]);
    expect(await store.teams.edgeGroupsOfUser(admin.id)).toEqual([]);

    const renamed = await store.teams.update(a.id, { name: "Team North", userIds: [hugo.id], edgeGroupIds: [north.id] });
    expect(renamed).toMatchObject({ id: a.id, name: "Team North", userIds: [hugo.id], edgeGroupIds: [north.id], createdAt: new Date(1000) });
    expect(await store.teams.edgeGroupsOfUser(olga.id)).toEqual([south.id]);
    expect(await codeOf(store.teams.update(a.id, { name: "B", userIds: [], edgeGroupIds: [] }))).toBe("conflict Name");
    expect(await codeOf(store.teams.update(a.id, { name: "x", userIds: [999], edgeGroupIds: [] }))).toBe("bad_request UserIds");
    expect(await codeOf(store.teams.update(999, { name: "x", userIds: [], edgeGroupIds: [] }))).toBe("not_found");
    // A refused update is rolled back whole.
    expect(await store.teams.get(a.id)).toEqual(renamed);

    expect(await store.teams.delete(b.id)).toBe(true);
    expect(await store.teams.delete(b.id)).toBe(false);
    expect(await store.teams.edgeGroupsOfUser(olga.id)).toEqual([]);
  });

  it("scopes the environment page and single lookups to the groups' members, waiting devices as if associated", async () => {
    await using store = await engine.open();
    const create = async (name: string, userTrusted = true) => (await store.environments.create({ name, type: "edge-agent", edgeId: name, userTrusted })).id;
    const [fixed, both, onlyX, waiting, elsewhere] = [await create("fixed"), await create("both"), await create("only-x"), await create("waiting", false), await create("elsewhere")];
    const x = await store.tags.create("x");
    const y = await store.tags.create("y");
    await store.tags.setEnvironmentTags(both, [x.id, y.id]);
    await store.tags.setEnvironmentTags(onlyX, [x.id]);
    await store.tags.setEnvironmentTags(waiting, [x.id, y.id]);
    const group = (name: string, dynamic: boolean, partialMatch: boolean, tagIds: number[], environmentIds: number[]) => store.edgeGroups.create({ name, dynamic, partialMatch, tagIds, environmentIds });
    const staticGroup = await group("static", false, false, [], [fixed]);
    const allTags = await group("all", true, false, [x.id, y.id], []);
    const anyTag = await group("any", true, true, [y.id], []);
    const noTags = await group("none", true, false, [], []);

    const page = async (scopeEdgeGroupIds: readonly number[]) => {
      const answer = await store.environments.page({ scopeEdgeGroupIds });
      return { ids: answer.items.map((item) => item.id), total: answer.total };
    };
    expect(await page([staticGroup.id, allTags.id])).toEqual({ ids: [fixed, both, waiting], total: 3 });
    expect(await page([anyTag.id])).toEqual({ ids: [both, waiting], total: 2 });
    expect(await page([noTags.id])).toEqual({ ids: [], total: 0 });
    expect(await page([])).toEqual({ ids: [], total: 0 });
    expect((await store.environments.page({ scopeEdgeGroupIds: [staticGroup.id, allTags.id], waiting: true })).items.map((item) => item.id)).toEqual([waiting]);
    expect((await store.environments.page({})).total).toBe(5);

    expect(await store.teams.environmentInGroups(both, [allTags.id])).toBe(true);
    expect(await store.teams.environmentInGroups(onlyX, [allTags.id, staticGroup.id])).toBe(false);
    expect(await store.teams.environmentInGroups(elsewhere, [])).toBe(false);
    expect(await store.teams.environmentsInGroups([fixed, both, onlyX, waiting, elsewhere], [staticGroup.id, anyTag.id])).toEqual(new Set([fixed, both, waiting]));
  });

  it("forgets a deleted user or edge group in every team", async () => {
    await using store = await engine.open();
    await store.users.create({ username: "admin", passwordHash: "x" });
    const olga = await store.users.create({ username: "olga", passwordHash: "x", role: "operator" });
    const hugo = await store.users.create({ username: "hugo", passwordHash: "x", role: "helpdesk" });
    const north = await store.edgeGroups.create({ name: "north", dynamic: false, partialMatch: false, tagIds: [], environmentIds: [] });
    const south = await store.edgeGroups.create({ name: "south", dynamic: false, partialMatch: false, tagIds: [], environmentIds: [] });
    const team = await store.teams.create({ name: "ops", userIds: [olga.id, hugo.id], edgeGroupIds: [north.id, south.id] });

    expect(await store.users.delete(olga.id)).toBe(true);
    expect(await store.edgeGroups.delete(north.id)).toBe(true);
    expect(await store.teams.get(team.id)).toMatchObject({ userIds: [hugo.id], edgeGroupIds: [south.id] });
    expect(await store.teams.edgeGroupsOfUser(olga.id)).toEqual([]);
  });
});
