import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { agentChartPath } from "@pier/protocol";
import { PierApi, freeLoopbackPort, postgresBin, run, startPierAgent, startPierServer, tempDir, type PierServer, type TempDir } from "../src/index.ts";

/**
 * The JavaScript bundle a memory-tight device runs (scripts/build-bundle.ts): it builds from a
 * clean tree, answers like the installed command, and its agent reaches a real server.
 */
const root = join(import.meta.dirname, "..", "..", "..");
let dir: TempDir;
let server: PierServer;
let bundle: string;

beforeAll(async () => {
  dir = tempDir("bundle");
  const built = run(process.execPath, [join(root, "scripts/build-bundle.ts"), "--out", dir.file("pier")], { cwd: root });
  expect(built.status, built.output).toBe(0);
  bundle = dir.file("pier/main.cjs");
  server = await startPierServer({ dataDir: dir.file("data") });
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await dir?.[Symbol.asyncDispose]();
});

describe("the bundled pier command", () => {
  it("builds from a clean tree and answers --version like the installed command", () => {
    expect(existsSync(bundle)).toBe(true);
    const version = run(process.execPath, [bundle, "--version"]);
    expect(version.status).toBe(0);
    expect(version.stdout).toMatch(/^pier \d+\.\d+\.\d+ \(Node\.js v24\./);
  });

  it("refuses an agent without EDGE_KEY with the same clear error as the sources", () => {
    const refused = run(process.execPath, [bundle, "agent", "--data", dir.file("no-key")], { env: { EDGE: "1", EDGE_ID: "bundle-no-key", EDGE_KEY: "" } });
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain("EDGE_KEY is not set");
  });

  it("runs a server that serves the web UI and the agent's Helm chart bundled next to it", async () => {
    await using bundled = await startPierServer({ dataDir: dir.file("bundled-server"), command: [process.execPath, bundle] });
    const api = new PierApi(`https://127.0.0.1:${bundled.httpsPort}`, { ca: readFileSync(dir.file("bundled-server/ca/ca.crt")) });
    const page = await api.call<string>("GET", "/waiting-room");
    expect(page.status).toBe(200);
    expect(page.body).toContain('<div id="root">');
    // HEAD: the archive itself is checked with helm in agent-chart.test.ts.
    expect(await api.call("HEAD", agentChartPath)).toMatchObject({ status: 200 });
    expect(bundled.output()).not.toContain("Helm chart is not served");
  }, 30_000);

  it("runs a server on PostgreSQL: the driver (pg, its optional pg-native left out) is in the bundle", async () => {
    // The run's PostgreSQL (vitest global setup); psql over TCP with the superuser's URL.
    const adminUrl = inject("postgresUrl");
    const name = `bundle_${randomBytes(4).toString("hex")}`;
    const psql = (database: string, sql: string) => run(join(postgresBin, "psql"), [new URL(`/${database}`, adminUrl).toString().replace(/^postgres:/, "postgresql:"), "-v", "ON_ERROR_STOP=1", "-Atqc", sql]);
    expect(psql("postgres", `CREATE DATABASE ${name}`).status).toBe(0);
    expect(psql(name, "SELECT to_regclass('public.schema_migrations') IS NULL").stdout.trim()).toBe("t"); // empty before
    writeFileSync(dir.file("cluster-secret"), randomBytes(48).toString("base64"), { mode: 0o600 });
    const peer = await freeLoopbackPort();
    await using bundled = await startPierServer({
      dataDir: dir.file("bundled-postgres"),
      command: [process.execPath, bundle],
      args: ["--database-url", new URL(`/${name}`, adminUrl).toString(), "--secret-file", dir.file("cluster-secret"), "--peer-bind", `127.0.0.1:${peer}`, "--peer-address", `127.0.0.1:${peer}`],
      startTimeoutMs: 60_000,
    });
    const status = await new PierApi(`https://127.0.0.1:${bundled.httpsPort}`, { ca: readFileSync(dir.file("bundled-postgres/ca/ca.crt")) }).call("GET", "/api/system/status");
    expect(status.status).toBe(200);
    expect(Number(psql(name, "SELECT count(*) FROM schema_migrations").stdout.trim())).toBeGreaterThan(0);
    expect(Number(psql(name, "SELECT count(*) FROM cluster_files").stdout.trim())).toBeGreaterThan(0);
    expect(bundled.output()).not.toContain(new URL(adminUrl).password);
  }, 90_000);

  it("runs an agent, with V8's small-footprint flags, that lands in the waiting room", async () => {
    await using agent = startPierAgent({ edgeId: "bundle-agent", edgeKey: server.edgeKey, dataDir: dir.file("agent"), command: [process.execPath, "--lite-mode", "--max-semi-space-size=1", bundle] });
    await agent.waitFor(/waiting for association in the Waiting Room/, 20_000);
  }, 30_000);
});
