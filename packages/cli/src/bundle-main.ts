/**
 * Entry point of the bundled `pier` (scripts/build-bundle.ts). The bundle is CommonJS, which
 * has no `import.meta.main`; CommonJS because Node's ESM loader alone costs an idle agent
 * ~1 MiB of resident memory.
 */
import { runCli } from "./main.ts";

void runCli(process.argv.slice(2)).then((code) => (process.exitCode = code));
