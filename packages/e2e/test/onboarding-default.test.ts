import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { PierApi, startBuiltInCaFleet, startPierAgent, until, type BuiltInCaFleet, type EndpointView, type PierServer, type TempDir } from "../src/index.ts";

/**
 * The first-run default, as Portainer's: no mTLS, the server's certificate comes from its
 * built-in CA, agents pin it by the fingerprint in EDGE_KEY, and the waiting room is the gate.
 * One server for the whole file; each test uses its own EDGE_IDs.
 */
const password = "correct horse battery staple";
let fleet: BuiltInCaFleet;
let dir: TempDir;
let server: PierServer;
let api: PierApi;

type Endpoint = EndpointView<{ Connected: boolean; Platform: string; Hostname: string; IdentityConflict: unknown; ClientCertificate?: { SerialNumber: string } | null }>;

/** Every environment, or only the trusted or only the untrusted ones. */
const endpoints = (untrusted?: boolean) => api.endpoints<Endpoint>(untrusted === undefined ? {} : { edgeDeviceUntrusted: untrusted });
const byEdgeId = (edgeId: string) => api.endpoint<Endpoint>(edgeId);

beforeAll(async () => {
  ({ dir, server, api } = fleet = await startBuiltInCaFleet("onboarding-default", password));
});

afterAll(async () => {
  await fleet[Symbol.asyncDispose]();
});

