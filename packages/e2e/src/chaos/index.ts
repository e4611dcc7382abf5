/** The chaos suite (docs/chaos.md): faults produced for real, and what must hold through them. */
export { ChaosRecorder, runChaosScenario, chaosPassed, formatChaosLine, chaosDetails, figureOf, type ChaosScenario, type ChaosReport, type ChaosOptions, type ChaosFigure, type ChaosCheck } from "./scenario.ts";
export { chaosScenarios } from "./scenarios/index.ts";
