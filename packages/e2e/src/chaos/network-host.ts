import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

/**
 * A device on a network of its own, for the chaos suite's partition scenario (docs/chaos.md): a
 * network namespace `pier-chaos-partition-<n>` joined to the host by a veth pair, the host end
 * `10.213.<n>.1/30`, the device end `10.213.<n>.2/30`. A process started with `command` runs
 * inside it (same filesystem, so the main Docker engine's unix socket works there); it reaches
 * the host (a server bound to 0.0.0.0) at `hostAddress` only. Interface names are limited to 15
 * characters, so the veth ends are `pcpart<n>h` (host) and `pcpart<n>d` (device).
 */
export interface NetworkHost extends AsyncDisposable {
  readonly namespace: string;
  /** The host's end of the link: where the device reaches the server. */
  readonly hostAddress: string;
  /** The device's address (the source address the server sees). */
  readonly deviceAddress: string;
  /** `file args…` run inside the namespace (`ip netns exec NS file args…`), for `spawn` or `startPierAgent({ command })`. */
  command(file: string, ...args: string[]): string[];
  /** Unplugs the link (the host end goes down): packets both ways vanish, nothing is refused, like a dead uplink. */
  cut(): void;
  /** Plugs it back in. */
  restore(): void;
  /**
   * Loses `lossPercent` % of the packets and delays the others by `delayMs`, both directions:
   * `tc qdisc … netem` on both ends when the kernel has sch_netem, else the same through NFQUEUE
   * and `netem-queue.py` inside the namespace (a kernel built without netem). Says which.
   */
  impair(lossPercent: number, delayMs: number): Promise<"tc netem" | "nfqueue">;
  /** Lifts `impair`. */
  clear(): Promise<void>;
}

const prefix = "pier-chaos-partition-";
const delayer = fileURLToPath(new URL("./netem-queue.py", import.meta.url));

function ip(args: readonly string[], allowFailure = false): string {
  const result = spawnSync("ip", args, { encoding: "utf8" });
  if (result.status !== 0 && !allowFailure) throw new Error(`ip ${args.join(" ")} failed (${result.status}): ${result.stderr.trim()}`);
  return result.stdout;
}

function inNamespace(namespace: string, file: string, args: readonly string[], allowFailure = false): { status: number | null; stderr: string } {
  const result = spawnSync("ip", ["netns", "exec", namespace, file, ...args], { encoding: "utf8" });
  if (result.status !== 0 && !allowFailure) throw new Error(`${file} ${args.join(" ")} in ${namespace} failed (${result.status}): ${result.stderr.trim()}`);
  return { status: result.status, stderr: result.stderr };
}

/**
 * Removes what a run killed before its clean-up left behind: every `pier-chaos-partition-*`
 * namespace (its device end and delayer go with it) and `pcpart*` host end.
 *
 * @example
 * removeStaleNetworkHosts();
 */
export function removeStaleNetworkHosts(): void {
  for (const line of ip(["netns", "list"], true).split("\n")) {
    const name = line.split(" ")[0] ?? "";
    if (!name.startsWith(prefix)) continue;
    const pids = spawnSync("ip", ["netns", "pids", name], { encoding: "utf8" }).stdout.split("\n").filter(Boolean);
    for (const pid of pids) spawnSync("kill", ["-KILL", pid]);
    ip(["netns", "del", name], true);
  }
  for (const line of ip(["-o", "link", "show"], true).split("\n")) {
    const name = /^\d+: (pcpart\d+h)[@:]/.exec(line)?.[1];
    if (name) ip(["link", "del", name], true);
  }
  ip(["route", "flush", "root", "10.213.0.0/16", "type", "blackhole"], true);
}

/**
 * Creates device network `n` (1–250): namespace, veth pair, addresses, loopback up. Dispose it
 * to remove everything (also after a failure half-way).
 *
 * @example
 * await using net = createNetworkHost(1);
 * const agent = startPierAgent({ ..., command: net.command(pierBinary) });
 * net.cut(); … net.restore();
 */
