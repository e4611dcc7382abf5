import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/src/**/*.test.ts", "packages/*/test/**/*.test.ts"],
    globalSetup: ["packages/e2e/src/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 180_000,
  },
});
