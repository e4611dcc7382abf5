import { describe, expect, it } from "vitest";
import { encodeEdgeKey } from "@pier/protocol";
import { AgentError } from "./errors.ts";
import { loadAgentConfig } from "./config.ts";

const edgeKey = encodeEdgeKey({ apiUrl: "https://127.0.0.1:9443", tunnelAddress: "127.0.0.1:8000", serverFingerprint: "ab".repeat(32), environmentId: 0 });
const config = (groups?: string) => loadAgentConfig({ flags: { data: "/tmp/unused" }, env: { EDGE_ID: "edge-groups-1", EDGE_KEY: edgeKey, ...(groups === undefined ? {} : { EDGE_GROUPS: groups }) } });

function refusal(groups: string): AgentError {
  try {
    config(groups);
  } catch (error) {
    if (error instanceof AgentError) return error;
    throw error;
  }
  throw new Error(`EDGE_GROUPS=${groups.slice(0, 40)} was accepted`);
}

describe("EDGE_GROUPS", () => {
  it("takes comma-separated names, trimmed, each once (case-insensitively); unset or blank asks for none", () => {
    expect(config().groups).toEqual([]);
    expect(config(" ").groups).toEqual([]);
    expect(config("sites, Lab ,sites,SITES").groups).toEqual(["sites", "Lab"]);
    // The bounds themselves are accepted: 32 names, 128 characters.
    const most = Array.from({ length: 31 }, (_, i) => `g${i}`).concat("n".repeat(128));
    expect(config(most.join(",")).groups).toEqual(most);
  });

  it("refuses at start, naming the variable: an empty name, a name over 128 characters, a control character, more than 32 names", () => {
    for (const [value, pattern] of [
      ["a,,b", /EDGE_GROUPS has an empty name/],
      ["a,", /EDGE_GROUPS has an empty name/],
      ["n".repeat(129), /EDGE_GROUPS names a group of 129 characters.*at most 128/],
      ["bad\u0007bell", /EDGE_GROUPS name "bad\\u0007bell" holds a control character/],
      [Array.from({ length: 33 }, (_, i) => `g${i}`).join(","), /EDGE_GROUPS names 33 groups; a device may ask for at most 32/],
    ] as const) {
      const error = refusal(value);
      expect(error.code).toBe("config_invalid");
      expect(error.message).toMatch(pattern);
      expect(error.message.length).toBeLessThan(300);
    }
  });
});
