import { docker, testImage } from "../../docker-cli.ts";
import type { EndpointView, PierApi } from "../../pier-api.ts";
import { startPierAgent, type PierProcess } from "../../pier-processes.ts";
import { pierBinary, run } from "../../run.ts";
import { tempDir } from "../../temp-dir.ts";
import { until } from "../../until.ts";
import { startBuiltInCaServer } from "../../zero-touch.ts";
import { createNetworkHost, removeStaleNetworkHosts, type NetworkHost } from "../network-host.ts";
import type { ChaosRecorder, ChaosScenario } from "../scenario.ts";

/** One real `pier agent` in a network namespace of its own, with the stack meant for it. */
interface Device {
  readonly edgeId: string;
  readonly net: NetworkHost;
  readonly agent: PierProcess;
  readonly environmentId: number;
  readonly stackName: string;
  groupId?: number;
  stackId?: number;
}

type Endpoint = EndpointView<{ Connected: boolean }>;

/** What one Docker request through the tunnel came to. */
interface TunnelAnswer {
  readonly phase: string;
  readonly status: number | "hung";
  readonly ms: number;
  readonly message: string;
}

const password = "chaos partition admin password";

function compose(): string {
  // sh as PID 1 with a trap stops at once on SIGTERM (busybox `sleep` alone ignores it).
  return `services:\n  web:\n    image: ${testImage}\n    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]\n`;
}

async function endpoint(api: PierApi, id: number): Promise<Endpoint | undefined> {
  const res = await api.call<Endpoint>("GET", `/api/endpoints/${id}`);
  return res.status === 200 ? res.body : undefined;
}

const green = (e: Endpoint | undefined) => e?.Heartbeat === true && e.Pier.Connected;

/** Whether the stack's container runs on the main engine (every device's agent uses it). */
function stackRunning(stackName: string): boolean {
  const ids = docker(["ps", "-q", "--filter", `label=com.docker.compose.project=${stackName}`, "--filter", "status=running"]).split("\n").filter(Boolean);
  return ids.length > 0;
}

function removeStackContainers(stackName: string): void {
  const ids = run("docker", ["ps", "-a", "-q", "--filter", `label=com.docker.compose.project=${stackName}`]).stdout.split("\n").filter(Boolean);
  if (ids.length > 0) run("docker", ["rm", "-f", ...ids]);
  run("docker", ["network", "rm", `${stackName}_default`]);
}

/**
 * A Docker request through the device's tunnel (`GET /api/endpoints/{id}/docker/<path>`), timed;
 * one still unanswered after `hangMs` is recorded as hung (the server bounds it far below that).
 */
async function tunnelRequest(api: PierApi, device: Device, path: string, phase: string, hangMs: number, method = "GET"): Promise<TunnelAnswer> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<"hung">((resolve) => (timer = setTimeout(() => resolve("hung"), hangMs)));
  const answer = await Promise.race([api.call<unknown>(method, `/api/endpoints/${device.environmentId}/docker${path}`).catch((error: unknown) => ({ status: 0, body: String(error) })), hung]);
  clearTimeout(timer);
  const ms = Math.round(performance.now() - started);
  if (answer === "hung") return { phase, status: "hung", ms, message: `no answer after ${hangMs} ms` };
  const body = answer.body as { message?: string; fix?: string } | string | undefined;
  const message = typeof body === "object" && body !== null ? `${body.message ?? ""}${body.fix ? ` ${body.fix}` : ""}` : String(body ?? "").slice(0, 200);
  return { phase, status: answer.status, ms, message };
}

