import { createServer, type Server } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ClusterMember, clusterTurn } from "./cluster.ts";
import { parseDockerHost } from "./docker/index.ts";
import { recordingLogger } from "./docker/recording-logger.testkit.ts";

/**
 * A stand-in Docker Engine answering /info and /nodes/{id} as a node of a multi-node swarm
 * would: a cluster of several nodes cannot be made on this one engine (the single-node swarm
 * of packages/e2e/test/deploy-swarm.test.ts covers the leader's side for real).
 */
async function standIn(info: unknown, node: unknown): Promise<{ socket: string; close: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "pier-cluster-"));
  const socket = join(dir, "docker.sock");
  const server: Server = createServer((req, res) => {
    const body = req.url === "/info" ? info : req.url?.startsWith("/nodes/") ? (typeof node === "function" ? (node as () => unknown)() : node) : undefined;
    res.writeHead(body === undefined ? 404 : 200, { "content-type": "application/json" }).end(JSON.stringify(body ?? { message: "page not found" }));
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return { socket, close: () => new Promise<void>((resolve) => server.close(() => { rmSync(dir, { recursive: true, force: true }); resolve(); })) };
}

const engines: { close: () => Promise<void> }[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close();
});

async function turnOn(info: unknown, node: unknown = {}) {
  const engine = await standIn(info, node);
  engines.push(engine);
  return clusterTurn(parseDockerHost(`unix://${engine.socket}`));
}

describe("which agent of a swarm speaks for it", () => {
  it("the agent on the swarm's leader speaks", async () => {
    const turn = await turnOn({ Swarm: { LocalNodeState: "active", ControlAvailable: true, NodeID: "n1" } }, { Description: { Hostname: "edge-1" }, ManagerStatus: { Leader: true } });
    expect(turn).toEqual({ speaks: true, why: "this node (edge-1) is the swarm's leader: speaking for the cluster" });
  });

  it("the other managers and every worker stay silent", async () => {
    const manager = await turnOn({ Swarm: { LocalNodeState: "active", ControlAvailable: true, NodeID: "n2" } }, { Description: { Hostname: "edge-2" }, ManagerStatus: { Leader: false } });
    expect(manager.speaks).toBe(false);
    expect(manager.why).toContain("(edge-2) is a swarm manager but not the leader");
    const worker = await turnOn({ Swarm: { LocalNodeState: "active", ControlAvailable: false, NodeID: "n3" } });
    expect(worker.speaks).toBe(false);
    expect(worker.why).toContain("swarm worker");
  });

  it("an engine outside any swarm, or a single-node swarm, is spoken for by its own agent (the real engine)", async () => {
    // The deployment tests may have this engine in a single-node swarm while this runs.
    const turn = await clusterTurn(parseDockerHost(undefined));
    expect(turn.speaks).toBe(true);
    expect(turn.why).toMatch(/not part of a swarm \(state inactive\)|is the swarm's leader/);
  });

  it("an engine outside any swarm says so", async () => {
    const turn = await turnOn({ Swarm: { LocalNodeState: "inactive", NodeID: "" } });
    expect(turn).toEqual({ speaks: true, why: "AGENT_CLUSTER_ADDR is set but this Docker Engine is not part of a swarm (state inactive): speaking for this engine alone" });
  });

  it("an engine that cannot be asked means silence, said once in the log", async () => {
    const log = recordingLogger();
    const member = new ClusterMember(parseDockerHost("unix:///nonexistent/docker.sock"), "tasks.pier-agent", log);
    const signal = new AbortController().signal;
    expect((await member.turn(signal)).speaks).toBe(false);
    expect((await member.turn(signal)).speaks).toBe(false);
    expect(log.at("warn")).toHaveLength(1);
    expect(log.at("warn")[0]).toMatch(/^cluster tasks\.pier-agent: cannot tell whether this node leads the swarm, so staying silent: .*\/nonexistent\/docker\.sock/);
  });

  it("leadership moving away ends the session; moving back lets the agent speak again", async () => {
    let leader = true;
    const engine = await standIn({ Swarm: { LocalNodeState: "active", ControlAvailable: true, NodeID: "n1" } }, () => ({ Description: { Hostname: "edge-1" }, ManagerStatus: { Leader: leader } }));
    engines.push(engine);
    const log = recordingLogger();
    const member = new ClusterMember(parseDockerHost(`unix://${engine.socket}`), "tasks.pier-agent", log, 50);
    const stop = new AbortController();
    await member.waitForTurn(stop.signal);
    const session = new AbortController();
    const watching = member.watch(session);
    leader = false;
    await watching;
    expect(session.signal.aborted).toBe(true);
    expect(log.at("warn").at(-1)).toMatch(/edge-1\) is a swarm manager but not the leader/);
    const waiting = member.waitForTurn(stop.signal);
    setTimeout(() => (leader = true), 200);
    await waiting;
    expect(log.at("info").at(-1)).toMatch(/^cluster tasks\.pier-agent: this node \(edge-1\) is the swarm's leader: speaking for the cluster \(tasks\.pier-agent (resolves|does not resolve)/);
  });
});
