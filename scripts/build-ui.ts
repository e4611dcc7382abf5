/**
 * Builds the web UI (packages/ui → packages/ui/dist, which the server serves) when the build is
 * missing or older than its sources; a fresh build is left alone. `npm start`, the test suite
 * and the browser tests call it.
 *
 *   npx node scripts/build-ui.ts [--force]
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

const root = join(import.meta.dirname, "..");
const uiDir = join(root, "packages", "ui");
/** The built UI's entry page; the server answers 503 until it exists. */
export const uiIndex = join(uiDir, "dist", "index.html");

function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(path).reduce((newest, entry) => Math.max(newest, newestMtime(join(path, entry))), stat.mtimeMs);
}

/** Whether packages/ui/dist is missing or older than anything it is built from. */
export function uiBuildIsStale(): boolean {
  if (!existsSync(uiIndex)) return true;
  const sources = ["src", "public", "index.html", "package.json", "vite.config.ts"].map((entry) => join(uiDir, entry)).filter((path) => existsSync(path));
  return Math.max(...sources.map(newestMtime), newestMtime(join(root, "packages", "protocol", "src"))) > statSync(uiIndex).mtimeMs;
}

/** Builds the UI if stale (or always, with `force`); throws with Vite's output when the build fails. */
export function ensureUiBuilt(force = false): void {
  if (!force && !uiBuildIsStale()) return;
  // NODE_ENV is the caller's otherwise: under vitest ("test") Vite would emit React's
  // development JSX, with every source file's absolute path in the bundle.
  const env = { ...process.env, NODE_ENV: "production" };
  const result = spawnSync(process.execPath, [join(root, "node_modules", "vite", "bin", "vite.js"), "build", "--logLevel", "warn"], { cwd: uiDir, encoding: "utf8", env });
  if (result.status !== 0) throw new Error(`building the web UI failed (vite build in packages/ui):\n${result.stdout}${result.stderr}`);
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { force: { type: "boolean", default: false } } });
  const stale = values.force || uiBuildIsStale();
  ensureUiBuilt(values.force);
  console.log(stale ? `built the web UI: ${uiIndex}` : `the web UI is up to date: ${uiIndex}`);
}
