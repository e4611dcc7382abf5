import { describe, expect, it } from "vitest";
import { encodeEdgeKey } from "@pier/protocol";
import { loadAgentConfig } from "./config.ts";

const edgeKey = encodeEdgeKey({ apiUrl: "https://127.0.0.1:9443", tunnelAddress: "127.0.0.1:8000", serverFingerprint: "ab".repeat(32), environmentId: 0 });
const config = (sourceAddress?: string) => loadAgentConfig({ flags: { data: "/tmp/unused" }, env: { EDGE_ID: "edge-src-1", EDGE_KEY: edgeKey, ...(sourceAddress === undefined ? {} : { PIER_AGENT_SOURCE_ADDRESS: sourceAddress }) } });

describe("PIER_AGENT_SOURCE_ADDRESS", () => {
  it("takes an IPv4 or IPv6 address of the device", () => {
    expect(config().sourceAddress).toBeUndefined();
    expect(config("").sourceAddress).toBeUndefined();
    expect(config(" 127.0.0.2 ").sourceAddress).toBe("127.0.0.2");
    expect(config("::1").sourceAddress).toBe("::1");
  });

  it("refuses anything else at start, naming the setting, without echoing a long value", () => {
    expect(() => config("eth0")).toThrow(/PIER_AGENT_SOURCE_ADDRESS=eth0 is not an IP address/);
    let message = "";
    try {
      config(`10.0.0.1${"x".repeat(5000)}`);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/is not an IP address/);
    expect(message.length).toBeLessThan(400);
  });
});
