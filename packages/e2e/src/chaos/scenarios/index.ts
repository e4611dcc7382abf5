import type { ChaosScenario } from "../scenario.ts";
import { certificateSwap } from "./certificate-swap.ts";
import { clockSkewScenario } from "./clock-skew.ts";
import { databaseOutage } from "./database-outage.ts";
import { diskFull } from "./disk-full.ts";
import { partitionScenario } from "./partition.ts";
import { serverCrash } from "./server-crash.ts";

/** Every scenario, in the order `npm run chaos` runs them (docs/chaos.md). */
export const chaosScenarios: readonly ChaosScenario[] = [partitionScenario, serverCrash, databaseOutage, certificateSwap, clockSkewScenario, diskFull];
