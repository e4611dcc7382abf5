/**
 * `npm run fuzz [-- --target NAME] [--runs N] [--seed S]`: runs every fuzz target (or one) and
 * prints per target the cases, crashes, hangs, mismatches and seconds; exits 1 on any.
 *
 * Each target runs in a child process watched for progress, so a parser stuck in a loop is
 * reported as a hang instead of stalling the run.
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type TargetResult, formatResult, isClean, runTarget } from "./harness.ts";
import { targets } from "./targets/index.ts";

/** No progress for this long and the child is stuck: a hang. */
const stallMs = 15_000;

const { values } = parseArgs({
  options: {
    target: { type: "string" },
    runs: { type: "string" },
    seed: { type: "string" },
    child: { type: "boolean", default: false },
  },
});

const runs = values.runs === undefined ? undefined : Number(values.runs);
// One seed for the whole run, chosen here so a target that dies can still be replayed.
const seed = values.seed === undefined ? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0 : Number(values.seed);
if (runs !== undefined && !(Number.isInteger(runs) && runs > 0)) throw new Error(`--runs must be a positive whole number, got "${values.runs}".`);
if (!Number.isInteger(seed)) throw new Error(`--seed must be a whole number, got "${values.seed}".`);

const selected = values.target === undefined ? targets : targets.filter((t) => t.name === values.target);
if (selected.length === 0) {
  process.stderr.write(`Unknown --target "${values.target}"; use one of: ${targets.map((t) => t.name).join(", ")}.\n`);
  process.exit(2);
}

if (values.child) {
  // Child: run the one target, tick progress on stdout, print the result as the last line.
  const [target] = selected;
  let lastTick = 0;
  let cases = 0;
  // Ticks from the event loop cover the asynchronous phases (openssl sample, HTTP requests);
  // a synchronous loop blocks them, which is what the parent's watchdog detects.
  setInterval(() => process.stdout.write(`tick ${cases}\n`), 1_000).unref();
  const result = await runTarget(target!, {
    ...(runs === undefined ? {} : { runs }),
    seed,
    onProgress: (done) => {
      cases = done;
      const now = Date.now();
      if (now - lastTick < 250) return;
      lastTick = now;
      process.stdout.write(`tick ${done}\n`);
    },
  });
  process.stdout.write(`result ${JSON.stringify(result)}\n`);
  process.exit(0);
}

function runChild(name: string): Promise<TargetResult> {
  return new Promise((resolve) => {
    const args = [import.meta.filename, "--child", "--target", name, ...(runs === undefined ? [] : ["--runs", String(runs)]), "--seed", String(seed)];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
    const started = Date.now();
    let done = 0;
    let result: TargetResult | undefined;
    let pending = "";
    let lastProgress = Date.now();
    const watchdog = setInterval(() => {
      if (Date.now() - lastProgress > stallMs) child.kill("SIGKILL");
    }, 1_000);
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      pending += chunk;
      for (let newline = pending.indexOf("\n"); newline >= 0; newline = pending.indexOf("\n")) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        lastProgress = Date.now();
        if (line.startsWith("tick ")) done = Number(line.slice(5));
        else if (line.startsWith("result ")) result = JSON.parse(line.slice(7)) as TargetResult;
      }
    });
    child.on("close", (code, signal) => {
      clearInterval(watchdog);
      if (result) return resolve(result);
      const why = signal === "SIGKILL" ? `no progress for ${stallMs / 1000} s after case ${done} (stuck in a loop?)` : `the target process exited with ${signal ?? code}`;
      resolve({
        target: name,
        seed,
        cases: done,
        crashes: signal === "SIGKILL" ? 0 : 1,
        hangs: signal === "SIGKILL" ? 1 : 0,
        mismatches: 0,
        allowed: {},
        seconds: (Date.now() - started) / 1000,
        categories: {},
        findings: [{ kind: signal === "SIGKILL" ? "hang" : "crash", detail: why, input: "replay with the same --seed" }],
        notes: [],
      });
    });
  });
}

const results: TargetResult[] = [];
process.stdout.write(`Fuzzing ${selected.map((t) => t.name).join(", ")} with fast-check${runs === undefined ? "" : ` (${runs} cases each)`}…\n`);
for (const target of selected) {
  const result = await runChild(target.name);
  results.push(result);
  process.stdout.write(`${formatResult(result).join("\n")}\n`);
}
// Whole inputs of the findings, for replaying them in a unit test.
const findingsFile = join(tmpdir(), `pier-fuzz-findings${values.target === undefined ? "" : `-${values.target}`}.json`);
writeFileSync(findingsFile, JSON.stringify(results.map((r) => ({ target: r.target, seed: r.seed, findings: r.findings })), null, 1));
const total = results.reduce((sum, r) => sum + r.crashes + r.hangs + r.mismatches, 0);
process.stdout.write(total === 0 ? `All ${results.length} targets clean.\n` : `${total} failing case(s): see above and ${findingsFile}; replay one with --target NAME --seed SEED.\n`);
process.exit(total === 0 && results.every(isClean) ? 0 : 1);
