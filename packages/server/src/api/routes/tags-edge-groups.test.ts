import { join } from "node:path";
import { CertificateAuthority } from "@pier/pki";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestAgent } from "../../edge/test-agent.testkit.ts";
import type { RunningServer } from "../../server.ts";
import { type TempDir, tempDir } from "../../store/temp-dir.testkit.ts";
import { startAdminServer } from "../admin-server.testkit.ts";
import type { ApiClient } from "../api-client.testkit.ts";

const password = "correct horse battery staple";

/** Tags, edge groups, environment tags and EDGE_GROUPS through the API of a real server on loopback. */
describe("tags and edge groups API", () => {
  let dir: TempDir;
  let server: RunningServer;
  let api: ApiClient;
  let ca: string;

  beforeAll(async () => {
    dir = tempDir("tags-api");
    ({ server, api } = await startAdminServer(dir, password));
    ca = CertificateAuthority.open(join(dir.file("data"), "ca")).certificatePem;
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await dir?.[Symbol.asyncDispose]();
  });

  const trusted = async (name: string) => (await server.store.environments.create({ name, type: "edge-agent", userTrusted: true })).id;
  const list = (answer: { json: unknown }) => answer.json as Record<string, unknown>[];

  it("answers 401 without a login on every new route", async () => {
    const routes: [string, string][] = [
      ["POST", "/api/tags"],
      ["GET", "/api/tags"],
      ["DELETE", "/api/tags/1"],
      ["POST", "/api/edge_groups"],
      ["GET", "/api/edge_groups"],
      ["GET", "/api/edge_groups/1"],
      ["PUT", "/api/edge_groups/1"],
      ["DELETE", "/api/edge_groups/1"],
    ];
    for (const [method, path] of routes) {
      const answer = await api.call(method, path, { token: null, ...(method === "POST" || method === "PUT" ? { body: { Name: "x", Dynamic: false } } : {}) });
      expect(answer.status, `${method} ${path}`).toBe(401);
    }
    // Precondition: the same route answers a logged-in user.
    expect((await api.call("GET", "/api/tags")).status).toBe(200);
  });

  it("tags: Portainer's {ID, Name}, 409 for a taken name (any case), 400 for a bad name, 204 then 404 on delete", async () => {
    const created = await api.call("POST", "/api/tags", { body: { Name: "production" } });
    expect(created.status, created.text).toBe(200);
    expect(created.json).toEqual({ ID: expect.any(Number) as unknown, Name: "production" });
    const id = created.json["ID"] as number;
    const taken = await api.call("POST", "/api/tags", { body: { Name: "PRODUCTION" } });
    expect(taken.status).toBe(409);
    expect(taken.json).toMatchObject({ code: "conflict", field: "Name", fix: expect.any(String) as unknown });
    for (const bad of ["", "   ", "x".repeat(129)]) {
      const answer = await api.call("POST", "/api/tags", { body: { Name: bad } });
      expect(answer.status, JSON.stringify(bad)).toBe(400);
      expect(answer.json["field"]).toBe("Name");
    }
    // 128 characters is the most, and allowed.
    const longest = await api.call("POST", "/api/tags", { body: { Name: "y".repeat(128) } });
    expect(longest.status).toBe(200);
    expect(list(await api.call("GET", "/api/tags"))).toEqual([
      { ID: id, Name: "production" },
      { ID: longest.json["ID"], Name: "y".repeat(128) },
    ]);
    expect((await api.call("DELETE", `/api/tags/${longest.json["ID"] as number}`)).status).toBe(204);
    expect((await api.call("DELETE", `/api/tags/${longest.json["ID"] as number}`)).status).toBe(404);
    const audit = await server.store.audit.list({ limit: 20 });
    expect(audit.filter((event) => event.kind === "tag_created").map((event) => event.detail["name"])).toContain("production");
    expect(audit.some((event) => event.kind === "tag_deleted")).toBe(true);
  });

  it("PUT /api/endpoints/{id} sets TagIDs and Name; TagIds listed; an unknown tag is refused naming it and nothing changes; at most 100", async () => {
    const id = await trusted("tagged");
    const [a, b] = await Promise.all(["site-a", "site-b"].map(async (Name) => (await api.call("POST", "/api/tags", { body: { Name } })).json["ID"] as number));
    const set = await api.call("PUT", `/api/endpoints/${id}`, { body: { Name: "renamed", TagIDs: [b, a, b] } });
    expect(set.status, set.text).toBe(200);
    expect(set.json).toMatchObject({ Id: id, Name: "renamed", TagIds: [a, b] });
    expect((await api.call("GET", `/api/endpoints/${id}`)).json["TagIds"]).toEqual([a, b]);
    const listed = list(await api.call("GET", "/api/endpoints")).find((environment) => environment["Id"] === id);
    expect(listed?.["TagIds"]).toEqual([a, b]);

    const unknown = await api.call("PUT", `/api/endpoints/${id}`, { body: { Name: "not this", TagIDs: [a, 99_999] } });
    expect(unknown.status).toBe(400);
    expect(unknown.json).toMatchObject({ field: "TagIDs", message: "Tag 99999 does not exist.", details: { missing: [99_999] } });
    expect((await api.call("GET", `/api/endpoints/${id}`)).json).toMatchObject({ Name: "renamed", TagIds: [a, b] });

    const tooMany = await api.call("PUT", `/api/endpoints/${id}`, { body: { TagIDs: Array.from({ length: 101 }, (_, i) => i + 1) } });
    expect(tooMany.status).toBe(400);
    expect(tooMany.json["field"]).toBe("TagIDs");
    // Clearing is allowed.
    expect((await api.call("PUT", `/api/endpoints/${id}`, { body: { TagIDs: [] } })).json["TagIds"]).toEqual([]);
  });

  it("edge groups: Portainer's shape, static and dynamic (all or any tag), members computed, validation naming the field, 409 for a taken name", async () => {
    const [x, y] = await Promise.all(["gx", "gy"].map(async (Name) => (await api.call("POST", "/api/tags", { body: { Name } })).json["ID"] as number));
    const both = await trusted("both");
    const onlyX = await trusted("only-x");
    const waiting = (await server.store.environments.create({ name: "waiting", type: "edge-agent" })).id;
    await api.call("PUT", `/api/endpoints/${both}`, { body: { TagIDs: [x, y] } });
    await api.call("PUT", `/api/endpoints/${onlyX}`, { body: { TagIDs: [x] } });
    await server.store.tags.setEnvironmentTags(waiting, [x ?? 0, y ?? 0]);

    const fixed = await api.call("POST", "/api/edge_groups", { body: { Name: "Fixed", Dynamic: false, Endpoints: [onlyX] } });
    expect(fixed.status, fixed.text).toBe(200);
    expect(fixed.json).toEqual({ Id: expect.any(Number) as unknown, Name: "Fixed", Dynamic: false, TagIds: [], Endpoints: [onlyX], PartialMatch: false, HasEdgeStack: false, HasEdgeJob: false, EndpointTypes: [] });
    const all = await api.call("POST", "/api/edge_groups", { body: { Name: "all", Dynamic: true, TagIDs: [x, y], PartialMatch: false } });
    expect(all.json).toMatchObject({ Dynamic: true, TagIds: [x, y], Endpoints: [both], PartialMatch: false });
    const any = await api.call("POST", "/api/edge_groups", { body: { Name: "any", Dynamic: true, TagIDs: [x, y], PartialMatch: true } });
    expect(any.json).toMatchObject({ Endpoints: [both, onlyX], PartialMatch: true });
    expect(list(await api.call("GET", "/api/edge_groups")).map((group) => group["Name"])).toEqual(["Fixed", "all", "any"]);
    expect((await api.call("GET", `/api/edge_groups/${all.json["Id"] as number}`)).json).toEqual(all.json);

    const refusals: [unknown, string, number][] = [
      [{ Name: "FIXED", Dynamic: false }, "Name", 409],
      [{ Name: "", Dynamic: false }, "Name", 400],
      [{ Name: "d", Dynamic: true, TagIDs: [] }, "TagIDs", 400],
      [{ Name: "d", Dynamic: true, TagIDs: [99_999] }, "TagIDs", 400],
      [{ Name: "s", Dynamic: false, Endpoints: [99_999] }, "Endpoints", 400],
      [{ Name: "s", Dynamic: false, Endpoints: [waiting] }, "Endpoints", 400],
      [{ Name: "s", Dynamic: false, Endpoints: Array.from({ length: 10_001 }, (_, i) => i + 1) }, "Endpoints", 400],
      [{ Name: "s", Dynamic: true, TagIDs: Array.from({ length: 1_001 }, (_, i) => i + 1) }, "TagIDs", 400],
    ];
    for (const [body, field, status] of refusals) {
      const answer = await api.call("POST", "/api/edge_groups", { body });
      expect(answer.status, JSON.stringify(body).slice(0, 80)).toBe(status);
      expect(answer.json["field"]).toBe(field);
    }
    const waitingRefusal = await api.call("POST", "/api/edge_groups", { body: { Name: "s", Dynamic: false, Endpoints: [waiting] } });
    expect(waitingRefusal.json["message"]).toContain("waiting room");
    expect(list(await api.call("GET", "/api/edge_groups"))).toHaveLength(3);

    // PUT: the static group becomes dynamic (any tag y); fields left out keep their value.
    const fixedId = fixed.json["Id"] as number;
    const updated = await api.call("PUT", `/api/edge_groups/${fixedId}`, { body: { Dynamic: true, TagIDs: [y], PartialMatch: true } });
    expect(updated.status, updated.text).toBe(200);
    expect(updated.json).toMatchObject({ Id: fixedId, Name: "Fixed", Dynamic: true, TagIds: [y], Endpoints: [both] });
    expect((await api.call("PUT", `/api/edge_groups/${fixedId}`, { body: { Name: "ANY" } })).status).toBe(409);
    expect((await api.call("PUT", "/api/edge_groups/99999", { body: { Name: "nothing" } })).status).toBe(404);

    // A deleted tag leaves the rules: "any" now matches x alone.
    expect((await api.call("DELETE", `/api/tags/${y}`)).status).toBe(204);
    expect((await api.call("GET", `/api/edge_groups/${any.json["Id"] as number}`)).json).toMatchObject({ TagIds: [x], Endpoints: [both, onlyX] });
    expect((await api.call("GET", `/api/endpoints/${both}`)).json["TagIds"]).toEqual([x]);

    expect((await api.call("DELETE", `/api/edge_groups/${fixedId}`)).status).toBe(204);
    expect((await api.call("DELETE", `/api/edge_groups/${fixedId}`)).status).toBe(404);
    const kinds = (await server.store.audit.list({ limit: 50 })).map((event) => event.kind);
    expect(kinds).toEqual(expect.arrayContaining(["edge_group_created", "edge_group_updated", "edge_group_deleted", "environment_tags_set"]));
  });

  it("filters GET /api/endpoints by tags (all listed) and by edge group, paged with X-Total-Count; refuses a malformed filter", async () => {
    const [p, q] = await Promise.all(["fp", "fq"].map(async (Name) => (await api.call("POST", "/api/tags", { body: { Name } })).json["ID"] as number));
    const pq = await trusted("f-pq");
    const onlyP = await trusted("f-p");
    await api.call("PUT", `/api/endpoints/${pq}`, { body: { TagIDs: [p, q] } });
    await api.call("PUT", `/api/endpoints/${onlyP}`, { body: { TagIDs: [p] } });
    const ids = (answer: { json: unknown }) => list(answer).map((environment) => environment["Id"]);
    expect(ids(await api.call("GET", `/api/endpoints?tagIds=${p}`))).toEqual([pq, onlyP]);
    expect(ids(await api.call("GET", `/api/endpoints?tagIds=${p},${q}`))).toEqual([pq]);
    const group = (await api.call("POST", "/api/edge_groups", { body: { Name: "filter", Dynamic: true, TagIDs: [p], PartialMatch: true } })).json["Id"] as number;
    const page = await api.call("GET", `/api/endpoints?edgeGroupId=${group}&limit=1&sort=Name&order=asc`);
    expect(ids(page)).toEqual([onlyP]);
    expect(page.headers["x-total-count"]).toBe("2");
    expect(ids(await api.call("GET", `/api/endpoints?edgeGroupId=${group}&tagIds=${q}`))).toEqual([pq]);
    for (const bad of ["tagIds=a", "tagIds=1,,2", `tagIds=${Array.from({ length: 101 }, (_, i) => i + 1).join(",")}`, "edgeGroupId=0"]) {
      expect((await api.call("GET", `/api/endpoints?${bad}`)).status, bad).toBe(400);
    }
  });

  it("EDGE_GROUPS: a waiting device's request is shown, applied to static groups on association, unknown and dynamic names reported and audited", async () => {
    const sites = (await api.call("POST", "/api/edge_groups", { body: { Name: "Sites", Dynamic: false, Endpoints: [] } })).json["Id"] as number;
    const tag = (await api.call("POST", "/api/tags", { body: { Name: "dyn-tag" } })).json["ID"] as number;
    await api.call("POST", "/api/edge_groups", { body: { Name: "dyn", Dynamic: true, TagIDs: [tag] } });
    await using agent = await TestAgent.connect({ port: server.tunnelAddress.port, ca, edgeId: "asks-for-groups", edgeGroups: ["sites", "no-such-group", "dyn"] });
    expect(agent.welcome.status).toBe("waiting");
    const waiting = list(await api.call("GET", "/api/endpoints?waitingRoom=true")).find((environment) => environment["EdgeID"] === "asks-for-groups");
    expect(waiting?.["Pier"]).toMatchObject({ RequestedEdgeGroups: ["sites", "no-such-group", "dyn"] });
    const id = waiting?.["Id"] as number;
    // Precondition: waiting, it is in no group.
    expect((await api.call("GET", `/api/edge_groups/${sites}`)).json["Endpoints"]).toEqual([]);

    const associated = await api.call("PUT", `/api/endpoints/${id}`, { body: { UserTrusted: true } });
    expect(associated.status, associated.text).toBe(200);
    expect((associated.json["Pier"] as Record<string, unknown>)["EdgeGroupsNotApplied"]).toEqual([
      { Name: "no-such-group", Reason: "unknown" },
      { Name: "dyn", Reason: "dynamic" },
    ]);
    expect((await api.call("GET", `/api/edge_groups/${sites}`)).json["Endpoints"]).toEqual([id]);
    const after = (await api.call("GET", `/api/endpoints/${id}`)).json["Pier"] as Record<string, unknown>;
    expect(after["RequestedEdgeGroups"]).toEqual([]);
    expect(after).not.toHaveProperty("EdgeGroupsNotApplied");
    // Nothing was created for the unknown name.
    expect(list(await api.call("GET", "/api/edge_groups")).some((group) => group["Name"] === "no-such-group")).toBe(false);
    const audit = await server.store.audit.list({ environmentId: id });
    expect(audit.find((event) => event.kind === "edge_groups_not_applied")?.detail).toMatchObject({ names: [{ name: "no-such-group", reason: "unknown" }, { name: "dyn", reason: "dynamic" }] });
    expect(audit.find((event) => event.kind === "edge_groups_applied")?.detail).toMatchObject({ groups: [sites] });
  });

  it("EDGE_GROUPS with trust on first connect: applied at the enrolling hello, whose welcome carries the resulting desired-state version", async () => {
    const group = (await api.call("POST", "/api/edge_groups", { body: { Name: "first-connect", Dynamic: false, Endpoints: [] } })).json["Id"] as number;
    expect((await api.call("PUT", "/api/settings", { body: { TrustOnFirstConnect: true } })).status).toBe(200);
    try {
      await using agent = await TestAgent.connect({ port: server.tunnelAddress.port, ca, edgeId: "trusted-at-once", edgeGroups: ["First-Connect"] });
      expect(agent.welcome.status).toBe("associated");
      expect((await api.call("GET", `/api/edge_groups/${group}`)).json["Endpoints"]).toEqual([agent.welcome.environmentId]);
      const stored = await server.store.environments.get(agent.welcome.environmentId);
      expect(stored?.desiredStateVersion).toMatch(/^[0-9a-f]{64}$/);
      expect(agent.welcome.desiredStateVersion).toBe(stored?.desiredStateVersion);
    } finally {
      await api.call("PUT", "/api/settings", { body: { TrustOnFirstConnect: false } });
    }
  });

  it("refuses a hello asking for more than 32 groups or a name over 128 characters", async () => {
    const names = (count: number) => Array.from({ length: count }, (_, i) => `group-${i}`);
    // Precondition: 32 names of up to 128 characters are accepted.
    await using accepted = await TestAgent.connect({ port: server.tunnelAddress.port, ca, edgeId: "asks-32", edgeGroups: [...names(31), "z".repeat(128)] });
    expect(accepted.welcome.status).toBe("waiting");
    await expect(TestAgent.connect({ port: server.tunnelAddress.port, ca, edgeId: "asks-33", edgeGroups: names(33) })).rejects.toThrow();
    await expect(TestAgent.connect({ port: server.tunnelAddress.port, ca, edgeId: "asks-long", edgeGroups: ["z".repeat(129)] })).rejects.toThrow();
    expect(await server.store.environments.getByEdgeId("asks-33")).toBeNull();
    expect(await server.store.environments.getByEdgeId("asks-long")).toBeNull();
  });

  it("refuses a tag past the 1,000th (409) and accepts it again once one is deleted", async () => {
    const existing = await server.store.tags.count();
    for (let i = existing; i < 1_000; i++) await server.store.tags.create(`bulk-${i}`);
    const refused = await api.call("POST", "/api/tags", { body: { Name: "one too many" } });
    expect(refused.status).toBe(409);
    expect(refused.json["message"]).toContain("1000");
    const [first] = await server.store.tags.list();
    expect((await api.call("DELETE", `/api/tags/${first?.id ?? 0}`)).status).toBe(204);
    expect((await api.call("POST", "/api/tags", { body: { Name: "one too many" } })).status).toBe(200);
  }, 60_000);
});
