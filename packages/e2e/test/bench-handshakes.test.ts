import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../src/index.ts";

/**
 * bench:handshakes (issue 20: Pier's full mTLS handshake rate against nginx's) at a tiny scale,
 * as an operator runs it: a real `pier server`, a real nginx, real client certificates. The
 * figures themselves are the benchmark's business; this checks that both servers really
 * required and verified a client certificate, that handshakes were counted on each, and that
 * nothing is left running.
 */
const root = join(import.meta.dirname, "..", "..", "..");
const bench = (args: readonly string[]) => run(process.execPath, [join(root, "bench", "handshakes.ts"), ...args], { cwd: root, timeoutMs: 120_000 });

/** True while `pid` runs (a zombie waiting for its parent counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

interface Total {
  readonly handshakes: number;
  readonly failures: Record<string, number>;
  readonly negotiated: string;
}

describe("bench:handshakes", () => {
  it("counts verified mTLS handshakes on pier server and on nginx, prints both rates and their ratio, and leaves nothing running", () => {
    const dir = mkdtempSync(join(tmpdir(), "bench-handshakes-"));
    try {
      const jsonFile = join(dir, "result.json");
      const result = bench(["--duration", "1", "--rounds", "1", "--warmup", "0", "--concurrency", "4", "--clients", "1", "--json", jsonFile]);
      expect(result.status, result.output).toBe(0);
      // Precondition: neither server answers a client without a certificate, so a counted
      // handshake is one whose certificate the server verified (nginx completes the TLS
      // handshake regardless and answers 400; Pier's listener ends it with an alert).
      expect(result.stdout).toMatch(/without a client certificate: pier \(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED\), nginx \(HTTP 400\)/);
      expect(result.stdout).toMatch(/^pier +[1-9]\d* handshakes in [\d.]+ s = [\d.]+\/s; server [\d.]+ ms CPU per handshake \(\d+ % of one core\); clients [\d.]+ ms per handshake/m);
      expect(result.stdout).toMatch(/^nginx +[1-9]\d* handshakes in [\d.]+ s = [\d.]+\/s; server [\d.]+ ms CPU per handshake \(\d+ % of one core\); clients [\d.]+ ms per handshake/m);
      expect(result.stdout).toMatch(/^ratio +Pier\/nginx [\d.]+× the rate; server CPU per handshake Pier [\d.]+ ms, nginx [\d.]+ ms/m);
      expect(result.stdout).toMatch(/^target +issue 20, Pier's rate ≥ nginx's in the same run: (met|missed)$/m);

      const json = JSON.parse(readFileSync(jsonFile, "utf8")) as { pier: Total; nginx: Total };
      for (const total of [json.pier, json.nginx]) {
        expect(total.handshakes).toBeGreaterThan(0);
        // Same protocol on both sides (Pier's profile), and every answer was the expected one:
        // an `HTTP 400` from nginx would be a client certificate it did not verify.
        expect(total.negotiated).toMatch(/^TLSv1\.3 TLS_AES_128_GCM_SHA256 X25519$/);
        expect(Object.keys(total.failures).filter((reason) => reason.startsWith("HTTP"))).toEqual([]);
      }

      const pids = [...result.stderr.matchAll(/pier server pid (\d+) .*; nginx master (\d+), worker (\d+)/g)].flatMap((match) => match.slice(1).map(Number));
      expect(pids).toHaveLength(3);
      expect(pids.filter(alive)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it("--http2 --bare-node: Node's own HTTP/2 server as the floor, refusing a client without a certificate for it", () => {
    const result = bench(["--duration", "1", "--rounds", "1", "--warmup", "0", "--concurrency", "4", "--clients", "1", "--http2", "--bare-node"]);
    expect(result.status, result.output).toBe(0);
    // Refused for the missing certificate, not for ALPN: the floor offers HTTP/1.1 as Pier does.
    expect(result.stdout).toMatch(/without a client certificate: .*node \(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED\)/);
    expect(result.stdout).toMatch(/^node +[1-9]\d* handshakes in [\d.]+ s = [\d.]+\/s; server [\d.]+ ms CPU per handshake/m);
    expect(result.stdout).toMatch(/^floor +bare Node [\d.]+ ms CPU per handshake: Pier spends -?[\d.]+ ms above it/m);
    const pid = Number(/bare Node TLS server pid (\d+)/.exec(result.stderr)?.[1]);
    expect(pid, result.stderr).toBeGreaterThan(0);
    expect(alive(pid)).toBe(false);
  }, 120_000);

  it("refuses an option out of its range, naming the rule and the usage, before starting anything", () => {
    const result = bench(["--concurrency", "1001"]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('--concurrency must be an integer from 1 to 1000, got "1001".');
    expect(result.stderr).toContain("Usage: npm run bench:handshakes");
  });
});