export function createNetworkHost(n: number): NetworkHost {
  if (!Number.isInteger(n) || n < 1 || n > 250) throw new Error(`network host number ${n} is not from 1 to 250`);
  const namespace = `${prefix}${n}`;
  const hostIf = `pcpart${n}h`;
  const deviceIf = `pcpart${n}d`;
  const subnet = `10.213.${n}.0/30`;
  const hostAddress = `10.213.${n}.1`;
  const deviceAddress = `10.213.${n}.2`;
  let impairedBy: "tc netem" | "nfqueue" | undefined;
  let queueProcess: ChildProcess | undefined;

  const dispose = async () => {
    await clear().catch(() => undefined);
    ip(["netns", "del", namespace], true);
    ip(["link", "del", hostIf], true);
    ip(["route", "del", "blackhole", subnet, "metric", "4000"], true);
  };

  async function clear(): Promise<void> {
    if (impairedBy === "tc netem") {
      spawnSync("tc", ["qdisc", "del", "dev", hostIf, "root"]);
      inNamespace(namespace, "tc", ["qdisc", "del", "dev", deviceIf, "root"], true);
    } else if (impairedBy === "nfqueue") {
      inNamespace(namespace, "iptables", ["-F", "INPUT"], true);
      inNamespace(namespace, "iptables", ["-F", "OUTPUT"], true);
      const child = queueProcess;
      if (child && child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      }
      queueProcess = undefined;
    }
    impairedBy = undefined;
  }

  try {
    ip(["netns", "add", namespace]);
    ip(["link", "add", hostIf, "type", "veth", "peer", "name", deviceIf]);
    ip(["link", "set", deviceIf, "netns", namespace]);
    ip(["addr", "add", `${hostAddress}/30`, "dev", hostIf]);
    ip(["link", "set", hostIf, "up"]);
    // While the host end is down its connected route is gone: this keeps the server's packets to
    // the device from leaving by the default route.
    ip(["route", "add", "blackhole", subnet, "metric", "4000"]);
    ip(["-n", namespace, "addr", "add", `${deviceAddress}/30`, "dev", deviceIf]);
    ip(["-n", namespace, "link", "set", deviceIf, "up"]);
    ip(["-n", namespace, "link", "set", "lo", "up"]);
  } catch (error) {
    void dispose();
    throw error;
  }

  return {
    namespace,
    hostAddress,
    deviceAddress,
    command: (file, ...args) => ["ip", "netns", "exec", namespace, file, ...args],
    cut: () => void ip(["link", "set", hostIf, "down"]),
    restore: () => void ip(["link", "set", hostIf, "up"]),
    async impair(lossPercent, delayMs) {
      await clear();
      const netem = ["root", "netem", "loss", `${lossPercent}%`, "delay", `${delayMs}ms`];
      const host = spawnSync("tc", ["qdisc", "replace", "dev", hostIf, ...netem], { encoding: "utf8" });
      if (host.status === 0) {
        impairedBy = "tc netem";
        inNamespace(namespace, "tc", ["qdisc", "replace", "dev", deviceIf, ...netem]);
        return impairedBy;
      }
      if (!/unknown/i.test(host.stderr)) throw new Error(`tc qdisc replace dev ${hostIf} ${netem.join(" ")} failed: ${host.stderr.trim()}`);
      // No sch_netem in this kernel: every packet in and out of the device end goes through the
      // delayer (both directions, as netem on both ends would).
      const child = spawn("ip", ["netns", "exec", namespace, "python3", delayer, "0", String(lossPercent), String(delayMs)], { stdio: ["ignore", "pipe", "pipe"] });
      queueProcess = child;
      impairedBy = "nfqueue";
      let said = "";
      await new Promise<void>((resolve, reject) => {
        const read = (chunk: Buffer) => {
          said += chunk.toString();
          if (said.includes("ready")) resolve();
        };
        child.stdout.on("data", read);
        child.stderr.on("data", read);
        child.once("exit", (code) => reject(new Error(`netem-queue.py exited (${code}) before it was ready: ${said}`)));
      });
      inNamespace(namespace, "iptables", ["-A", "INPUT", "-i", deviceIf, "-j", "NFQUEUE", "--queue-num", "0"]);
      inNamespace(namespace, "iptables", ["-A", "OUTPUT", "-o", deviceIf, "-j", "NFQUEUE", "--queue-num", "0"]);
      return impairedBy;
    },
    clear,
    [Symbol.asyncDispose]: dispose,
  };
}
