/**
 * Bundles the `pier` command into plain, minified JavaScript: dist/pier/main.cjs, one chunk per
 * command (main.ts imports each command lazily), so `node dist/pier/main.cjs agent` loads only
 * the agent's code, without type stripping. This is what a device runs where memory counts
 * (bench/docker-proxy.ts measures it beside the TypeScript sources). CommonJS, because Node's
 * ESM loader costs an idle agent ~1 MiB more; the agent imports only `@pier/protocol/wire`,
 * so zod stays in the server's chunk.
 *
 *   npx node scripts/build-bundle.ts [--out dist/pier]
 */
import { cpSync, rmSync, readdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { build } from "rolldown";
import { ensureUiBuilt, uiIndex } from "./build-ui.ts";

const root = join(import.meta.dirname, "..");

/** V8 flags that shrink the agent's idle resident memory (bench/docker-proxy.ts: 65 → 57 MiB). */
export const footprintFlags = ["--lite-mode", "--max-semi-space-size=1"] as const;

/**
 * Builds the bundle into `outDir` (emptied first), with the web UI in `outDir/ui` and the agent's
 * Helm chart in `outDir/charts/pier-agent` (where `pier server` looks next to main.cjs), and
 * returns the path of its entry point.
 */
export async function buildBundle(outDir = join(root, "dist", "pier")): Promise<string> {
  rmSync(outDir, { recursive: true, force: true });
  await build({
    input: join(root, "packages/cli/src/bundle-main.ts"),
    platform: "node",
    logLevel: "warn",
    // main.ts runs itself when it is the entry point; in the bundle, bundle-main.ts starts it.
    transform: { define: { "import.meta.main": "false" } },
    output: { dir: outDir, format: "cjs", minify: true, entryFileNames: "main.cjs", chunkFileNames: "[name]-[hash].cjs" },
  });
  ensureUiBuilt();
  cpSync(dirname(uiIndex), join(outDir, "ui"), { recursive: true });
  cpSync(join(root, "deploy", "helm", "pier-agent"), join(outDir, "charts", "pier-agent"), { recursive: true });
  return join(outDir, "main.cjs");
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { out: { type: "string" } } });
  const outDir = resolve(values.out ?? join(root, "dist", "pier"));
  const entry = await buildBundle(outDir);
  const files = readdirSync(outDir).filter((file) => file.endsWith(".cjs"));
  const kib = files.reduce((sum, file) => sum + statSync(join(outDir, file)).size, 0) / 1024;
  console.log(`${entry}: ${files.length} files, ${kib.toFixed(0)} KiB, the web UI in ${join(outDir, "ui")}, the agent chart in ${join(outDir, "charts")}; on a device: node ${footprintFlags.join(" ")} ${entry} agent`);
}
