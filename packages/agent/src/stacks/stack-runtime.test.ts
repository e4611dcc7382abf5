import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { edgeStackStatusTypes, type DesiredStack, type StackReport } from "@pier/protocol";
import { parseDockerHost } from "../docker/docker-client.ts";
import { docker, testImage } from "../docker/docker-cli.testkit.ts";
import { recordingLogger } from "../docker/recording-logger.testkit.ts";
import type { FleetReporter } from "../fleet/fleet-contracts.ts";
import { createStackRuntime } from "./stack-runtime.ts";

// Real Docker engine; the project name is unique per run and everything of it is removed afterwards.
const project = `pier-h4-${randomBytes(4).toString("hex")}`;
const dataDir = mkdtempSync(join(tmpdir(), "pier-stack-runtime-"));
const reports: StackReport[] = [];
const reporter: FleetReporter = { stack: (report) => reports.push(report), job: () => undefined, jobLogs: () => undefined };
const log = recordingLogger();
let clock = Date.now();
const runtime = createStackRuntime({ docker: parseDockerHost(undefined), dataDir, reporter, log, settleMs: 1500, retryBackoffMs: 60_000, now: () => clock });
const signal = new AbortController().signal;
const names = Object.fromEntries(Object.entries(edgeStackStatusTypes).map(([name, type]) => [type, name]));

function stack(version: number, services: string): DesiredStack {
  return { id: 41, name: project, version, deploymentType: 0, composeFile: `services:\n${services}`, envVars: [{ name: "GREETING", value: "hello" }], registries: [] };
}
// sh as PID 1 with a trap stops at once on SIGTERM (busybox `sleep` alone ignores it: Docker's 10 s grace per recreate).
const longRunning = `["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]`;
const web = `  web:\n    image: ${testImage}:latest\n    command: ${longRunning}\n    environment:\n      GREETING: \${GREETING}\n`;
const worker = (mode: string) => `  worker:\n    image: ${testImage}:latest\n    command: ${longRunning}\n    environment:\n      MODE: ${mode}\n    depends_on: [web]\n`;

/** The project's containers: service → {id, state, labels}. */
function containers(): Map<string, { id: string; state: string; labels: Record<string, string> }> {
  const ids = docker(["ps", "-aq", "--filter", `label=com.docker.compose.project=${project}`]).split("\n").filter(Boolean);
  const result = new Map<string, { id: string; state: string; labels: Record<string, string> }>();
  if (ids.length === 0) return result;
  for (const item of JSON.parse(docker(["inspect", ...ids])) as { Id: string; State: { Status: string }; Config: { Labels: Record<string, string> } }[]) {
    result.set(item.Config.Labels["com.docker.compose.service"] ?? "", { id: item.Id, state: item.State.Status, labels: item.Config.Labels });
  }
  return result;
}
function networks(): string[] {
  return docker(["network", "ls", "-q", "--filter", `label=com.docker.compose.project=${project}`, "--format", "{{.Name}}"]).split("\n").filter(Boolean);
}
/** Reports since the last call, as `version:type` (type by name). */
function take(): string[] {
  const taken = reports.splice(0);
  // An unexpected error shows Docker's reason in the failed assertion.
  return taken.map((report) => `${report.version}:${names[report.type]}${report.rolledBackTo ? `→${report.rolledBackTo}` : ""}${report.error && !expectedErrors.has(report.version) ? ` (${report.error})` : ""}`);
}
const expectedErrors = new Set([4, 5, 6]);

afterAll(() => {
  for (const id of docker(["ps", "-aq", "--filter", `label=com.docker.compose.project=${project}`]).split("\n").filter(Boolean)) docker(["rm", "-f", id]);
  for (const name of networks()) docker(["network", "rm", name]);
  rmSync(dataDir, { recursive: true, force: true });
});