/** A clear failure: 503 whose message says the device cannot be reached (offline, no tunnel, timed out) and what to do. */
function clearFailure(answer: TunnelAnswer): boolean {
  return answer.status === 503 && /offline|not reachable|session ended/i.test(answer.message) && /retry/i.test(answer.message);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `partition`: real agents in network namespaces (chaos/network-host.ts). The link is cut for
 * longer than the heartbeat tolerance (red within 2 × interval + 20 s, green again within two
 * intervals of the restore), an edge stack is created for each device while it is cut off (it
 * must run after the restore), and the link then loses 30 % of its packets and delays the rest
 * by 500 ms each way (Docker requests through the tunnel answer or fail with a clear 503 within
 * their bound, the session survives or comes back).
 */
export const partitionScenario: ChaosScenario = {
  name: "partition",
  summary: "agents in network namespaces: link cut past the heartbeat tolerance, then 30 % loss and 500 ms delay; red and green within the rule, Docker requests answered or a clear 503, stacks converge",
  async run(options, recorder) {
    const agents = options.short ? 1 : 3;
    const interval = options.short ? 1 : 5;
    const rule = 2 * interval + 20;
    const lossSeconds = options.short ? 12 : 60;
    // The server's own bounds: a tunnel opens within 5 s; a silent session is ended after three
    // intervals + 10 s, noticed by a sweep each second, and its tunnels with it. A request must
    // end within those, with 4 s for a loaded machine.
    const requestBoundMs = (5 + 3 * interval + 10 + 1 + 4) * 1000;
    const suffix = `${process.pid.toString(36)}${Date.now().toString(36)}`;
    const sleeper = `chaos-partition-sleeper-${suffix}`;
    removeStaleNetworkHosts();
    const dir = tempDir("chaos-partition");
    const devices: Device[] = [];
    const nets: NetworkHost[] = [];
    const stopping: PierProcess[] = [];
    let stopServer: (() => Promise<void>) | undefined;
    try {
      const { server, api } = await startBuiltInCaServer(dir, password, [], { host: "0.0.0.0" });
      stopServer = () => server.stop();
      recorder.check("check-in interval set", (await api.call("PUT", "/api/settings", { EdgeAgentCheckinInterval: interval })).status === 200);

      for (let n = 1; n <= agents; n++) {
        const net = createNetworkHost(n);
        nets.push(net);
        // The device reaches the server at the host end of its link: the key carries that address.
        const key = await api.call<{ edgeKey: string }>("POST", "/api/endpoints/edge/generate-key", { url: `https://${net.hostAddress}:${server.httpsPort}`, tunnelServerAddress: `${net.hostAddress}:${server.tunnelPort}` });
        if (key.status !== 200) throw new Error(`generate-key answered ${key.status}: ${JSON.stringify(key.body)}`);
        const edgeId = `partition-${n}-${suffix}`;
        const agent = startPierAgent({ edgeId, edgeKey: key.body.edgeKey, dataDir: dir.file(`agent-${n}`), command: net.command(pierBinary) });
        stopping.push(agent);
        const waiting = await until(`${edgeId} in the waiting room`, async () => {
          const found = await api.endpoint<Endpoint>(edgeId);
          return found?.UserTrusted === false ? found : undefined;
        }, 60_000);
        const trusted = await api.call("POST", `/api/endpoints/${waiting.Id}/edge/trust`);
        if (trusted.status !== 204) throw new Error(`trusting ${edgeId} answered ${trusted.status}`);
        devices.push({ edgeId, net, agent, environmentId: waiting.Id, stackName: `chaos-partition-${n}-${suffix}` });
      }
      await until("every device green", async () => ((await Promise.all(devices.map((d) => endpoint(api, d.environmentId)))).every(green) ? true : undefined), 60_000);
      for (const device of devices) {
        const group = await api.call<{ Id: number }>("POST", "/api/edge_groups", { Name: `${device.stackName}-group`, Dynamic: false, Endpoints: [device.environmentId], TagIDs: [], PartialMatch: false });
        if (group.status !== 200) throw new Error(`creating the edge group answered ${group.status}: ${JSON.stringify(group.body)}`);
        device.groupId = group.body.Id;
      }
      const ping = await tunnelRequest(api, devices[0]!, "/_ping", "before the cut", requestBoundMs + 30_000);
      recorder.check("the tunnel answers before the fault", ping.status === 200, JSON.stringify(ping));

      await cutPhase(api, devices, { interval, rule, requestBoundMs }, sleeper, recorder, options.log);
      await lossPhase(api, devices, { interval, lossSeconds, requestBoundMs }, recorder, options.log);
    } finally {
      await Promise.all(stopping.map((agent) => agent.stop()));
      for (const device of devices) removeStackContainers(device.stackName);
      run("docker", ["rm", "-f", sleeper]);
      await stopServer?.();
      for (const net of nets) await net[Symbol.asyncDispose]();
      await dir[Symbol.asyncDispose]();
    }
  },
};

async function cutPhase(api: PierApi, devices: Device[], bounds: { interval: number; rule: number; requestBoundMs: number }, sleeper: string, recorder: ChaosRecorder, log: (line: string) => void): Promise<void> {
  const { interval, rule, requestBoundMs } = bounds;
  log(`cutting ${devices.length} link(s); heartbeat rule ${rule} s`);
  // A request in flight when the link goes: Docker answers `stop` only after its timeout (the
  // sleeper ignores SIGTERM), so its answer is still to come when the link is cut.
  docker(["run", "-d", "--name", sleeper, testImage, "sleep", "3600"]);
  const inFlight = tunnelRequest(api, devices[0]!, `/containers/${sleeper}/stop?t=120`, "in flight at the cut", requestBoundMs + 30_000, "POST");
  await sleep(1_000);
  const cutAt = performance.now();
  const before = devices.map((device) => device.agent.output().length);
  for (const device of devices) device.net.cut();
  const since = () => performance.now() - cutAt;
  // A Docker request while the server still believes the session alive, and one after it noticed.
  const early = (async () => {
    await sleep(1_000);
    return tunnelRequest(api, devices[0]!, "/_ping", "early in the cut", requestBoundMs + 30_000);
  })();
  // The desired state changes while the devices are cut off.
  for (const device of devices) {
    const created = await api.call<{ Id: number }>("POST", "/api/edge_stacks/create/string", { name: device.stackName, stackFileContent: compose(), edgeGroups: [device.groupId], deploymentType: 0 });
    recorder.check(`stack created while ${device.edgeId} is cut off`, created.status === 200, JSON.stringify(created.body));
    device.stackId = created.body.Id;
  }
  const detected = await Promise.all(
    devices.map(async (device) => {
      await until(`${device.edgeId} red`, async () => ((await endpoint(api, device.environmentId))?.Heartbeat === false ? true : undefined), (rule + 30) * 1000);
      return since();
    }),
  );
  const detectMs = Math.max(...detected);
  recorder.figure("detect", Math.round(detectMs), "ms");
  recorder.check("red within the heartbeat rule", detectMs <= (rule + 3) * 1000, `slowest device red ${Math.round(detectMs)} ms after the cut; the rule is ${rule} s`);
  recorder.check("not red before the heartbeat rule", Math.min(...detected) >= (rule - interval - 1) * 1000, `first device red ${Math.round(Math.min(...detected))} ms after the cut; the rule is ${rule} s`);
  const late = await tunnelRequest(api, devices[0]!, "/_ping", "late in the cut", requestBoundMs + 30_000);
  const answers = [await inFlight, await early, late];
  for (const answer of answers) log(`Docker request ${answer.phase}: ${answer.status} after ${answer.ms} ms: ${answer.message}`);
  for (const answer of answers) recorder.check(`a Docker request ${answer.phase} fails with a clear 503 within its bound`, clearFailure(answer) && answer.ms <= requestBoundMs, JSON.stringify(answer));
  // Past the rule and a little more: the link stays down at least rule + 2 s.
  const holdMs = (rule + 2) * 1000 - since();
  if (holdMs > 0) await sleep(holdMs);
  recorder.figure("cut", Math.round(since() / 1000), "s");

  log("restoring the link(s)");
  const restoredAt = performance.now();
  for (const device of devices) device.net.restore();
  const recovered = await Promise.all(
    devices.map(async (device) => {
      await until(`${device.edgeId} green again`, async () => (green(await endpoint(api, device.environmentId)) ? true : undefined), 120_000);
      return performance.now() - restoredAt;
    }),
  );
  const recoverMs = Math.max(...recovered);
  recorder.figure("recover", Math.round(recoverMs), "ms");
  recorder.check("green again within two check-in intervals of the restore", recoverMs <= 2 * interval * 1000 + 1000, `slowest device green ${Math.round(recoverMs)} ms after the restore; the bound is ${2 * interval} s (+1 s for polling); the agents said since the cut:\n${devices.map((device, i) => device.agent.output().slice(before[i])).join("\n")}`);
  const convergeBoundMs = 60_000;
  const converged = await Promise.all(
    devices.map((device) =>
      until(`${device.stackName} running on the engine`, () => Promise.resolve(stackRunning(device.stackName)), convergeBoundMs).then(
        () => performance.now() - restoredAt,
        () => undefined,
      ),
    ),
  );
  const missing = devices.filter((_, i) => converged[i] === undefined).map((device) => device.stackName);
  recorder.figure("converge", Math.round(Math.max(...converged.map((ms) => ms ?? convergeBoundMs))), "ms");
  recorder.check("stacks created during the cut run after the restore", missing.length === 0, `not running ${convergeBoundMs / 1000} s after the restore: ${missing.join(", ")}`);
}

async function lossPhase(api: PierApi, devices: Device[], bounds: { interval: number; lossSeconds: number; requestBoundMs: number }, recorder: ChaosRecorder, log: (line: string) => void): Promise<void> {
  const { interval, lossSeconds, requestBoundMs } = bounds;
  const how = await Promise.all(devices.map((device) => device.net.impair(30, 500)));
  log(`30 % loss and 500 ms delay each way (${how[0]}) for ${lossSeconds} s`);
  const started = performance.now();
  const answers: TunnelAnswer[] = [];
  let turn = 0;
  const before = devices.map((device) => device.agent.output().length);
  while (performance.now() - started < lossSeconds * 1000) {
    const device = devices[turn % devices.length]!;
    const path = turn % 2 === 0 ? "/_ping" : "/containers/json";
    turn++;
    const requested = performance.now();
    answers.push(await tunnelRequest(api, device, path, `during loss (${path})`, requestBoundMs + 30_000));
    // One request a second at most: an offline device answers at once.
    await sleep(Math.max(0, 1000 - (performance.now() - requested)));
  }
  await Promise.all(devices.map((device) => device.net.clear()));
  for (const answer of answers) log(`Docker request ${answer.phase}: ${answer.status} after ${answer.ms} ms${answer.status === 200 ? "" : `: ${answer.message}`}`);
  const answered = answers.filter((answer) => answer.status === 200);
  const refused = answers.filter((answer) => answer.status !== 200);
  const slowest = Math.max(...answers.map((answer) => answer.ms));
  recorder.figure("requests in loss", answers.length);
  recorder.figure("answered in loss", answered.length);
  recorder.figure("slowest tunnel answer", slowest, "ms");
  recorder.check("no Docker request outlived its bound during loss", answers.every((answer) => answer.ms <= requestBoundMs), JSON.stringify(answers.filter((answer) => answer.ms > requestBoundMs)));
  recorder.check("every failed Docker request during loss is a clear 503", refused.every(clearFailure), JSON.stringify(refused.filter((answer) => !clearFailure(answer)).slice(0, 3)));
  const lifted = performance.now();
  await Promise.all(devices.map((device) => until(`${device.edgeId} green after the loss`, async () => (green(await endpoint(api, device.environmentId)) ? true : undefined), 120_000)));
  const back = performance.now() - lifted;
  recorder.figure("green after loss", Math.round(back), "ms");
  // A handshake under way when the loss ends finishes on TCP's retransmission timer, which grew
  // during the loss (1 s RTT, 30 % lost): up to about 6 s more than the agent's own wait.
  recorder.check("the sessions survive the loss or come back within two intervals (and a retransmission) of it ending", back <= (2 * interval + 6) * 1000, `${Math.round(back)} ms; the agents said since the loss began:\n${devices.map((device, i) => device.agent.output().slice(before[i])).join("\n")}`);
}
