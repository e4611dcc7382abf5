/**
 * The chaos suite (docs/chaos.md): produces each fault for real against real processes and
 * prints one line per scenario with its figures (time to detect, time to recover, operations
 * acknowledged against found afterwards), then the details of any check that did not hold.
 *
 *   npm run chaos [-- --short] [-- SCENARIO…]
 *
 * --short runs CI's version (fewer agents, shorter faults). Needs root (network namespaces, tc,
 * tmpfs mounts) and the tools `scripts/ensure-tools.sh` installs. Exit 0 when every check held,
 * 1 when one did not, 2 on a bad command line.
 */
import { parseArgs } from "node:util";
import { chaosDetails, chaosPassed, chaosScenarios, formatChaosLine, runChaosScenario } from "../packages/e2e/src/chaos/index.ts";

const usage = `Usage: npm run chaos [-- --short] [-- SCENARIO…]\nScenarios: ${chaosScenarios.map((scenario) => scenario.name).join(", ")}`;

function selected(): { short: boolean; names: string[] } {
  try {
    const { values, positionals } = parseArgs({ options: { short: { type: "boolean", default: false }, help: { type: "boolean", default: false } }, allowPositionals: true });
    if (values.help) {
      console.log(usage);
      process.exit(0);
    }
    const unknown = positionals.filter((name) => !chaosScenarios.some((scenario) => scenario.name === name));
    if (unknown.length > 0) throw new Error(`no scenario called ${unknown.join(", ")}`);
    return { short: values.short, names: positionals };
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : String(error)}\n${usage}`);
    process.exit(2);
  }
}

const { short, names } = selected();
const chosen = chaosScenarios.filter((scenario) => names.length === 0 || names.includes(scenario.name));
let failures = 0;
for (const scenario of chosen) {
  console.log(`# ${scenario.name}: ${scenario.summary}`);
  const report = await runChaosScenario(scenario, { short, log: (line) => console.log(`  ${line}`) });
  console.log(formatChaosLine(report));
  for (const line of chaosDetails(report)) console.log(line);
  if (!chaosPassed(report)) failures++;
}
console.log(`${chosen.length - failures} scenario(s) held, ${failures} did not`);
process.exit(failures === 0 ? 0 : 1);
