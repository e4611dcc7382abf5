import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pier, startBuiltInCaFleet, startPierAgent, until, type BuiltInCaFleet, type EndpointView, type PierApi, type PierServer, type TempDir } from "../src/index.ts";

/**
 * `EDGE_GROUPS` end to end (docs/fleet.md "Tags and edge groups"): a real `pier agent` asks for
 * groups at enrollment; the real server shows the request in the Waiting Room and applies it when
 * the administrator associates the device. One server for the file.
 */
const password = "correct horse battery staple";
let fleet: BuiltInCaFleet;
let dir: TempDir;
let server: PierServer;
let api: PierApi;

type Endpoint = EndpointView<{ RequestedEdgeGroups: string[]; EdgeGroupsNotApplied?: { Name: string; Reason: string }[] }>;

beforeAll(async () => {
  ({ dir, server, api } = fleet = await startBuiltInCaFleet("edge-groups-request", password));
});

afterAll(async () => {
  await fleet[Symbol.asyncDispose]();
});

describe("EDGE_GROUPS", () => {
  it("a device's requested groups are shown in the Waiting Room and applied on association; unknown and dynamic names are reported", async () => {
    const lab = await api.call<{ Id: number }>("POST", "/api/edge_groups", { Name: "Lab", Dynamic: false, Endpoints: [] });
    expect(lab.status).toBe(200);
    const tag = await api.call<{ ID: number }>("POST", "/api/tags", { Name: "arm64" });
    expect((await api.call("POST", "/api/edge_groups", { Name: "by-tag", Dynamic: true, TagIDs: [tag.body.ID] })).status).toBe(200);

    await using agent = startPierAgent({ edgeId: "asks-for-lab", edgeKey: server.edgeKey, dataDir: dir.file("agent-1"), env: { EDGE_GROUPS: "lab, by-tag ,nowhere" } });
    await agent.waitFor(/waiting for association/);
    const waiting = await until("the device in the waiting room", async () => (await api.endpoints<Endpoint>({ waitingRoom: true })).find((e) => e.EdgeID === "asks-for-lab"));
    expect(waiting).toMatchObject({ UserTrusted: false, Pier: { RequestedEdgeGroups: ["lab", "by-tag", "nowhere"] } });
    // Precondition: while it waits it is in no group.
    expect((await api.call<{ Endpoints: number[] }>("GET", `/api/edge_groups/${lab.body.Id}`)).body.Endpoints).toEqual([]);

    const associated = await api.call<Endpoint>("PUT", `/api/endpoints/${waiting.Id}`, { UserTrusted: true });
    expect(associated.status).toBe(200);
    expect(associated.body.Pier.EdgeGroupsNotApplied).toEqual([
      { Name: "by-tag", Reason: "dynamic" },
      { Name: "nowhere", Reason: "unknown" },
    ]);
    expect(associated.body.Pier.RequestedEdgeGroups).toEqual([]);
    await agent.waitFor(/associated by the administrator/, 10_000);
    expect((await api.call<{ Endpoints: number[] }>("GET", `/api/edge_groups/${lab.body.Id}`)).body.Endpoints).toEqual([waiting.Id]);
    expect((await api.endpoints({ edgeGroupId: lab.body.Id })).map((e) => e.EdgeID)).toEqual(["asks-for-lab"]);
    const events = await api.call<{ Kind: string; Detail: Record<string, unknown> }[]>("GET", `/api/endpoints/${waiting.Id}/events`);
    expect(events.body.find((event) => event.Kind === "edge_groups_not_applied")?.Detail).toEqual({ names: [{ name: "by-tag", reason: "dynamic" }, { name: "nowhere", reason: "unknown" }], by: "admin" });

    // Tagging it makes it a member of the dynamic group too.
    expect((await api.call<Endpoint>("PUT", `/api/endpoints/${waiting.Id}`, { TagIDs: [tag.body.ID] })).body.TagIds).toEqual([tag.body.ID]);
    const groups = await api.call<{ Name: string; Endpoints: number[] }[]>("GET", "/api/edge_groups");
    expect(groups.body.map((group) => [group.Name, group.Endpoints])).toEqual([
      ["Lab", [waiting.Id]],
      ["by-tag", [waiting.Id]],
    ]);
  });

  it("pier agent refuses to start with an invalid EDGE_GROUPS, naming the variable", () => {
    const key = Buffer.from(`https://localhost:9443|localhost:8000|${"ab".repeat(32)}|0`).toString("base64").replace(/=+$/, "");
    const tooMany = Array.from({ length: 33 }, (_, i) => `group-${i}`).join(",");
    const result = pier(["agent", "--data", dir.file("never-created")], { env: { EDGE: "1", EDGE_ID: "d1", EDGE_KEY: key, EDGE_GROUPS: tooMany } });
    expect(result.status, result.output).toBe(1);
    expect(result.stderr).toMatch(/EDGE_GROUPS names 33 groups; a device may ask for at most 32/);
    expect(result.output).not.toMatch(/\n\s+at /);
  });
});
