import { describe, expect, it } from "vitest";
import { TunnelBroker } from "../edge/tunnel-broker.ts";

describe("where metrics are told of what happened", () => {
  it("the tunnel broker tells each wait's end: undefined when the device is offline or does not answer", async () => {
    const settled: (number | undefined)[] = [];
    const offline = new TunnelBroker({ push: () => false, onSettled: (seconds) => settled.push(seconds) });
    await expect(offline.open(7)).rejects.toThrow(/no open edge session/);
    const silent = new TunnelBroker({ push: () => true, onSettled: (seconds) => settled.push(seconds) });
    await expect(silent.open(7, { timeoutMs: 20 })).rejects.toThrow(/did not open a tunnel/);
    expect(settled).toEqual([undefined, undefined]);
  });
});
