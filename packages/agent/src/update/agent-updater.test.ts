import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AgentUpdateReport } from "@pier/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { parseDockerHost } from "../docker/docker-client.ts";
import { recordingLogger } from "../docker/recording-logger.testkit.ts";
import { newContainerBody } from "./agent-swap.ts";
import { AgentUpdater } from "./agent-updater.ts";
import { readUpdateRecord, updateRecordPath, writeUpdateRecord } from "./update-record.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function setup(ownContainer: () => Promise<string | undefined> = () => Promise.resolve(undefined)) {
  const dataDir = mkdtempSync(join(tmpdir(), "pier-agent-update-"));
  dirs.push(dataDir);
  const reports: AgentUpdateReport[] = [];
  const log = recordingLogger();
  // No engine is reached: ownContainer is the stand-in for "which container am I", and says none.
  const updater = new AgentUpdater({ docker: parseDockerHost("unix:///nonexistent/docker.sock"), dataDir, log, reporter: { agentUpdate: (report) => reports.push(report) }, ownContainer });
  return { dataDir, reports, log, updater };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

describe("AgentUpdater", () => {
  it("an agent that runs in no container reports failed with the reason, once per update", async () => {
    const { dataDir, reports, updater } = setup();
    expect(readUpdateRecord(dataDir)).toBeUndefined();
    updater.apply({ id: 4, image: "pier-agent:0.2", deadlineSeconds: 60 });
    await settle();
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ id: 4, status: "failed", agentVersion: "0.1.0" });
    expect(reports[0]?.error).toMatch(/does not run in a container/);
    expect(readUpdateRecord(dataDir)).toMatchObject({ id: 4, state: "failed", reported: true });
    expect(statSync(updateRecordPath(dataDir)).mode & 0o777).toBe(0o600);
    // The desired state keeps naming it until the server took the report: no second attempt.
    updater.apply({ id: 4, image: "pier-agent:0.2", deadlineSeconds: 60 });
    await settle();
    expect(reports).toHaveLength(1);
  });

  it("an agent in a Swarm service task reports failed and touches nothing (the real engine, a labelled container that never starts)", async () => {
    const name = `pier-test-agent-update-task-${randomBytes(4).toString("hex")}`;
    const id = execFileSync("docker", ["create", "--name", name, "--label", "com.docker.swarm.service.name=edge_agent", "pier-test/busybox:latest", "true"], { encoding: "utf8" }).trim();
    try {
      const dataDir = mkdtempSync(join(tmpdir(), "pier-agent-update-"));
      dirs.push(dataDir);
      const reports: AgentUpdateReport[] = [];
      const updater = new AgentUpdater({ docker: parseDockerHost(undefined), dataDir, log: recordingLogger(), reporter: { agentUpdate: (report) => reports.push(report) }, ownContainer: () => Promise.resolve(id) });
      // An image this engine has not got: the refusal comes before any pull (which would fail here, offline).
      const image = `pier-agent:never-pulled-${randomBytes(4).toString("hex")}`;
      updater.apply({ id: 9, image, deadlineSeconds: 60 });
      for (let i = 0; i < 100 && reports.length === 0; i++) await settle();
      expect(reports[0]).toMatchObject({ id: 9, status: "failed" });
      expect(reports[0]?.error).toMatch(/task of the Swarm service edge_agent; update the service instead/);
      expect(() => execFileSync("docker", ["image", "inspect", image], { stdio: "ignore" })).toThrow();
      expect(execFileSync("docker", ["ps", "-a", "--filter", `name=${name}`, "--format", "{{.Names}} {{.State}}"], { encoding: "utf8" }).trim()).toBe(`${name} created`);
    } finally {
      execFileSync("docker", ["rm", "-f", name]);
    }
  });

  it("the new agent reports updated at its first welcome; the old one, which started the swap, never does", async () => {
    const { dataDir, reports, updater } = setup(() => new Promise(() => {}));
    updater.apply({ id: 5, image: "pier-agent:0.3", deadlineSeconds: 60 });
    expect(readUpdateRecord(dataDir)).toMatchObject({ id: 5, state: "swapping" });
    updater.welcomed();
    expect(readUpdateRecord(dataDir)?.state).toBe("swapping");
    expect(reports).toEqual([]);
    // A new process on the same /data: the new agent.
    // Stand-in for inspecting its own container: created with the new image.
    const fresh = new AgentUpdater({ docker: parseDockerHost(undefined), dataDir, log: recordingLogger(), reporter: { agentUpdate: (report) => reports.push(report) }, runningImage: () => Promise.resolve("pier-agent:0.3") });
    fresh.start();
    expect(reports).toEqual([]);
    fresh.welcomed();
    await settle();
    expect(reports).toEqual([{ id: 5, status: "updated", agentVersion: "0.1.0" }]);
    expect(readUpdateRecord(dataDir)).toMatchObject({ id: 5, state: "updated", reported: true });
    fresh.welcomed();
    await settle();
    expect(reports).toHaveLength(1);
  });

  it("an agent started again on the old image while the swap is recorded (the helper died) reports failed, not updated", async () => {
    const { dataDir, reports } = setup();
    writeUpdateRecord(dataDir, { id: 7, image: "pier-agent:0.3", state: "swapping" });
    const restarted = new AgentUpdater({ docker: parseDockerHost(undefined), dataDir, log: recordingLogger(), reporter: { agentUpdate: (report) => reports.push(report) }, runningImage: () => Promise.resolve("pier-agent:0.1") });
    restarted.start();
    restarted.welcomed();
    await settle();
    expect(reports).toEqual([{ id: 7, status: "failed", agentVersion: "0.1.0", error: "the agent still runs image pier-agent:0.1: the swap helper stopped before replacing it" }]);
    expect(readUpdateRecord(dataDir)).toMatchObject({ id: 7, state: "failed", reported: true });
  });

  it("an agent started again by a rollback reports rolled_back with the helper's reason, once", () => {
    const { dataDir, reports, updater } = setup();
    writeUpdateRecord(dataDir, { id: 6, image: "pier-agent:bad", state: "rolled_back", error: "the new agent (image pier-agent:bad) did not check in within 30 s" });
    updater.start();
    expect(reports).toEqual([{ id: 6, status: "rolled_back", agentVersion: "0.1.0", error: "the new agent (image pier-agent:bad) did not check in within 30 s" }]);
    updater.start();
    updater.welcomed();
    expect(reports).toHaveLength(1);
  });
});

