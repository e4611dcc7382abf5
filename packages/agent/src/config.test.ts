import { describe, expect, it } from "vitest";
import { defaultJobImage, loadAgentConfig } from "./config.ts";

const edgeKey = Buffer.from(`https://localhost:9443|localhost:8000|${"ab".repeat(32)}|0`).toString("base64").replace(/=+$/, "");
const env = { EDGE: "1", EDGE_ID: "device-1", EDGE_KEY: edgeKey };

describe("agent configuration: edge jobs", () => {
  it("runs jobs in busybox:latest, privileged, unless --job-image / PIER_JOB_IMAGE and PIER_JOB_PRIVILEGED say otherwise", () => {
    expect(loadAgentConfig({ flags: {}, env })).toMatchObject({ jobImage: defaultJobImage, jobPrivileged: true });
    expect(defaultJobImage).toBe("busybox:latest");
    expect(loadAgentConfig({ flags: {}, env: { ...env, PIER_JOB_IMAGE: "registry.local:5000/tools:1", PIER_JOB_PRIVILEGED: "false" } })).toMatchObject({ jobImage: "registry.local:5000/tools:1", jobPrivileged: false });
    // The flag wins over the variable.
    expect(loadAgentConfig({ flags: { "job-image": "alpine:3" }, env: { ...env, PIER_JOB_IMAGE: "busybox:1" } }).jobImage).toBe("alpine:3");
  });

  it("refuses a job image that is not one reference of at most 512 characters", () => {
    expect(() => loadAgentConfig({ flags: {}, env: { ...env, PIER_JOB_IMAGE: "busybox; rm -rf /" } })).toThrow(/--job-image \(PIER_JOB_IMAGE\) must be one image reference/);
    expect(() => loadAgentConfig({ flags: { "job-image": `r/${"a".repeat(511)}` }, env })).toThrow(/at most 512 characters/);
    expect(loadAgentConfig({ flags: { "job-image": `r/${"a".repeat(510)}` }, env }).jobImage).toHaveLength(512);
  });
});

describe("agent configuration: test-only settle window", () => {
  it("takes PIER_AGENT_TEST_SETTLE_SECONDS from 1 to 10 s, and keeps the runtime's default when it is unset", () => {
    expect(loadAgentConfig({ flags: {}, env }).stackSettleMs).toBeUndefined();
    expect(loadAgentConfig({ flags: {}, env: { ...env, PIER_AGENT_TEST_SETTLE_SECONDS: "2" } }).stackSettleMs).toBe(2000);
    expect(loadAgentConfig({ flags: {}, env: { ...env, PIER_AGENT_TEST_SETTLE_SECONDS: "10" } }).stackSettleMs).toBe(10_000);
  });

  it("refuses 0, more than the 10 s default, and anything but whole seconds", () => {
    for (const value of ["0", "11", "1.5", "2s", "-1"]) {
      expect(() => loadAgentConfig({ flags: {}, env: { ...env, PIER_AGENT_TEST_SETTLE_SECONDS: value } })).toThrow(/PIER_AGENT_TEST_SETTLE_SECONDS \(a test-only setting\) must be whole seconds from 1 to 10/);
    }
  });
});
