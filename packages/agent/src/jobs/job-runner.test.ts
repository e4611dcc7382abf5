import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { fleetLimits } from "@pier/protocol";
import { afterAll, describe, expect, it } from "vitest";
import { parseDockerHost } from "../docker/docker-client.ts";
import { dockerCall } from "../docker/engine-api.ts";
import { jobLabel, runJob } from "./job-runner.ts";

const docker = parseDockerHost(process.env["DOCKER_HOST"]);
const image = "pier-test/busybox:latest";
// Stand-in: this machine's Docker runs without CAP_SYS_RESOURCE in its bounding set, so a
// privileged container cannot start here ("unable to apply caps"); the jobs run with Docker's
// default capabilities, everything else (host PID and network, / at /host) as on a device.
const privileged = false;
// Unique per run: the job id is the label the containers are found by.
const jobId = 1_000_000 + Math.floor(Math.random() * 1_000_000);

async function jobContainers(): Promise<unknown[]> {
  const filters = encodeURIComponent(JSON.stringify({ label: [`${jobLabel}=${jobId}`] }));
  return (await dockerCall(docker, "GET", `/containers/json?all=1&filters=${filters}`)) as unknown[];
}

/** The job runner against the machine's real Docker engine (the main one, shared: names are unique). */
describe("job runner", () => {
  const hostFile = `/tmp/pier-job-${randomBytes(6).toString("hex")}`;
  afterAll(() => rmSync(hostFile, { force: true }));

  it("runs the script with the host's root at /host, captures stdout, stderr and the exit code, and removes its container", async () => {
    expect(existsSync(hostFile)).toBe(false);
    const run = await runJob({ docker, image, jobId, version: 1, privileged, script: `echo out; echo err >&2; echo written > /host${hostFile}; exit 3` });
    expect(run.error).toBeUndefined();
    expect(run.exitCode).toBe(3);
    expect(run.output.toString()).toContain("out\n");
    expect(run.output.toString()).toContain("err\n");
    expect(readFileSync(hostFile, "utf8")).toBe("written\n");
    expect(run.finishedAt).toBeGreaterThanOrEqual(run.startedAt);
    expect(await jobContainers()).toEqual([]);
  }, 60_000);

  it("keeps the last 1 MiB of a longer output", async () => {
    const run = await runJob({ docker, image, jobId, version: 1, privileged, script: `head -c ${fleetLimits.jobLogBytes + 4096} /dev/zero | tr '\\0' a; printf END` });
    expect(run.exitCode).toBe(0);
    expect(run.output.length).toBe(fleetLimits.jobLogBytes);
    expect(run.output.subarray(-5).toString()).toBe("aaEND");
  }, 60_000);

  it("kills a job that runs past its timeout and says so; the container is removed", async () => {
    const run = await runJob({ docker, image, jobId, version: 1, privileged, script: "echo started; sleep 60", timeoutMs: 1_500 });
    expect(run.error).toBe("the job ran longer than 2 s and was killed");
    expect(run.output.toString()).toBe("started\n");
    expect(run.finishedAt - run.startedAt).toBeLessThan(30_000);
    expect(await jobContainers()).toEqual([]);
  }, 60_000);

  it("reports an image that cannot be had as an error without an exit code", async () => {
    const run = await runJob({ docker, image: `pier-test/absent-${randomBytes(4).toString("hex")}:1`, jobId, version: 1, privileged, script: "true" });
    expect(run.exitCode).toBeUndefined();
    expect(run.error).toMatch(/pier-test\/absent-/);
    expect(await jobContainers()).toEqual([]);
  }, 120_000);
});
