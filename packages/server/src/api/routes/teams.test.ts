import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../server.ts";
import { type TempDir, tempDir } from "../../store/temp-dir.testkit.ts";
import { startAdminServer } from "../admin-server.testkit.ts";
import { maxApiBodyBytes } from "../app.ts";
import type { ApiAnswer, ApiClient } from "../api-client.testkit.ts";
import { teamLimits } from "./teams.ts";

const password = "correct horse battery staple";
const compose = (image: string) => `services:\n  web:\n    image: ${image}\n`;
// Each login from its own loopback address: the login throttle allows 5 a minute per address.
let lastAddress = 40;
const loginSource = () => ({ localAddress: `127.0.0.${++lastAddress}` });

const ids = (answer: ApiAnswer) => (answer.json as unknown as { Id: number }[]).map((item) => item.Id);

/** A 404 exactly like the one for an environment that does not exist: nothing reveals it. */
function expectHidden(answer: ApiAnswer, id: number): void {
  expect(answer.status, answer.text).toBe(404);
  expect(answer.json).toEqual({ code: "not_found", message: `Environment ${id} does not exist.` });
}

describe("teams and the environments they scope (docs/security.md \"Teams and scope\")", () => {
  let dir: TempDir;
  let server: RunningServer;
  let api: ApiClient;
  let admin: string;
  const users: Record<"olga" | "hugo", { id: number; jwt: string }> = { olga: { id: 0, jwt: "" }, hugo: { id: 0, jwt: "" } };
  const env = { a1: 0, a2: 0, b1: 0, waitingNorth: 0, waitingElsewhere: 0 };
  const group = { a: 0, north: 0, b: 0 };
  let teamA = 0;

  beforeAll(async () => {
    dir = tempDir("teams");
    ({ server, api } = await startAdminServer(dir, password));
    admin = await api.login("admin", password);
    for (const [name, role] of [["olga", "operator"], ["hugo", "helpdesk"]] as const) {
      const created = await api.call("POST", "/api/users", { body: { Username: name, Password: `${name} ${password}`, Role: role }, token: admin });
      expect(created.status, created.text).toBe(200);
      const login = await api.call("POST", "/api/auth", { body: { Username: name, Password: `${name} ${password}` }, token: null, ...loginSource() });
      expect(login.status, login.text).toBe(200);
      users[name] = { id: Number(created.json["Id"]), jwt: String(login.json["jwt"]) };
    }
    const { environments, tags } = server.store;
    const create = async (name: string, userTrusted = true) => (await environments.create({ name, type: "edge-agent", edgeId: name, userTrusted })).id;
    env.a1 = await create("a-1");
    env.a2 = await create("a-2");
    env.b1 = await create("b-1");
    env.waitingNorth = await create("waiting-north", false);
    env.waitingElsewhere = await create("waiting-elsewhere", false);
    const north = await tags.create("north");
    await tags.setEnvironmentTags(env.a2, [north.id]);
    await tags.setEnvironmentTags(env.waitingNorth, [north.id]);
    const groupOf = async (body: Record<string, unknown>) => {
      const answer = await api.call("POST", "/api/edge_groups", { body, token: admin });
      expect(answer.status, answer.text).toBe(200);
      return Number(answer.json["Id"]);
    };
    group.a = await groupOf({ Name: "a", Dynamic: false, Endpoints: [env.a1] });
    group.north = await groupOf({ Name: "north", Dynamic: true, TagIDs: [north.id] });
    group.b = await groupOf({ Name: "b", Dynamic: false, Endpoints: [env.b1] });
    const team = await api.call("POST", "/api/teams", { body: { Name: "Team A", UserIds: [users.olga.id], EdgeGroupIds: [group.a, group.north] }, token: admin });
    expect(team.status, team.text).toBe(200);
    expect(team.json).toMatchObject({ Name: "Team A", UserIds: [users.olga.id], EdgeGroupIds: [group.a, group.north] });
    teamA = Number(team.json["Id"]);
  });
  afterAll(async () => {
    await server.close();
    await dir[Symbol.asyncDispose]();
  });

  it("shows an operator in team A exactly A's environments, totals and counts included; B's answer 404 as if absent", async () => {
    const token = users.olga.jwt;
    const list = await api.call("GET", "/api/endpoints?waitingRoom=false", { token });
    expect(list.status, list.text).toBe(200);
    expect(ids(list)).toEqual([env.a1, env.a2]);
    expect(list.headers["x-total-count"]).toBe("2");
    // The waiting room: only the waiting device whose tags put it in a group of the team.
    expect(ids(await api.call("GET", "/api/endpoints?waitingRoom=true", { token }))).toEqual([env.waitingNorth]);
    expect((await api.call("GET", "/api/endpoints/counts", { token })).json).toMatchObject({ Environments: 2, Waiting: 1 });
    // The administrator sees everything.
    expect(ids(await api.call("GET", "/api/endpoints", { token: admin }))).toEqual(Object.values(env).sort((x, y) => x - y));

    expect((await api.call("GET", `/api/endpoints/${env.a1}`, { token })).status).toBe(200);
    expectHidden(await api.call("GET", `/api/endpoints/${env.b1}`, { token }), env.b1);
    expectHidden(await api.call("GET", "/api/endpoints/9999", { token }), 9999);
    expectHidden(await api.call("GET", `/api/endpoints/${env.b1}/events`, { token }), env.b1);
    expectHidden(await api.call("GET", `/api/endpoints/${env.b1}/docker-snapshot`, { token }), env.b1);
    expectHidden(await api.call("PUT", `/api/endpoints/${env.b1}`, { body: { Name: "taken" }, token }), env.b1);
    expectHidden(await api.call("POST", `/api/endpoints/${env.b1}/edge/trust`, { token }), env.b1);
    expectHidden(await api.call("POST", `/api/endpoints/${env.waitingElsewhere}/edge/trust`, { token }), env.waitingElsewhere);
    expectHidden(await api.call("POST", `/api/endpoints/${env.b1}/console/tickets`, { body: { container: "web" }, token }), env.b1);
    expectHidden(await api.call("DELETE", `/api/endpoints/${env.b1}`, { token }), env.b1);
    expect((await api.call("GET", `/api/endpoints/${env.b1}`, { token: admin })).json).toMatchObject({ Name: "b-1" });

    // The Docker proxy: B's is 404, A's gets as far as the device (offline here: 503).
    expectHidden(await api.call("GET", `/api/endpoints/${env.b1}/docker/containers/json`, { token }), env.b1);
    const own = await api.call("GET", `/api/endpoints/${env.a1}/docker/containers/json`, { token });
    expect(own.status, own.text).toBe(503);
  });

  it("lists only the team's edge groups, stacks and jobs; operators cannot change groups", async () => {
    const token = users.olga.jwt;
    expect(ids(await api.call("GET", "/api/edge_groups", { token }))).toEqual([group.a, group.north]);
    expect((await api.call("GET", `/api/edge_groups/${group.b}`, { token })).status).toBe(404);
    expect((await api.call("POST", "/api/edge_groups", { body: { Name: "mine", Dynamic: false, Endpoints: [env.a1] }, token })).status).toBe(403);
    expect((await api.call("PUT", `/api/edge_groups/${group.a}`, { body: { Endpoints: [env.a1, env.b1] }, token })).status).toBe(403);

    const stack = async (name: string, edgeGroups: number[], as = admin) => api.call("POST", "/api/edge_stacks/create/string", { body: { name, deploymentType: 0, edgeGroups, stackFileContent: compose("nginx:1") }, token: as });
    const onB = await stack("on-b", [group.b]);
    const onBoth = await stack("on-both", [group.a, group.b]);
    expect([onB.status, onBoth.status]).toEqual([200, 200]);
    expect(ids(await api.call("GET", "/api/edge_stacks", { token }))).toEqual([onBoth.json["Id"]]);
    expect((await api.call("GET", `/api/edge_stacks/${String(onB.json["Id"])}`, { token })).status).toBe(404);
    // Reads: any group in scope; writes: every group.
    expect((await api.call("DELETE", `/api/edge_stacks/${String(onBoth.json["Id"])}`, { token })).status).toBe(403);
    const refused = await stack("mine-on-b", [group.a, group.b], token);
    expect(refused.status, refused.text).toBe(403);
    expect(refused.json).toMatchObject({ code: "forbidden", field: "edgeGroups", details: { outside: [group.b] } });
    expect((await stack("mine", [group.north], token)).status).toBe(200);

    // Jobs: also by the environments they name.
    const job = (name: string, body: { edgeGroups?: number[]; endpoints?: number[] }, as = admin) =>
      api.call("POST", "/api/edge_jobs/create/string", { body: { name, cronExpression: "0 3 * * *", recurring: true, edgeGroups: [], endpoints: [], fileContent: "uptime", ...body }, token: as });
    const onB1 = await job("on-b1", { endpoints: [env.b1] });
    const onA1 = await job("on-a1", { endpoints: [env.a1, env.b1] });
    expect([onB1.status, onA1.status]).toEqual([200, 200]);
    expect(ids(await api.call("GET", "/api/edge_jobs", { token }))).toEqual([onA1.json["Id"]]);
    expect((await api.call("GET", `/api/edge_jobs/${String(onB1.json["Id"])}`, { token })).status).toBe(404);
    const tasks = await api.call("GET", `/api/edge_jobs/${String(onA1.json["Id"])}/tasks`, { token });
    expect((tasks.json as unknown as { EndpointId: number }[]).map((task) => task.EndpointId)).toEqual([env.a1]);
    const jobRefused = await job("mine-on-b1", { endpoints: [env.a1, env.b1] }, token);
    expect(jobRefused.status, jobRefused.text).toBe(403);
    expect(jobRefused.json).toMatchObject({ code: "forbidden", field: "endpoints" });
  });

  it("lists only the agent updates of the team's groups, narrowed to its environments; writes need every group in scope", async () => {
    const token = users.olga.jwt;
    const update = (name: string, groupIDs: number[], as = admin) =>
      api.call("POST", "/api/edge_update_schedules", { body: { name, groupIDs, agentImage: "pier-agent:2", deadlineSeconds: 300, type: 1 }, token: as });
    const onB = await update("update-b", [group.b]);
    const onBoth = await update("update-both", [group.a, group.b]);
    expect([onB.status, onBoth.status]).toEqual([200, 200]);
    // Precondition: the administrator's view holds both groups' environments.
    expect(onBoth.json["environmentIds"]).toEqual(expect.arrayContaining([env.a1, env.b1]));
    const listed = (await api.call("GET", "/api/edge_update_schedules", { token })).json as unknown as { id: number; environmentIds: number[]; status: Record<string, unknown> }[];
    expect(listed.map((schedule) => schedule.id)).toEqual([onBoth.json["id"]]);
    expect(listed[0]?.environmentIds).toEqual([env.a1]);
    expect(Object.keys(listed[0]?.status ?? {})).toEqual([String(env.a1)]);
    expect((await api.call("GET", `/api/edge_update_schedules/${String(onB.json["id"])}`, { token })).status).toBe(404);
    expect((await api.call("DELETE", `/api/edge_update_schedules/${String(onBoth.json["id"])}`, { token })).status).toBe(403);
    const refused = await update("mine-on-b", [group.a, group.b], token);
    expect(refused.status, refused.text).toBe(403);
    expect(refused.json).toMatchObject({ code: "forbidden", field: "groupIDs", details: { outside: [group.b] } });
  });

  it("lists only the alerts of the team's environments; one of no environment is the administrators'", async () => {
    for (const [environmentId, edgeId] of [[env.a1, "a-1"], [env.b1, "b-1"], [null, null]] as const) {
      await server.store.audit.append({ kind: "identity_clone", environmentId, edgeId, detail: { addresses: ["192.0.2.1", "192.0.2.2"] } });
    }
    type AlertRow = { EnvironmentId: number | null };
    // Precondition: the administrator sees all three clone alerts.
    await expect.poll(async () => ((await api.call("GET", "/api/pier/alerts", { token: admin })).json as unknown as AlertRow[]).length).toBeGreaterThanOrEqual(3);
    const all = (await api.call("GET", "/api/pier/alerts", { token: admin })).json as unknown as AlertRow[];
    expect(all.map((alert) => alert.EnvironmentId)).toEqual(expect.arrayContaining([env.a1, env.b1, null]));
    const mine = (await api.call("GET", "/api/pier/alerts", { token: users.olga.jwt })).json as unknown as AlertRow[];
    expect(mine.map((alert) => alert.EnvironmentId)).toEqual([env.a1]);
    expect((await api.call("GET", "/api/pier/alerts?limit=1", { token: users.olga.jwt })).json).toHaveLength(1);
  });

  it("refuses every /api/teams route without credentials (401), and a body over the API's limit (413)", async () => {
    const routes = [["GET", "/api/teams"], ["POST", "/api/teams"], ["GET", `/api/teams/${teamA}`], ["PUT", `/api/teams/${teamA}`], ["DELETE", `/api/teams/${teamA}`]] as const;
    for (const [method, path] of routes) {
      const refused = await api.call(method, path, { token: null, ...(method === "POST" || method === "PUT" ? { body: { Name: "x" } } : {}) });
      expect(refused.status, `${method} ${path}`).toBe(401);
    }
    const tooLong = JSON.stringify({ Name: "x".repeat(maxApiBodyBytes) });
    for (const [method, path] of [["POST", "/api/teams"], ["PUT", `/api/teams/${teamA}`]] as const) {
      const refused = await api.call(method, path, { body: tooLong, token: admin });
      expect(refused.status, `${method} ${path}`).toBe(413);
      expect(refused.json).toMatchObject({ code: "payload_too_large" });
    }
    // Nothing changed: Team A is as it was.
    expect((await api.call("GET", `/api/teams/${teamA}`, { token: admin })).json).toMatchObject({ Name: "Team A" });
  });

  it("shows a helpdesk user in no team nothing (total 0), and tells them why through /api/users/me", async () => {
    const token = users.hugo.jwt;
    const list = await api.call("GET", "/api/endpoints", { token });
    expect(list.status, list.text).toBe(200);
    expect(list.json).toEqual([]);
    expect(list.headers["x-total-count"]).toBe("0");
    expect((await api.call("GET", "/api/endpoints/counts", { token })).json).toEqual({ Environments: 0, Online: 0, Offline: 0, Waiting: 0 });
    expect((await api.call("GET", "/api/edge_groups", { token })).json).toEqual([]);
    expectHidden(await api.call("GET", `/api/endpoints/${env.a1}/docker/containers/json`, { token }), env.a1);
    expect((await api.call("GET", "/api/users/me", { token })).json).toMatchObject({ Username: "hugo", Teams: [], AllEnvironments: false });
    expect((await api.call("GET", "/api/users/me", { token: users.olga.jwt })).json).toMatchObject({ Teams: [{ Id: teamA, Name: "Team A", EdgeGroupIds: [group.a, group.north] }], AllEnvironments: false });
  });

  it("gives an access token its owner's team scope; an administrator's lower-scoped token still sees everything", async () => {
    const made = await api.call("POST", `/api/users/${users.olga.id}/tokens`, { body: { description: "ci" }, token: users.olga.jwt });
    expect(made.status, made.text).toBe(200);
    const key = { "x-api-key": String(made.json["rawAPIKey"]) };
    expect(ids(await api.call("GET", "/api/endpoints?waitingRoom=false", { token: null, headers: key }))).toEqual([env.a1, env.a2]);
    expectHidden(await api.call("GET", `/api/endpoints/${env.b1}`, { token: null, headers: key }), env.b1);
    expectHidden(await api.call("GET", `/api/endpoints/${env.b1}/docker/containers/json`, { token: null, headers: key }), env.b1);

    const wallboard = await api.call("POST", "/api/users/1/tokens", { body: { description: "wallboard", scope: "helpdesk" }, token: admin });
    const adminKey = { "x-api-key": String(wallboard.json["rawAPIKey"]) };
    expect((await api.call("GET", "/api/endpoints?waitingRoom=false", { token: null, headers: adminKey })).headers["x-total-count"]).toBe("3");
    expect((await api.call("PUT", `/api/endpoints/${env.b1}`, { body: { Name: "x" }, token: null, headers: adminKey })).status).toBe(403);
  });

  it("refuses over-long and unknown input, duplicate names (409) and missing teams (404); only administrators manage teams", async () => {
    const post = (body: unknown) => api.call("POST", "/api/teams", { body, token: admin });
    const tooMany = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
    const answers = await Promise.all([
      post({ Name: "x".repeat(teamLimits.name + 1) }),
      post({ Name: "  " }),
      post({ Name: "many", UserIds: tooMany(teamLimits.members + 1) }),
      post({ Name: "many", EdgeGroupIds: tooMany(teamLimits.edgeGroups + 1) }),
      post({ Name: "ghost", UserIds: [9999] }),
      post({ Name: "ghost", EdgeGroupIds: [9999] }),
    ]);
    expect(answers.map((a) => [a.status, a.json["code"], a.json["field"]])).toEqual([
      [400, "bad_request", "Name"],
      [400, "bad_request", "Name"],
      [400, "bad_request", "UserIds"],
      [400, "bad_request", "EdgeGroupIds"],
      [400, "bad_request", "UserIds"],
      [400, "bad_request", "EdgeGroupIds"],
    ]);
    const duplicate = await post({ Name: "team a" });
    expect(duplicate.status).toBe(409);
    expect(duplicate.json).toMatchObject({ code: "conflict", field: "Name", fix: expect.any(String) as unknown });
    for (const [method, body] of [["GET", undefined], ["PUT", { Name: "x" }], ["DELETE", undefined]] as const) {
      const missing = await api.call(method, "/api/teams/9999", { ...(body === undefined ? {} : { body }), token: admin });
      expect(missing.status, method).toBe(404);
      expect(missing.json).toMatchObject({ code: "not_found", message: "Team 9999 does not exist." });
    }
    expect((await api.call("GET", "/api/teams", { token: users.olga.jwt })).status).toBe(403);
    expect((await api.call("POST", "/api/teams", { body: { Name: "self-made", UserIds: [users.olga.id], EdgeGroupIds: [group.b] }, token: users.olga.jwt })).status).toBe(403);
    expect(ids(await api.call("GET", "/api/teams", { token: admin }))).toEqual([teamA]);
  });

  it("audits each change; moving a user between teams changes what they see at once", async () => {
    const teamB = await api.call("POST", "/api/teams", { body: { Name: "Team B", UserIds: [users.hugo.id], EdgeGroupIds: [group.b] }, token: admin });
    expect(teamB.status, teamB.text).toBe(200);
    expect(ids(await api.call("GET", "/api/endpoints", { token: users.hugo.jwt }))).toEqual([env.b1]);
    const renamed = await api.call("PUT", `/api/teams/${String(teamB.json["Id"])}`, { body: { Name: "Team Bravo", UserIds: [] }, token: admin });
    expect(renamed.json).toMatchObject({ Name: "Team Bravo", UserIds: [], EdgeGroupIds: [group.b] });
    expect(ids(await api.call("GET", "/api/endpoints", { token: users.hugo.jwt }))).toEqual([]);
    expect((await api.call("DELETE", `/api/teams/${String(teamB.json["Id"])}`, { token: admin })).status).toBe(204);

    const audit = await api.call("GET", "/api/audit?limit=3", { token: admin });
    expect(audit.status, audit.text).toBe(200);
    const entries = audit.json as unknown as { Kind: string; Detail: Record<string, unknown> }[];
    expect(entries.map((entry) => [entry.Kind, entry.Detail["team"]])).toEqual([
      ["team_deleted", "Team Bravo"],
      ["team_changed", "Team Bravo"],
      ["team_created", "Team B"],
    ]);
    expect(entries[1]?.Detail).toMatchObject({ by: "admin", renamedFrom: "Team B", userIds: [], edgeGroupIds: [group.b] });
  });
});
