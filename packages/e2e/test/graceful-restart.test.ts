import { readFileSync } from "node:fs";
import http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { builtInCaApi, enrollZeroTouchAgent, pier, startBuiltInCaServer, startPierServer, tempDir, until, type PierApi, type PierProcess, type PierServer, type TempDir } from "../src/index.ts";

/**
 * A graceful restart (issue 20) with real processes: `pier server` gets SIGTERM while two
 * zero-touch agents hold their sessions; it tells each to come back after a spread-out delay
 * (`refused {code: "restarting", retryAfterSeconds}`, then GOAWAY) and exits 0; started again on
 * the same data and ports, it gets both back, without their failure path.
 */
const password = "graceful restart admin password";
let dir: TempDir;
let server: PierServer | undefined;
let api: PierApi;
const agents: PierProcess[] = [];

interface Endpoint {
  Id: number;
  EdgeID: string;
  Heartbeat: boolean;
  Pier: { Connected: boolean };
}

async function connected(edgeIds: readonly string[]): Promise<boolean> {
  const res = await api.call<Endpoint[]>("GET", "/api/endpoints");
  if (res.status !== 200) return false;
  return edgeIds.every((edgeId) => res.body.some((e) => e.EdgeID === edgeId && e.Pier.Connected && e.Heartbeat));
}

const count = (text: string, pattern: RegExp) => text.match(new RegExp(pattern.source, "g"))?.length ?? 0;

beforeAll(async () => {
  dir = tempDir("graceful-restart");
  let started: PierServer;
  ({ server: started, api } = await startBuiltInCaServer(dir, password));
  server = started;
  expect((await api.call("PUT", "/api/settings", { EdgeAgentCheckinInterval: 1 })).status).toBe(200);
  for (const edgeId of ["restart-a", "restart-b"]) agents.push((await enrollZeroTouchAgent({ server: started, api, dir }, edgeId)).agent);
}, 90_000);

afterAll(async () => {
  await Promise.all(agents.map((agent) => agent.stop()));
  await server?.stop();
  await dir?.[Symbol.asyncDispose]();
});

describe("graceful restart (SIGTERM)", () => {
  it("tells each session when to come back, exits 0 within seconds, and gets both agents back after their hinted delay", async () => {
    const first = server;
    if (!first) throw new Error("no server");
    // Precondition: both agents hold a session with heartbeats.
    await until("both agents connected", () => connected(["restart-a", "restart-b"]), 15_000);
    const before = agents.map((agent) => agent.output().length);
    const connectedBefore = agents.map((agent) => count(agent.output(), /connected to \S+ as environment \d+/));

    const signalled = Date.now();
    const exited = new Promise<number | null>((resolve) => first.process.once("exit", (code) => resolve(code)));
    first.process.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(6_000);
    // Two sessions: a window of ceil(2 / 500) = 1 s, starting when the server can be back (the
    // drain's 5 s and its own start-up), so both were told the same delay, E s.
    expect(first.output()).toContain("SIGTERM: shutting down gracefully (a second signal exits at once)");
    const told = /told 2 device session\(s\) that the server is restarting, each to reconnect after a delay spread over (\d+)–(\d+) s/.exec(first.output());
    expect(told?.[1]).toBe(told?.[2]);
    const earliest = Number(told?.[1]);
    expect(earliest).toBeGreaterThanOrEqual(6);
    for (const agent of agents) {
      await agent.waitFor(new RegExp(`the server is restarting: reconnecting in ${earliest} s, as it asked`), 5_000);
      // The planned path, not the one of a session the server dropped.
      expect(agent.output().slice(before[agents.indexOf(agent)])).not.toContain("the server closed the session; reconnecting");
    }

    server = await startPierServer({ dataDir: dir.file("data"), httpsPort: first.httpsPort, tunnelPort: first.tunnelPort, args: ["--admin-password-file", dir.file("admin-password")] });
    api = builtInCaApi(server, dir);
    await api.login("admin", password);
    await until("both agents back with heartbeats", () => connected(["restart-a", "restart-b"]), 30_000);
    agents.forEach((agent, index) => {
      const since = agent.output().slice(before[index]);
      expect(count(agent.output(), /connected to \S+ as environment \d+/)).toBeGreaterThan(connectedBefore[index] ?? 0);
      expect(since).not.toContain("the server closed the session; reconnecting");
      // Dialling before the new process listens is expected after the hint: no error for it.
      expect(since).not.toMatch(/ (ERROR|WARN) /);
    });
  }, 90_000);

  it("refuses admission flags out of range before starting, naming the flag", () => {
    // The other bounds are covered by serverLimits' unit test (packages/cli).
    const result = pier(["server", "--data", dir.file("never"), "--max-concurrent-hellos", "20000"]);
    expect(result.status).toBe(2);
    expect(result.output).toContain("--max-concurrent-hellos needs a whole number from 1 to 10000, got 20000.");
  });

  it("exits at once on a second signal while it waits for connections to end", async () => {
    await using other = await startPierServer({ dataDir: dir.file("second-signal") });
    // A request whose body never ends keeps its HTTP/2 connection open past GOAWAY.
    const client = http2.connect(`https://localhost:${other.httpsPort}`, { ca: readFileSync(dir.file("second-signal/ca/ca.crt")) });
    client.on("error", () => undefined);
    const stream = client.request({ ":method": "POST", ":path": "/api/auth", "content-type": "application/json" }, { endStream: false });
    stream.on("error", () => undefined);
    stream.write("{");
    await new Promise((resolve) => client.once("remoteSettings", resolve));
    const exited = new Promise<number | null>((resolve) => other.process.once("exit", (code) => resolve(code)));
    other.process.kill("SIGTERM");
    await other.waitFor(/SIGTERM: shutting down gracefully/, 5_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Precondition: still draining (it waits up to 5 s for that connection).
    expect(other.process.exitCode).toBeNull();
    const again = Date.now();
    other.process.kill("SIGTERM");
    expect(await exited).toBe(1);
    expect(Date.now() - again).toBeLessThan(1_000);
    expect(other.output()).toContain("SIGTERM during the graceful shutdown: exiting at once");
    client.destroy();
  }, 60_000);
});
