import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/src/**/*.test.ts", "packages/*/test/**/*.test.ts"],
    globalSetup: ["packages/e2e/src/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // Vitest's default on a 2-core machine is one worker: files ran one after another while most
    // of them wait on processes, sockets and engines. Two keep the suite under 20 minutes.
    maxWorkers: 2,
  },
});