describe("newContainerBody", () => {
  it("keeps the container's own settings, drops what the old image gave, and mounts an anonymous /data volume by name", () => {
    const body = newContainerBody(
      {
        Id: "abcdef1234567890",
        Name: "/pier-agent",
        Image: "sha256:old",
        Config: { Image: "pier-agent:0.1", Hostname: "abcdef123456", Env: ["PATH=/usr/bin", "EDGE_KEY=k", "PIER_AGENT_DATA=/data"], Labels: { "dev.pier.inputs": "old", owner: "ops" }, Entrypoint: ["node", "agent"], Cmd: null },
        HostConfig: { Binds: ["/var/run/docker.sock:/var/run/docker.sock"], RestartPolicy: { Name: "always" } },
        Mounts: [
          { Type: "bind", Destination: "/var/run/docker.sock" },
          { Type: "volume", Name: "0123abcd", Destination: "/data" },
        ],
        NetworkSettings: { Networks: { edge: { Aliases: ["abcdef123456", "agent"] } } },
      },
      { Config: { Env: ["PATH=/usr/bin", "PIER_AGENT_DATA=/data"], Labels: { "dev.pier.inputs": "old" }, Entrypoint: ["node", "agent"], Cmd: null } },
      "pier-agent:0.2",
    );
    expect(body).toMatchObject({
      Image: "pier-agent:0.2",
      Env: ["EDGE_KEY=k"],
      Labels: { owner: "ops" },
      HostConfig: { Binds: ["/var/run/docker.sock:/var/run/docker.sock", "0123abcd:/data"], RestartPolicy: { Name: "always" } },
      NetworkingConfig: { EndpointsConfig: { edge: { Aliases: ["agent"] } } },
    });
    expect(body).not.toHaveProperty("Entrypoint");
    expect(body).not.toHaveProperty("Hostname");
  });
});
