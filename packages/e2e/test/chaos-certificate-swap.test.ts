import { describe, expect, it } from "vitest";
import { chaosDetails, figureOf, runChaosScenario } from "../src/chaos/index.ts";
import { certificateSwap } from "../src/chaos/scenarios/certificate-swap.ts";

/**
 * Issue 22, "Certificate swap under load", CI's version (200 agents): the server certificate and
 * the client CA bundle replaced by rewriting the --mtls* files and through the upload API while
 * the fleet is connected and fresh handshakes keep coming. docs/chaos.md "certificate-swap".
 */
describe("chaos: certificate-swap", () => {
  it("swaps certificates and CAs under a fleet without dropping a session or failing a handshake, except the withdrawn CA's", async () => {
    const report = await runChaosScenario(certificateSwap, { short: true, log: () => {} });
    expect(chaosDetails(report)).toEqual([]);
    const agents = figureOf(report, "agents");
    expect(figureOf(report, "failed handshakes")).toBe(0);
    expect(figureOf(report, "sessions lost")).toBe(0);
    expect(figureOf(report, "handshakes during swaps")).toBeGreaterThan(50);
    // Every tenth agent holds a certificate of the CA withdrawn at the end.
    expect(figureOf(report, "withdraw B (rename) dropped")).toBe(agents / 10);
    expect(figureOf(report, "api withdraw B dropped")).toBe(agents / 10);
    expect(figureOf(report, "api predicted")).toBe(agents / 10);
    // The watcher waits 300 ms of quiet; on a loaded 2-core machine the reload takes a few seconds at most.
    for (const swap of ["same-CA cert (rename)", "new-CA cert (in place)", "torn pair", "api new-CA cert"]) expect(figureOf(report, `${swap} served after`)).toBeLessThan(10_000);
  }, 240_000);
});