describe("stack runtime on the real engine", { timeout: 300_000 }, () => {
  it("deploys, updates, rolls back and removes a stack, reporting each transition once", async () => {
    expect(containers().size).toBe(0);

    // Version 1: two services, labelled as Compose labels them.
    await runtime.reconcile([stack(1, web + worker("a"))], signal);
    expect(take()).toEqual(["1:acknowledged", "1:imagesPulled", "1:deploying", "1:running"]);
    const v1 = containers();
    expect([...v1.keys()].sort()).toEqual(["web", "worker"]);
    expect(v1.get("web")?.state).toBe("running");
    expect(v1.get("worker")?.state).toBe("running");
    expect(v1.get("web")?.labels).toMatchObject({
      "com.docker.compose.project": project,
      "com.docker.compose.service": "web",
      "com.docker.compose.container-number": "1",
      "com.docker.compose.oneoff": "False",
      "com.docker.compose.project.working_dir": join(dataDir, "fleet", "stacks", "41"),
      "com.docker.compose.project.config_files": join(dataDir, "fleet", "stacks", "41", "1", "docker-compose.yml"),
      "io.pier.edge-stack.id": "41",
    });
    expect(v1.get("web")?.labels["com.docker.compose.config-hash"]).toMatch(/^[0-9a-f]{64}$/);
    expect(docker(["inspect", "--format", "{{.Name}}", v1.get("web")?.id ?? ""])).toBe(`/${project}-web-1`);
    expect(docker(["inspect", "--format", "{{range .Config.Env}}{{.}} {{end}}", v1.get("web")?.id ?? ""])).toContain("GREETING=hello");
    expect(networks()).toEqual([`${project}_default`]);
    expect(statSync(join(dataDir, "fleet", "stacks", "41", "1", "docker-compose.yml")).mode & 0o777).toBe(0o600);

    // The same target again: nothing to do, nothing reported.
    await runtime.reconcile([stack(1, web + worker("a"))], signal);
    expect(take()).toEqual([]);
    expect(containers().get("web")?.id).toBe(v1.get("web")?.id);

    // Version 2 changes one service's environment: only it is recreated.
    await runtime.reconcile([stack(2, web + worker("b"))], signal);
    expect(take()).toEqual(["2:acknowledged", "2:imagesPulled", "2:deploying", "2:running"]);
    const v2 = containers();
    expect(v2.get("web")?.id).toBe(v1.get("web")?.id);
    expect(v2.get("worker")?.id).not.toBe(v1.get("worker")?.id);
    expect(v2.get("worker")?.state).toBe("running");
    expect(readdirSync(join(dataDir, "fleet", "stacks", "41")).sort()).toEqual(["2", "state.json"]);

    // Version 3 drops the worker: it is removed.
    await runtime.reconcile([stack(3, web)], signal);
    expect(take()).toEqual(["3:acknowledged", "3:imagesPulled", "3:deploying", "3:running"]);
    expect([...containers().keys()]).toEqual(["web"]);
    const v3web = containers().get("web")?.id;
    expect(v3web).toBe(v1.get("web")?.id);

    // Version 4 names an image that cannot be pulled: error with Docker's reason, back to version 3.
    await runtime.reconcile([stack(4, web.replace(`${testImage}:latest`, "127.0.0.1:1/pier-missing:4"))], signal);
    const failed = reports.find((report) => report.type === edgeStackStatusTypes.error);
    expect(take()).toEqual(["4:acknowledged", "4:error", "4:rollingBack", "4:rolledBack→3"]);
    expect(failed?.error).toContain("Docker could not pull 127.0.0.1:1/pier-missing:4");
    expect(containers().get("web")).toMatchObject({ id: v3web, state: "running" });
    // Not retried in a loop: the same target again reports nothing and leaves version 3 running.
    await runtime.reconcile([stack(4, web.replace(`${testImage}:latest`, "127.0.0.1:1/pier-missing:4"))], signal);
    expect(take()).toEqual([]);
    expect(containers().get("web")).toMatchObject({ id: v3web, state: "running" });
    // After the backoff it is tried once more, then the backoff doubles.
    clock += 60_001;
    await runtime.reconcile([stack(4, web.replace(`${testImage}:latest`, "127.0.0.1:1/pier-missing:4"))], signal);
    expect(take()).toEqual(["4:acknowledged", "4:error", "4:rollingBack", "4:rolledBack→3"]);
    clock += 60_001;
    await runtime.reconcile([stack(4, web.replace(`${testImage}:latest`, "127.0.0.1:1/pier-missing:4"))], signal);
    expect(take()).toEqual([]);

    // A file the agent cannot deploy (the server refuses it first; the agent holds the line too).
    await runtime.reconcile([stack(5, "  web:\n    image: ${MISSING:?set it}\n")], signal);
    const invalid = reports.find((report) => report.type === edgeStackStatusTypes.error);
    expect(take()).toEqual(["5:acknowledged", "5:error", "5:rollingBack", "5:rolledBack→3"]);
    expect(invalid?.error).toContain("services.web.image: required variable MISSING is missing (set it)");
    expect(containers().get("web")).toMatchObject({ id: v3web, state: "running" });

    // Version 6's container exits at once: error naming the exit, rolled back to version 3 (recreated as it was).
    await runtime.reconcile([stack(6, web.replace(longRunning, "sh -c 'exit 3'"))], signal);
    const exited = reports.find((report) => report.type === edgeStackStatusTypes.error);
    expect(take()).toEqual(["6:acknowledged", "6:imagesPulled", "6:deploying", "6:error", "6:rollingBack", "6:rolledBack→3"]);
    expect(exited?.error).toContain("service web is exited (exit code 3)");
    const back = containers().get("web");
    expect(back?.state).toBe("running");
    expect(back?.labels["com.docker.compose.config-hash"]).toBe(v1.get("web")?.labels["com.docker.compose.config-hash"]);

    // Dropped from the target: every container and network of the project goes, and its files.
    await runtime.reconcile([], signal);
    expect(take()).toEqual(["3:removing", "3:removed"]);
    expect(containers().size).toBe(0);
    expect(networks()).toEqual([]);
    expect(existsSync(join(dataDir, "fleet", "stacks", "41"))).toBe(false);
    await runtime.reconcile([], signal);
    expect(take()).toEqual([]);
  });
});
