/**
 * The whole test suite: lint, type check, unit and end-to-end tests. Prints every step's
 * output, then one plain closing line `N passed, N failed` (what CI reads) and exits
 * non-zero on any failure. Lint, the type check and the UI build count as one check each;
 * skipped or todo tests count as failures, since a test that did not run proved nothing.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const reportPath = join(root, ".tmp", "vitest-report.json");
let passed = 0;
let failed = 0;

const bin = (name: string) => join(root, "node_modules", ".bin", name);

type Check = readonly [name: string, command: string, args: readonly string[]];

/** What the suite prints around a check's output: `=== name: command args` before, `=== name: ok` or `FAILED (how)` after. */
function checkBanner([name, command, args]: Check): { header: string; footer(ok: boolean, how: string): string } {
  return {
    header: `\n=== ${name}: ${command} ${args.join(" ")}\n`,
    footer: (ok, how) => `=== ${name}: ${ok ? "ok" : `FAILED (${how})`}\n`,
  };
}

/** Runs one check with its output going straight to the terminal. */
function step(check: Check): boolean {
  const [, command, args] = check;
  const banner = checkBanner(check);
  process.stdout.write(banner.header);
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit", env: process.env });
  const ok = result.status === 0;
  process.stdout.write(banner.footer(ok, `exit ${result.status ?? result.signal}`));
  return ok;
}

/** Runs one check with its output captured; prints it whole when the check ends. */
function checkInBackground(check: Check): Promise<boolean> {
  const [, command, args] = check;
  const banner = checkBanner(check);
  return new Promise((resolve) => {
    const child = spawn(command, [...args], { cwd: root, env: process.env, stdio: ["ignore", "pipe", "pipe"] });
    const output: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => output.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => output.push(chunk));
    const done = (ok: boolean, how: string) => {
      process.stdout.write(`${banner.header}${Buffer.concat(output).toString()}${banner.footer(ok, how)}`);
      resolve(ok);
    };
    child.on("error", (error) => done(false, error.message));
    child.on("close", (code, signal) => done(code === 0, `exit ${code ?? signal}`));
  });
}

/** Runs the checks one after the other; resolves with each one's outcome. */
async function checksInOrder(checks: readonly Check[]): Promise<boolean[]> {
  const outcomes: boolean[] = [];
  for (const check of checks) outcomes.push(await checkInBackground(check));
  return outcomes;
}

if (!step(["tools", "bash", [join(root, "scripts", "ensure-tools.sh")]])) failed++;
if (!step(["docker", "bash", [join(root, "scripts", "ensure-docker.sh")]])) failed++;
// Lint on one core, the type checks and the UI build (the browser tests need it) on the other:
// each is one thread, and one after the other they took about 100 s.
const outcomes = (
  await Promise.all([
    checksInOrder([["lint", bin("eslint"), ["--max-warnings=0", "."]]]),
    checksInOrder([
      ["typecheck", bin("tsc"), ["-p", "tsconfig.json"]],
      ["typecheck ui", bin("tsc"), ["-p", "packages/ui"]],
      ["ui", process.execPath, [join(root, "scripts", "build-ui.ts")]],
    ]),
  ])
).flat();
for (const ok of outcomes) {
  if (ok) passed++;
  else failed++;
}

mkdirSync(join(root, ".tmp"), { recursive: true });
rmSync(reportPath, { force: true });
const testsOk = step(["tests", bin("vitest"), ["run", "--reporter=default", "--reporter=json", `--outputFile.json=${reportPath}`]]);
try {
  const report = JSON.parse(readFileSync(reportPath, "utf8")) as { numPassedTests: number; numFailedTests: number; numPendingTests: number; numTodoTests: number; numFailedTestSuites: number };
  passed += report.numPassedTests;
  failed += report.numFailedTests + report.numPendingTests + report.numTodoTests + report.numFailedTestSuites;
  if (report.numPendingTests + report.numTodoTests > 0) process.stdout.write(`${report.numPendingTests + report.numTodoTests} skipped/todo test(s) counted as failed\n`);
  if (!testsOk && report.numFailedTests + report.numFailedTestSuites === 0) failed++;
} catch {
  process.stdout.write("vitest produced no report\n");
  failed++;
}

process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
process.exitCode = failed > 0 ? 1 : 0;
