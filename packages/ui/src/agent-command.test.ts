import { describe, expect, it } from "vitest";
import { agentCommand, agentTargets, enrollmentFlow, flowSentences } from "./agent-command.ts";

const input = { edgeId: "edge-1", edgeKey: "aHR0cHM6Ly9waWVy" };
// Everything that would make the operator copy certificate files onto the device.
const certificateFiles = /--mtls|\/certs|docker secret|--secret|pier-agent-mtls|mtls\.existingSecret|\.crt|agent\.key/;

describe("Add environment's agent command (docs/identity.md, \"Three flows\")", () => {
  it("with the built-in CA, no target needs a certificate file, and each keeps its data directory (where the key is made)", () => {
    for (const { value: target } of agentTargets) {
      const command = agentCommand({ ...input, target, flow: "built-in" });
      expect(command, target).toMatch(/EDGE_ID=edge-1|edge\.id=edge-1/);
      expect(command, target).not.toMatch(certificateFiles);
    }
    expect(agentCommand({ ...input, target: "standalone", flow: "built-in" })).toContain("-v pier-agent-data:/data");
    expect(agentCommand({ ...input, target: "linux", flow: "built-in" })).toContain("--data ./pier-agent-data");
    expect(agentCommand({ ...input, target: "swarm", flow: "built-in" })).toContain("src=pier-agent-data,dst=/data");
  });

  it("keeps the certificate files when an operator mTLS set is in force (the precondition of the test above: the pattern does match)", () => {
    for (const { value: target } of agentTargets) {
      expect(agentCommand({ ...input, target, flow: "operator" }), target).toMatch(certificateFiles);
    }
    expect(agentCommand({ ...input, target: "standalone", flow: "operator" })).toContain("--mtlscacert /certs/ca.crt --mtlscert /certs/agent.crt --mtlskey /certs/agent.key");
  });

  it("a device token alone (no CA on the server) needs no certificate files either", () => {
    expect(agentCommand({ ...input, target: "standalone", flow: "token" })).not.toMatch(certificateFiles);
  });

  it("derives the flow from the server's mTLS source and built-in CA, and says it in one sentence", () => {
    expect(enrollmentFlow({ mtlsSource: "none", builtInCa: true })).toBe("built-in");
    expect(enrollmentFlow({ mtlsSource: "uploaded", builtInCa: true })).toBe("operator");
    expect(enrollmentFlow({ mtlsSource: "flags", builtInCa: false })).toBe("operator");
    expect(enrollmentFlow({ mtlsSource: "none", builtInCa: false })).toBe("token");
    for (const sentence of Object.values(flowSentences)) expect(sentence.split(/\.\s/).length).toBe(1);
    expect(flowSentences["built-in"]).toMatch(/no certificate files/);
  });
});
