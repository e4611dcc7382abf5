/**
 * The whole test suite: lint, type check, unit and end-to-end tests. Prints every step's
 * output, then one plain closing line `N passed, N failed` (what CI reads) and exits
 * non-zero on any failure. Lint, the type check and the UI build count as one check each;
 * skipped or todo tests count as failures, since a test that did not run proved nothing.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const reportPath = join(root, ".tmp", "vitest-report.json");
let passed = 0;
let failed = 0;

function step(name: string, command: string, args: string[]): boolean {
  process.stdout.write(`\n=== ${name}: ${command} ${args.join(" ")}\n`);
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit", env: process.env });
  const ok = result.status === 0;
  process.stdout.write(`=== ${name}: ${ok ? "ok" : `FAILED (exit ${result.status ?? result.signal})`}\n`);
  return ok;
}

const bin = (name: string) => join(root, "node_modules", ".bin", name);

if (!step("tools", "bash", [join(root, "scripts", "ensure-tools.sh")])) failed++;
if (!step("docker", "bash", [join(root, "scripts", "ensure-docker.sh")])) failed++;
for (const [name, command, args] of [
  ["lint", bin("eslint"), ["--max-warnings=0", "."]],
  ["typecheck", bin("tsc"), ["-p", "tsconfig.json"]],
  ["typecheck ui", bin("tsc"), ["-p", "packages/ui"]],
] as const) {
  if (step(name, command, [...args])) passed++;
  else failed++;
}

// The browser tests need the built UI; building it is a check of its own.
if (step("ui", process.execPath, [join(root, "scripts", "build-ui.ts")])) passed++;
else failed++;

mkdirSync(join(root, ".tmp"), { recursive: true });
rmSync(reportPath, { force: true });
const testsOk = step("tests", bin("vitest"), ["run", "--reporter=default", "--reporter=json", `--outputFile.json=${reportPath}`]);
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
