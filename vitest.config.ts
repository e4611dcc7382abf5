import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // bench/: the benchmarks' own logic (the simulated agents' reconnect policy).
    include: ["packages/*/src/**/*.test.ts", "packages/*/test/**/*.test.ts", "bench/**/*.test.ts"],
    globalSetup: ["packages/e2e/src/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // One file at a time (Vitest's default on two cores, said explicitly). Two workers cut the
    // run to 13 minutes but made end-to-end files that share the host (the main Docker engine's
    // published ports and swarm, CPU-timed rotations) fail now and then (issue 19 closing note).
    maxWorkers: 1,
  },
});
