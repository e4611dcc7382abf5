import { describe, expect, it } from "vitest";
import { lockoutWarning, needsConfirmation } from "./mtls-lockout.ts";

const impact = { Names: ["localhost"], CoversHost: true, KeepsWorking: ["https://10.0.0.5:9443", "https://127.0.0.1:9443"], ConnectedAgents: 3, Disconnected: 2 };

describe("the mTLS lock-out warning", () => {
  it("names the host that would be locked out, the addresses that keep working and the agents disconnected", () => {
    const text = lockoutWarning(impact, "localhost");
    expect(text).toContain("covers localhost, the address you are using");
    expect(text).toContain("Use https://10.0.0.5:9443 or https://127.0.0.1:9443 (on the server itself) instead");
    expect(text).toContain("2 connected agents of 3 will be disconnected");
    expect(needsConfirmation(impact)).toBe(true);
  });

  it("asks only about the agents when the browser's address is not covered, and nothing when nothing breaks", () => {
    const agentsOnly = { ...impact, CoversHost: false, Disconnected: 1 };
    expect(lockoutWarning(agentsOnly, "127.0.0.1")).toBe("1 connected agent of 3 will be disconnected: they present no client certificate of the new CA.");
    expect(needsConfirmation(agentsOnly)).toBe(true);
    expect(needsConfirmation({ ...impact, CoversHost: false, Disconnected: 0 })).toBe(false);
  });
});
