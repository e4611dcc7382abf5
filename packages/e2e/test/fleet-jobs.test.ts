import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBuiltInCaServer, startPierAgent, tempDir, until, type PierApi, type PierProcess, type PierServer, type TempDir } from "../src/index.ts";

/**
 * Edge jobs end to end (docs/fleet.md "Edge jobs"): a real server and a real `pier agent` on the
 * machine's Docker engine. A one-off job created through Portainer's API runs on the device's
 * host at the next minute, its run is reported, and its output is collected on request.
 */
const password = "correct horse battery staple";
const suffix = randomBytes(4).toString("hex");
const hostFile = `/tmp/pier-e2e-job-${suffix}`;
let dir: TempDir;
let server: PierServer;
let api: PierApi;
let agent: PierProcess;
let environmentId: number;

interface Task {
  Id: string;
  EndpointId: number;
  LogsStatus: number;
  Pier: { LastRun?: { StartedAt: string; FinishedAt: string; ExitCode?: number; Error?: string; Version: number } };
}

beforeAll(async () => {
  dir = tempDir("fleet-jobs");
  ({ server, api } = await startBuiltInCaServer(dir, password));
  expect((await api.call("PUT", "/api/settings", { EdgeAgentCheckinInterval: 1 })).status).toBe(200);
  // The job image is the run's local busybox (no registry is reachable); privileged containers
  // cannot start on this machine's engine (it lacks a capability to grant), so jobs keep Docker's defaults.
  agent = startPierAgent({ edgeId: `jobs-${suffix}`, edgeKey: server.edgeKey, dataDir: dir.file("agent"), env: { PIER_JOB_IMAGE: "pier-test/busybox:latest", PIER_JOB_PRIVILEGED: "false" } });
  const [, id] = await agent.waitFor(/as environment (\d+)/);
  environmentId = Number(id);
  expect((await api.call("POST", `/api/endpoints/${environmentId}/edge/trust`)).status).toBe(204);
  await agent.waitFor(/associated by the administrator/);
}, 240_000);

afterAll(async () => {
  await agent?.stop();
  await server?.stop();
  await dir?.[Symbol.asyncDispose]();
  rmSync(hostFile, { force: true });
});

describe("edge jobs", () => {
  it("a one-off job runs on the device's host at the next minute, reports its run, and its output is collected when asked", async () => {
    expect(existsSync(hostFile)).toBe(false);
    const created = await api.call<{ Id: number; Version: number }>("POST", "/api/edge_jobs/create/string", {
      name: "write a file",
      cronExpression: "* * * * *",
      recurring: false,
      edgeGroups: [],
      endpoints: [environmentId],
      fileContent: `echo "ran on $(cat /host/etc/hostname 2>/dev/null || echo host)"; echo from-job > /host${hostFile}; echo warning >&2`,
    });
    expect(created.status).toBe(200);
    const job = created.body.Id;
    await agent.waitFor(/edge job write a file \(\d+\) version 1: scheduled "\* \* \* \* \*" UTC/, 30_000);
    // At most a minute to the next match, then the run and its report.
    const run = await until(
      "the job's run reported",
      async () => (await api.call<Task[]>("GET", `/api/edge_jobs/${job}/tasks`)).body[0]?.Pier.LastRun,
      100_000,
    );
    expect(run).toMatchObject({ ExitCode: 0, Version: 1 });
    expect(readFileSync(hostFile, "utf8")).toBe("from-job\n");
    // Nothing leaves the device before it is asked for.
    expect((await api.call<{ FileContent: string }>("GET", `/api/edge_jobs/${job}/tasks/${environmentId}/logs`)).body).toEqual({ FileContent: "" });
    expect((await api.call("POST", `/api/edge_jobs/${job}/tasks/${environmentId}/logs`)).status).toBe(204);
    await until("the output collected", async () => (await api.call<Task[]>("GET", `/api/edge_jobs/${job}/tasks`)).body[0]?.LogsStatus === 3, 30_000);
    const logs = await api.call<{ FileContent: string }>("GET", `/api/edge_jobs/${job}/tasks/${environmentId}/logs`);
    // Both streams, each line whole; their order is the engine's (stderr's line may come first).
    const lines = logs.body.FileContent.split("\n");
    expect(lines.at(-1)).toBe("");
    expect(lines.slice(0, -1).sort()).toEqual([expect.stringMatching(/^ran on .+/), "warning"]);
    expect((await api.call<{ Endpoints: Record<string, unknown> }>("GET", `/api/edge_jobs/${job}`)).body.Endpoints).toEqual({ [String(environmentId)]: { LogsStatus: 3, CollectLogs: false } });
  }, 180_000);
});
