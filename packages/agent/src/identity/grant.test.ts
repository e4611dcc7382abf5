import { describe, expect, it } from "vitest";
import { AgentError } from "../errors.ts";
import { newDeviceKey } from "./csr.ts";
import { checkGrant } from "./grant.ts";
import { testCa } from "./test-ca.testkit.ts";

describe("checkGrant", () => {
  it("accepts a certificate for our key signed by the chain it came with", () => {
    const key = newDeviceKey();
    const ca = testCa();
    const checked = checkGrant(ca.grant(key, { edgeId: "edge-42" }), key);
    expect(checked.certificate.subject).toBe("CN=edge-42");
    expect(checked.trustBundle).toBe(ca.pem);
  });

  it("refuses a certificate for another key, naming it", () => {
    const key = newDeviceKey();
    const grant = testCa().grant(newDeviceKey());
    expect(() => checkGrant(grant, key)).toThrow(AgentError);
    expect(() => checkGrant(grant, key)).toThrow(/for another key than this device's/);
  });

  it("refuses a certificate the chain did not sign", () => {
    const key = newDeviceKey();
    const grant = { ...testCa().grant(key), chain: testCa("another CA").pem };
    expect(() => checkGrant(grant, key)).toThrow(/not signed by the CA certificate\(s\) the server sent/);
  });

  it("refuses a trust bundle without certificates", () => {
    const key = newDeviceKey();
    expect(() => checkGrant({ ...testCa().grant(key), trustBundle: "not a PEM" }, key)).toThrow(/trust bundle holds no PEM certificate/);
  });
});
