import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { PierApi, pierOk, startBuiltInCaFleet, startPierAgent, startPrometheus, until, type BuiltInCaFleet, type PierProcess, type Prometheus } from "../src/index.ts";

/**
 * Observability as an operator sets it up (docs/deploy.md "Metrics and logs"): Debian's Prometheus scrapes
 * `/metrics` over TLS with an access token while a real agent is connected; the server logs one
 * JSON object per line (`--log-format json`) with the request ids it answers in X-Request-Id.
 */
const password = "correct horse battery staple";
let fleet: BuiltInCaFleet;
let agent: PierProcess;
let prometheus: Prometheus;
let token: string;

/** A request to the HTTPS listener: status, `X-Request-Id` answered, body. */
function call(path: string, headers: Record<string, string>): Promise<{ status: number; requestId: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "localhost", port: fleet.server.httpsPort, path, ca: readFileSync(fleet.dir.file("data/ca/ca.crt")), headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, requestId: res.headers["x-request-id"] as string | undefined, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** The server's log lines, each parsed (throws on a line that is not one JSON object). */
const logLines = () =>
  fleet.server
    .output()
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as { time: string; level: string; msg: string; replica: string; requestId?: string });

beforeAll(async () => {
  fleet = await startBuiltInCaFleet("prometheus", password, ["--log-format", "json", "--log-level", "debug"]);
  const made = await fleet.api.call<{ rawAPIKey: string }>("POST", "/api/users/1/tokens", { description: "prometheus" });
  expect(made.status).toBe(200);
  token = made.body.rawAPIKey;
  writeFileSync(fleet.dir.file("prometheus.token"), token, { mode: 0o600 });
  agent = startPierAgent({ edgeId: "edge-metrics-1", edgeKey: fleet.server.edgeKey, dataDir: fleet.dir.file("agent-1") });
  await agent.waitFor(/connected to https:\/\/127\.0\.0\.1:\d+ as environment \d+/);
  prometheus = await startPrometheus({ address: `127.0.0.1:${fleet.server.httpsPort}`, caFile: fleet.dir.file("data/ca/ca.crt"), tokenFile: fleet.dir.file("prometheus.token"), serverName: "localhost" });
});

afterAll(async () => {
  await prometheus?.stop();
  await agent?.stop();
  await fleet?.[Symbol.asyncDispose]();
});

describe("metrics scraped by Prometheus", () => {
  it("Prometheus scrapes /metrics over TLS with the token: one agent connected, a refused handshake counted by reason", async () => {
    const connected = await until("Prometheus to see the agent", async () => (await prometheus.query("pier_agents_connected")).find((sample) => sample.value === 1), 20_000);
    expect(connected.metric).toMatchObject({ job: "pier", instance: `127.0.0.1:${fleet.server.httpsPort}` });
    expect(await prometheus.query("up")).toEqual([expect.objectContaining({ value: 1 })]);
    expect((await prometheus.query("pier_waiting_room_devices"))[0]?.value).toBe(1);

    // A device certificate from a CA the server does not know: the tunnel listener (built-in CA,
    // client certificates optional) lets the handshake finish and the edge routes refuse it.
    pierOk(["ca", "init", "--dir", fleet.dir.file("stranger-ca"), "--cn", "Stranger CA"]);
    pierOk(["ca", "issue", "client", "--dir", fleet.dir.file("stranger-ca"), "--cn", "edge-metrics-stranger", "--out", fleet.dir.file("stranger")]);
    const stranger = new PierApi(`https://127.0.0.1:${fleet.server.tunnelPort}`, { ca: readFileSync(fleet.dir.file("data/ca/ca.crt")), cert: readFileSync(fleet.dir.file("stranger.crt")), key: readFileSync(fleet.dir.file("stranger.key")) });
    const hello = { type: "hello", protocol: 1, environmentId: 0, agent: { edgeId: "edge-metrics-stranger", agentVersion: "1.0.0", platform: "docker", hostname: "x", os: "linux", arch: "amd64" } };
    // Precondition: no refusal counted yet (the scrape that saw the agent had none).
    expect(await prometheus.query('pier_tls_refusals_total{listener="edge"}')).toEqual([]);
    expect((await stranger.call("POST", "/api/edge/v1/checkin", hello)).status).toBe(403);
    const refused = await until("Prometheus to count the refusal", async () => (await prometheus.query('pier_tls_refusals_total{listener="edge"} >= 1'))[0], 20_000);
    expect(refused.metric["reason"]).toMatch(/^[a-z_]+$/);
    expect((await prometheus.query("pier_check_ins_total"))[0]?.value).toBeGreaterThanOrEqual(1);
    expect((await prometheus.query('pier_agent_hellos_total{outcome="accepted"}'))[0]?.value).toBeGreaterThanOrEqual(1);
    expect((await prometheus.query("pier_enrollments_total"))[0]?.value).toBe(1);
    expect((await prometheus.query('pier_certificate_expiry_seconds{certificate="server"}'))[0]?.value).toBeGreaterThan(86_400);
    expect((await prometheus.query("process_resident_memory_bytes"))[0]?.value).toBeGreaterThan(0);
  });

  it("answers /metrics only to a token or session, 401 in the API's shape otherwise", async () => {
    const anonymous = await call("/metrics", {});
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.body)).toMatchObject({ code: "unauthorized" });
    expect((await call("/metrics", { authorization: `Bearer pier_${"A".repeat(43)}` })).status).toBe(401);
    const withKey = await call("/metrics", { "x-api-key": token });
    expect(withKey.status).toBe(200);
    expect(withKey.body).toMatch(/^# HELP pier_agents_connected /m);
  });
});

describe("--log-format json", () => {
  it("prints one JSON object per line with time, level, msg and replica", () => {
    const lines = logLines();
    expect(lines.length).toBeGreaterThan(3);
    for (const line of lines) {
      expect(line.time).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(["debug", "info", "warn", "error"]).toContain(line.level);
      expect(typeof line.msg).toBe("string");
      expect(line.replica).not.toBe("");
    }
    expect(lines.some((line) => line.msg.startsWith("Pier server listening"))).toBe(true);
  });

  it("answers a sane X-Request-Id and logs the request's lines with it; an over-long one is replaced, not echoed", async () => {
    const kept = await call("/api/endpoints", { "x-request-id": "e2e-req.1_A", authorization: "Bearer not-a-session" });
    expect(kept).toMatchObject({ status: 401, requestId: "e2e-req.1_A" });
    const line = await until("the request's log line", () => Promise.resolve(logLines().find((entry) => entry.requestId === "e2e-req.1_A")));
    expect(line.level).toBe("debug");
    expect(line.msg).toMatch(/^API GET \/api\/endpoints 401 /);

    const long = "x".repeat(65);
    const replaced = await call("/api/endpoints", { "x-request-id": long, authorization: "Bearer not-a-session" });
    expect(replaced.status).toBe(401);
    expect(replaced.requestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    await until("the replaced id's log line", () => Promise.resolve(logLines().find((entry) => entry.requestId === replaced.requestId)));
    expect(fleet.server.output()).not.toContain(long);
  });
});
