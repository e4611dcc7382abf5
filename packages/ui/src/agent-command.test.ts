import { describe, expect, it } from "vitest";
import { encodeEdgeKey } from "@pier/protocol/wire";
import { agentCommand, agentCommands, agentImageProblem, agentTargets, enrollmentFlow, flowSentences, loopbackWarning, maxAgentImageLength } from "./agent-command.ts";

const input = { edgeId: "edge-1", edgeKey: encodeEdgeKey({ apiUrl: "https://pier.example.com:9443", tunnelAddress: "pier.example.com:8000", serverFingerprint: "a".repeat(64), environmentId: 7 }) };
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

describe("Add environment's commands as pasted", () => {
  it("warns when a container would be told to reach this server on the loopback interface, and only then", () => {
    const loopback = { apiUrl: "https://localhost:9443", tunnelAddress: "127.0.0.1:8000" };
    for (const target of ["standalone", "swarm", "kubernetes"] as const) {
      expect(loopbackWarning({ target, ...loopback }), target).toMatch(/^A container cannot reach localhost and 127\.0\.0\.1: .* LAN address or DNS name/);
    }
    expect(loopbackWarning({ target: "standalone", apiUrl: "https://[::1]:9443", tunnelAddress: "pier.example.com:8000" })).toMatch(/cannot reach \[::1\]:/);
    expect(loopbackWarning({ target: "standalone", apiUrl: "https://edge.localhost", tunnelAddress: "10.0.0.5:8000" })).toMatch(/cannot reach edge\.localhost:/);
    // An agent on the server's own host reaches its loopback; a real address is fine anywhere.
    expect(loopbackWarning({ target: "linux", ...loopback })).toBeUndefined();
    expect(loopbackWarning({ target: "standalone", apiUrl: "https://192.168.1.20:9443", tunnelAddress: "pier.example.com:8000" })).toBeUndefined();
    // 127.example.com is a name, not the loopback network.
    expect(loopbackWarning({ target: "standalone", apiUrl: "https://127.example.com", tunnelAddress: "pier.example.com:8000" })).toBeUndefined();
  });

  it("names the image as scripts/build-images.ts tags it, or the one given, in every container target", () => {
    expect(agentCommand({ ...input, target: "standalone", flow: "built-in" })).toMatch(/ pier-agent:latest$/);
    expect(agentCommand({ ...input, target: "swarm", flow: "built-in" })).toMatch(/ pier-agent:latest$/);
    const image = "registry.example.com:5000/team/pier-agent:0.2.0";
    expect(agentCommand({ ...input, target: "standalone", flow: "operator", image })).toContain(` ${image} --mtlscacert`);
    expect(agentCommand({ ...input, target: "kubernetes", flow: "built-in", image })).toMatch(/--set image\.repository=registry\.example\.com:5000\/team\/pier-agent --set image\.tag=0\.2\.0$/);
    expect(agentCommand({ ...input, target: "kubernetes", flow: "built-in" })).not.toContain("image.");
  });

  it("gives each shell command of a target on its own, for its own Copy button", () => {
    expect(agentCommands({ ...input, target: "standalone", flow: "built-in" })).toHaveLength(1);
    const swarm = agentCommands({ ...input, target: "swarm", flow: "operator" });
    expect(swarm).toHaveLength(5);
    expect(swarm.every((command) => command.startsWith("docker ") && !command.includes("\n"))).toBe(true);
    expect(agentCommands({ ...input, target: "kubernetes", flow: "operator" }).map((command) => command.split(" ")[0])).toEqual(["kubectl", "helm"]);
  });

  it("points Helm at the chart this server packages, at the key's API URL, trusting what the agent trusts", () => {
    const [helm] = agentCommands({ ...input, target: "kubernetes", flow: "built-in" });
    expect(helm).toBe(`helm install pier-agent https://pier.example.com:9443/charts/pier-agent-0.1.0.tgz --ca-file ./pier-ca.pem --set edge.id=edge-1 --set edge.key=${input.edgeKey}`);
    // With an operator mTLS set the server may ask every client for a certificate: Helm shows the agent's.
    const [, operatorHelm] = agentCommands({ ...input, target: "kubernetes", flow: "operator" });
    expect(operatorHelm).toMatch(/^helm install pier-agent https:\/\/pier\.example\.com:9443\/charts\/pier-agent-0\.1\.0\.tgz --ca-file \.\/ca\.crt --cert-file \.\/agent\.crt --key-file \.\/agent\.key --set edge\.id=edge-1 /);
    expect(agentCommand({ ...input, target: "kubernetes", flow: "token" })).not.toContain("./deploy/helm");
  });

  it("refuses an image name that is not one, saying what one looks like", () => {
    expect(agentImageProblem("pier-agent:latest")).toBeUndefined();
    expect(agentImageProblem("registry.example.com:5000/pier-agent@sha256:0123abcd")).toBeUndefined();
    for (const bad of ["", "pier agent", "pier-agent;rm -rf /", "Pier-Agent", "pier-agent:", "$(id)"]) expect(agentImageProblem(bad), bad).toBeDefined();
    expect(agentImageProblem(`a${"b".repeat(maxAgentImageLength)}`)).toMatch(/characters long; Docker takes at most 384/);
  });
});
