import { describe, expect, it } from "vitest";
import { formatResult, runTarget } from "../src/harness.ts";
import { targets } from "../src/targets/index.ts";

/**
 * The CI smoke version of `npm run fuzz`: every target with a few hundred to a thousand cases
 * (the benchmark-style run does 100,000 each). A failure prints the target's report, with the
 * seed to replay it: `npm run fuzz -- --target NAME --runs N --seed SEED`.
 */
const smokeRuns: Record<string, number> = {
  der: 800,
  pem: 800,
  certificate: 300,
  csr: 300,
  crl: 300,
  "client-hello": 800,
  "proxy-protocol": 1_000,
  framing: 400,
  "edge-key": 1_000,
  "api-bodies": 200,
};
const seed = 16;

describe("fuzz smoke run (fast-check, fixed seed)", () => {
  it("has a smoke size for every target", () => {
    expect(targets.map((t) => t.name).sort()).toEqual(Object.keys(smokeRuns).sort());
  });

  for (const target of targets) {
    it(`${target.name}: no crash, hang or mismatch`, async () => {
      const result = await runTarget(target, { runs: smokeRuns[target.name] ?? 200, seed });
      const report = formatResult(result).join("\n");
      expect(result.cases, report).toBe(smokeRuns[target.name]);
      expect({ crashes: result.crashes, hangs: result.hangs, mismatches: result.mismatches }, report).toEqual({ crashes: 0, hangs: 0, mismatches: 0 });
    }, 60_000);
  }
});