describe("first run, built-in CA, waiting room", () => {
  it("an agent with the fleet key waits in the waiting room, is associated and turns green", async () => {
    await using agent = startPierAgent({ edgeId: "edge-default-1", edgeKey: server.edgeKey, dataDir: dir.file("agent-1") });
    await agent.waitFor(/connected to https:\/\/127\.0\.0\.1:\d+ as environment (\d+) \(placeholder environment id until association\): waiting for association/);
    expect(agent.output()).toMatch(/verified by the fingerprint in EDGE_KEY/);
    const waiting = await until("the device in the waiting room", async () => (await endpoints(true)).find((e) => e.EdgeID === "edge-default-1"));
    expect(waiting).toMatchObject({ UserTrusted: false, Heartbeat: true, Pier: { Connected: true, Platform: "docker" } });
    expect((await endpoints(false)).some((e) => e.EdgeID === "edge-default-1")).toBe(false);

    expect((await api.call("POST", `/api/endpoints/${waiting.Id}/edge/trust`)).status).toBe(204);
    await agent.waitFor(/associated by the administrator/, 5_000);
    const associated = await byEdgeId("edge-default-1");
    expect(associated).toMatchObject({ UserTrusted: true, Heartbeat: true });
    expect((await endpoints(true)).some((e) => e.EdgeID === "edge-default-1")).toBe(false);
  });

  it("a restarted agent is the same environment, not a new waiting-room entry", async () => {
    const first = startPierAgent({ edgeId: "edge-default-2", edgeKey: server.edgeKey, dataDir: dir.file("agent-2") });
    const [, id] = await first.waitFor(/as environment (\d+)/);
    await first.stop();
    await using again = startPierAgent({ edgeId: "edge-default-2", edgeKey: server.edgeKey, dataDir: dir.file("agent-2") });
    await again.waitFor(new RegExp(`EDGE_ID edge-default-2 \\(environment ${id}\\)`));
    await again.waitFor(new RegExp(`connected to .* as environment ${id}: waiting`));
    expect((await endpoints()).filter((e) => e.EdgeID === "edge-default-2")).toHaveLength(1);
  });

  it("the same EDGE_ID from another device is refused and shown to the administrator", async () => {
    await using owner = startPierAgent({ edgeId: "edge-default-3", edgeKey: server.edgeKey, dataDir: dir.file("agent-3") });
    await owner.waitFor(/as environment \d+/);
    await using impostor = startPierAgent({ edgeId: "edge-default-3", edgeKey: server.edgeKey, dataDir: dir.file("agent-3-impostor") });
    await impostor.waitFor(/EDGE_ID edge-default-3 is bound to another device/);
    const device = await until("the conflict on the device", async () => {
      const e = await byEdgeId("edge-default-3");
      return e?.Pier.IdentityConflict ? e : undefined;
    });
    expect(device.Pier.IdentityConflict).toMatchObject({ SourceAddress: "127.0.0.1" });
    const events = await api.call<{ Kind: string }[]>("GET", `/api/endpoints/${device.Id}/events`);
    expect(events.body.map((e) => e.Kind)).toContain("identity_conflict");
    expect((await endpoints()).filter((e) => e.EdgeID === "edge-default-3")).toHaveLength(1);
  });

  it("an agent with a wrong fingerprint in its key refuses the server and says why", async () => {
    const text = Buffer.from(server.edgeKey, "base64").toString().split("|");
    text[2] = "00".repeat(32);
    const forged = Buffer.from(text.join("|")).toString("base64").replace(/=+$/, "");
    await using agent = startPierAgent({ edgeId: "edge-default-4", edgeKey: forged, dataDir: dir.file("agent-4") });
    await agent.waitFor(/is not the one pinned in EDGE_KEY .* Get a fresh EDGE_KEY/);
    expect(await byEdgeId("edge-default-4")).toBeUndefined();
  });

  it("removing a device closes its session; the agent reconnects into the waiting room", async () => {
    await using agent = startPierAgent({ edgeId: "edge-default-8", edgeKey: server.edgeKey, dataDir: dir.file("agent-8") });
    const [, id] = await agent.waitFor(/as environment (\d+)/);
    expect((await api.call("DELETE", `/api/endpoints/${id}`)).status).toBe(204);
    await agent.waitFor(/The server ended the session: This device was removed by an administrator/);
    const again = await until("the device back in the waiting room", async () => {
      const e = await byEdgeId("edge-default-8");
      return e && e.Id !== Number(id) ? e : undefined;
    }, 15_000);
    expect(again.UserTrusted).toBe(false);
    expect(agent.output()).not.toMatch(/not the one pinned/);
  });

  it("polls instead of holding a session when asked to (PIER_EDGE_MODE=poll)", async () => {
    await using agent = startPierAgent({ edgeId: "edge-default-poll", edgeKey: server.edgeKey, dataDir: dir.file("agent-poll"), env: { PIER_EDGE_MODE: "poll" } });
    await agent.waitFor(/server https:\/\/127\.0\.0\.1:\d+ \(poll\)/);
    const [, id] = await agent.waitFor(/connected to https:\/\/127\.0\.0\.1:\d+ as environment (\d+) .*waiting/);
    expect(await byEdgeId("edge-default-poll")).toMatchObject({ UserTrusted: false, Heartbeat: true, Pier: { Connected: false } });
    await api.call("POST", `/api/endpoints/${id}/edge/trust`);
    await agent.waitFor(/as environment \d+: associated/, 15_000);
  });

  it("a per-environment interval override reaches the connected agent at once", async () => {
    await using agent = startPierAgent({ edgeId: "edge-default-interval", edgeKey: server.edgeKey, dataDir: dir.file("agent-interval") });
    const [, id] = await agent.waitFor(/as environment (\d+)/);
    const updated = await api.call<{ EdgeCheckinInterval: number }>("PUT", `/api/endpoints/${id}`, { EdgeCheckinInterval: 2 });
    expect(updated.body.EdgeCheckinInterval).toBe(2);
    await agent.waitFor(/check-in interval is now 2 s/, 5_000);
  });

  it("access tokens work as X-API-Key; logins are rate-limited", async () => {
    const me = await api.call<{ rawAPIKey: string; apiKey: { prefix: string } }>("POST", "/api/users/1/tokens", { description: "ci" });
    expect(me.status).toBe(200);
    expect(me.body.rawAPIKey.startsWith(me.body.apiKey.prefix)).toBe(true);
    const anonymous = new PierApi(`https://localhost:${server.httpsPort}`, { ca: readFileSync(dir.file("data/ca/ca.crt")) });
    expect((await anonymous.call("GET", "/api/endpoints", undefined, { "X-API-Key": me.body.rawAPIKey })).status).toBe(200);
    expect((await anonymous.call("GET", "/api/endpoints", undefined, { "X-API-Key": `${me.body.rawAPIKey}x` })).status).toBe(401);
    // All at once: each refused guess costs a scrypt hash (N=2^17, about a second on a loaded
    // machine), so one after another they would let the bucket refill (1 per 12 s) meanwhile.
    const attempts = Array.from({ length: 7 }, (_, i) => anonymous.call("POST", "/api/auth", { Username: "mallory", Password: "guess-number-" + i }));
    const statuses = (await Promise.all(attempts)).map((answer) => answer.status);
    // A burst of 5 attempts per source address (the admin's own login counted too), then 429.
    expect(statuses).toContain(422);
    expect(statuses.filter((s) => s === 422).length).toBeLessThanOrEqual(5);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(2);
    expect(statuses.filter((s) => s !== 422 && s !== 429)).toEqual([]);
  });

  it("TrustOnFirstConnect skips the waiting room", async () => {
    expect((await api.call("PUT", "/api/settings", { TrustOnFirstConnect: true })).status).toBe(200);
    try {
      await using agent = startPierAgent({ edgeId: "edge-default-5", edgeKey: server.edgeKey, dataDir: dir.file("agent-5") });
      await agent.waitFor(/as environment \d+: associated/);
      expect(await byEdgeId("edge-default-5")).toMatchObject({ UserTrusted: true });
    } finally {
      await api.call("PUT", "/api/settings", { TrustOnFirstConnect: false });
    }
  });

  it("validates API input, naming the field", async () => {
    const bad = await api.call<{ message: string }>("PUT", "/api/settings", { EdgeAgentCheckinInterval: "often" });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/EdgeAgentCheckinInterval/);
    const malformed = await api.call<{ message: string }>("POST", "/api/endpoints", "{not json");
    expect(malformed.status).toBe(400);
    const missing = await api.call<{ message: string }>("POST", "/api/endpoints", {});
    expect(missing.status).toBe(400);
    expect(missing.body.message).toMatch(/Name/);
    const key = await api.call<{ message: string }>("POST", "/api/endpoints/edge/generate-key", { url: "http://plain.example.com" });
    expect(key.status).toBe(400);
    expect(key.body.message).toMatch(/https/);
    const anonymous = await new PierApi(`https://localhost:${server.httpsPort}`, { ca: readFileSync(dir.file("data/ca/ca.crt")) }).call("GET", "/api/endpoints");
    expect(anonymous.status).toBe(401);
    const openapi = await api.call<{ paths: Record<string, unknown> }>("GET", "/api/openapi.json");
    expect(Object.keys(openapi.body.paths)).toEqual(expect.arrayContaining(["/api/endpoints", "/api/endpoints/{id}/edge/trust", "/api/endpoints/edge/generate-key", "/api/settings", "/api/auth"]));
  });

  it("a per-environment key makes its device that environment, associated", async () => {
    const created = await api.call<{ Id: number; EdgeKey: string }>("POST", "/api/endpoints", { Name: "shop-floor-7" });
    expect(created.status).toBe(200);
    await using agent = startPierAgent({ edgeId: "edge-default-6", edgeKey: created.body.EdgeKey, dataDir: dir.file("agent-6") });
    await agent.waitFor(new RegExp(`as environment ${created.body.Id}: associated`));
    expect(await byEdgeId("edge-default-6")).toMatchObject({ Id: created.body.Id, UserTrusted: true });
  });

  it("a server restart keeps state and agents reconnect by themselves; a stopped agent turns red", async () => {
    expect((await api.call("PUT", "/api/settings", { EdgeAgentCheckinInterval: 1 })).status).toBe(200);
    const agent = startPierAgent({ edgeId: "edge-default-7", edgeKey: server.edgeKey, dataDir: dir.file("agent-7") });
    const [, id] = await agent.waitFor(/as environment (\d+)/);
    await api.call("POST", `/api/endpoints/${id}/edge/trust`);
    await agent.waitFor(/associated by the administrator; checking in every 1 s/);
    // Association issues its certificate and the agent reconnects with it: stopping the server
    // in between would leave it nothing to hear the restart hint on.
    await until("the device connected with its issued certificate", async () => {
      const e = await byEdgeId("edge-default-7");
      return e?.Pier.Connected && e.Pier.ClientCertificate ? e : undefined;
    });

    const port = server.httpsPort;
    await server.stop();
    // A graceful stop (SIGTERM) tells the agent when to come back; dialling before the new
    // process listens is expected then, and said at info (docs/protocol.md "Admission control and restarts").
    await agent.waitFor(/the server is restarting: reconnecting in \d+ s, as it asked/, 10_000);
    // The hint is the drain's 5 s plus the server's start-up; nothing listens when it has passed.
    await agent.waitFor(/the server is not back from its restart yet \(.*refused.*\); retrying with the backoff/, 30_000);
    ({ server, api } = await fleet.startAgain({ httpsPort: port, tunnelPort: Number(Buffer.from(server.edgeKey, "base64").toString().split("|")[1]?.split(":")[1]) }));
    await agent.waitFor(/connection restored/, 20_000);
    expect(await byEdgeId("edge-default-1")).toMatchObject({ UserTrusted: true });
    expect(await byEdgeId("edge-default-7")).toMatchObject({ UserTrusted: true, Heartbeat: true, Pier: { Connected: true } });

    await agent.stop();
    // Red once the last check-in is older than 2 × 1 s + 20 s.
    const red = await until("the heartbeat to turn red", async () => {
      const e = await byEdgeId("edge-default-7");
      return e && !e.Heartbeat ? e : undefined;
    }, 30_000);
    expect(red.Pier.Connected).toBe(false);
    expect(Date.now() / 1000 - red.LastCheckInDate).toBeGreaterThan(22);
  }, 90_000);
});
