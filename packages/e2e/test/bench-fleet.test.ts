import { describe, expect, inject, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { postgresBin, run, until } from "../src/index.ts";
import { childrenOf } from "../../../bench/fleet/process-tree.ts";

/**
 * The fleet benchmarks of issue 20 at a tiny scale, as an operator runs them: real `pier server`
 * processes, real mTLS sessions, simulated agents in child simulator processes. They must give
 * figures that mean something (everyone connected, the restart really happened) and leave
 * nothing running behind them.
 */
const root = join(import.meta.dirname, "..", "..", "..");
const bench = (file: string, args: readonly string[], env?: NodeJS.ProcessEnv) => run(process.execPath, [join(root, "bench", file), ...args], { cwd: root, timeoutMs: 150_000, ...(env ? { env } : {}) });

/** True while `pid` runs (a zombie waiting for its parent counts as gone). */
function alive(pid: number): boolean {
  if (!existsSync(`/proc/${pid}/stat`)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

describe("bench:fleet over several simulator processes", () => {
  it("connects every agent from two child simulators and reports the issue 20 figures", () => {
    const result = bench("fleet-simulator.ts", ["--agents", "60", "--processes", "2", "--interval", "1", "--ramp", "1", "--duration", "3"]);
    expect(result.status, result.output).toBe(0);
    // Everyone connected, through both children, and answered in the window.
    expect(result.stdout).toMatch(/connected\s+60\/60 in [\d.]+ s \(2 simulator processes; server open-file limit \d+\)/);
    expect(result.stdout).toMatch(/connected\s+60 at start, 60 at end/);
    expect(result.stdout).toMatch(/check-ins\s+[1-9]\d* acked of [1-9]\d* sent/);
    expect(result.stdout.match(/^ {4}simulator \d+ +[\d.]+ s = /gm)).toHaveLength(2);
    expect(result.stdout).toMatch(/server memory .* = \d+ KiB per agent/);
    expect(result.stdout).toMatch(/µs per check-in/);
    expect(result.stdout).toMatch(/server event loop\s+late by p50 [\d.]+ ms, p99 [\d.]+ ms/);
    expect(result.stdout).toMatch(/^Portainer publishes 4 CPUs for 15,000 agents at 5 s; this run: [\d.]+ % of one core for 60 agents at 1 s/m);
    expect(result.stdout).toMatch(/^targets \(issue 20, 15,000 agents at 5 s\)$/m);
  }, 150_000);

  it("--bare-node: the same fleet against bare Node's HTTP/2 (the floor), titled as such, and leaves it stopped", () => {
    const result = bench("fleet-simulator.ts", ["--agents", "40", "--processes", "2", "--interval", "1", "--ramp", "1", "--duration", "2", "--bare-node"]);
    expect(result.status, result.output).toBe(0);
    expect(result.stdout).toMatch(/^Bare Node \(bench\/fleet\/bare-edge-server\.ts: the floor, not Pier\) fleet benchmark: 40 agents/m);
    expect(result.stdout).toMatch(/connected\s+40 at start, 40 at end/);
    expect(result.stdout).toMatch(/check-ins\s+[1-9]\d* acked of [1-9]\d* sent/);
    expect(result.stdout).toMatch(/unanswered\s+0/);
    expect(result.stdout).toMatch(/server CPU\s+[\d.]+ s = [\d.]+ % of one core \(\d+ µs per check-in\)/);
    expect(result.stdout).toMatch(/server event loop\s+late by p50 [\d.]+ ms/);
    const pid = Number(/bare server pid (\d+)/.exec(result.stderr)?.[1]);
    expect(pid, result.stderr).toBeGreaterThan(0);
    expect(alive(pid)).toBe(false);
  }, 150_000);

  it("--bare-node refuses --replicas, before starting anything", () => {
    const result = bench("fleet-simulator.ts", ["--agents", "40", "--replicas", "2", "--bare-node"]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("--bare-node runs Node's floor server alone: without --replicas or --server-heap-snapshot.");
  });

  it("on Ctrl-C ends the server and every child simulator, and exits 130", async () => {
    const parent = spawn(process.execPath, [join(root, "bench", "fleet-simulator.ts"), "--agents", "40", "--processes", "2", "--interval", "1", "--ramp", "1", "--duration", "120"], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    parent.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => parent.once("exit", (code) => resolve(code)));
    await until("the benchmark to measure", () => Promise.resolve(stderr.includes("measuring for")), 90_000);
    // Precondition: the server and the two simulators run under the benchmark.
    const children = childrenOf(parent.pid ?? 0);
    expect(children.length, stderr).toBeGreaterThanOrEqual(3);
    expect(children.every(alive)).toBe(true);
    parent.kill("SIGINT");
    expect(await exited).toBe(130);
    await until("the benchmark's children to end", () => Promise.resolve(children.every((pid) => !alive(pid))), 20_000);
  }, 150_000);
});

describe("bench:storm", () => {
  it("kill -9 and restart on the same ports: every agent comes back with its backoff and none gives up", () => {
    const result = bench("storm.ts", ["--agents", "40", "--processes", "2", "--interval", "1", "--ramp", "1", "--baseline", "1", "--after", "0", "--limit", "60"]);
    expect(result.status, result.output).toBe(0);
    // Precondition: the fleet was up, and the kill really cut every session and refused dials.
    expect(result.stdout).toMatch(/^before\s+40\/40 connected at the kill/m);
    expect(result.stdout).toMatch(/sessions ended at the kill: 40 /);
    expect(result.stdout).toMatch(/kill -9 → exited [\d.]+ s; kill → listening [\d.]+ s/);
    expect(result.stdout).toMatch(/^back\s+all back \(session welcomed, heartbeat acked\) [\d.]+ s after the kill; all welcomed after/m);
    expect(result.stdout).toMatch(/largest wait before a dial [\d.]+ s \(cap 60 s\), highest backoff attempt \d+, gave up 0,/);
    expect(result.stdout).toMatch(/handshakes\/s and \d+ hellos welcomed\/s/);
    expect(result.stdout).toMatch(/met {5}no agent gave up \(0\)/);
  }, 150_000);

  it("--graceful: every session is told `restarting` with a retry-after, the agents wait it and all come back", () => {
    const result = bench("storm.ts", ["--agents", "40", "--processes", "2", "--interval", "1", "--ramp", "1", "--baseline", "1", "--after", "0", "--limit", "60", "--graceful"]);
    expect(result.status, result.output).toBe(0);
    expect(result.stdout).toMatch(/^before\s+40\/40 connected at the kill/m);
    expect(result.stdout).toMatch(/SIGTERM → exited [\d.]+ s/);
    // Each session ended on the hint, not on a dropped connection, and each agent counted it.
    expect(result.stdout).toMatch(/sessions ended at the kill: 40 \(40× refused restarting\)/);
    expect(result.stdout).toMatch(/refused with retry-after: 40 \(40× restarting\)/);
    expect(result.stdout).toMatch(/met {5}every session open at the SIGTERM ended with `restarting` and a retry-after \(40\/40\)/);
    expect(result.stdout).toMatch(/^back\s+all back/m);
    // The hint (1..W s, W = 1 for 40 sessions) is at most the largest wait; the backoff did not climb past the first attempts.
    expect(result.stdout).toMatch(/gave up 0,/);
  }, 150_000);
});

describe("bench:fleet and bench:storm on replicas (--replicas, the suite's PostgreSQL)", () => {
  // The run's PostgreSQL (vitest global setup): each benchmark makes a database of its own in it.
  const adminUrl = inject("postgresUrl");
  const env = { PIER_BENCH_POSTGRES_URL: adminUrl };
  const benchDatabases = () => {
    const result = run(join(postgresBin, "psql"), [adminUrl.replace(/^postgres:/, "postgresql:"), "-Atqc", "SELECT datname FROM pg_database WHERE datname LIKE 'pier_bench_%'"]);
    expect(result.status, result.output).toBe(0);
    return result.stdout.split("\n").filter(Boolean);
  };

  it("spreads the fleet over two replicas, each on its own port, reports each one, and drops its database", () => {
    const before = benchDatabases();
    const result = bench("fleet-simulator.ts", ["--agents", "40", "--replicas", "2", "--processes", "2", "--interval", "1", "--ramp", "1", "--duration", "2"], env);
    expect(result.status, result.output).toBe(0);
    expect(result.stdout).toMatch(/connected\s+40 at start, 40 at end/);
    // Agent g dials replica g mod 2: 20 each, as the simulator and the session directory both say.
    expect(result.stdout).toMatch(/^ {2}replica-0 +connected 20, edge_sessions 20; p99 [\d.]+ ms \([1-9]\d* acked\); CPU [\d.]+ % of one core; peak RSS \d+ MiB = \d+ KiB per agent/m);
    expect(result.stdout).toMatch(/^ {2}replica-1 +connected 20, edge_sessions 20; p99 [\d.]+ ms \([1-9]\d* acked\)/m);
    expect(result.stdout).toMatch(/^ {2}PostgreSQL {2}n\/a \(not started by this run\)/m);
    expect(benchDatabases()).toEqual(before);
  }, 150_000);

  it("storm through HAProxy: kill -9 of one replica, its agents come back through the balancer, the other's stay up", () => {
    const result = bench("storm.ts", ["--agents", "40", "--replicas", "2", "--haproxy", "--processes", "2", "--interval", "1", "--ramp", "1", "--baseline", "1", "--after", "0", "--limit", "60"], env);
    expect(result.status, result.output).toBe(0);
    // Precondition: the balancer spread the fleet over both replicas, and the kill cut replica-0's sessions only.
    const before = /^before +40\/40 connected at the kill; sessions \(edge_sessions\) replica-0 (\d+), replica-1 (\d+);/m.exec(result.stdout);
    expect(before, result.stdout).not.toBeNull();
    const [onVictim, onSurvivor] = [Number(before?.[1]), Number(before?.[2])];
    expect(onVictim).toBeGreaterThan(0);
    expect(onSurvivor).toBeGreaterThan(0);
    expect(onVictim + onSurvivor).toBe(40);
    expect(result.stdout).toMatch(new RegExp(`^cut +${onVictim} sessions ended after the kill`, "m"));
    expect(result.stdout).toMatch(new RegExp(`^back +all ${onVictim} back \\(session welcomed, heartbeat acked\\)`, "m"));
    expect(result.stdout).toMatch(/gave up 0,/);
    expect(result.stdout).toMatch(/^ {2}met {5}every agent back within 30 s of the kill/m);
    expect(result.stdout).toMatch(/HAProxy [\d.]+ % of one core/);
  }, 150_000);
});
