import type { ChaosScenario } from "../scenario.ts";

/** Every scenario, in the order `npm run chaos` runs them (docs/chaos.md). */
export const chaosScenarios: readonly ChaosScenario[] = [];
