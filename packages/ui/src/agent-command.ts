/** Where the agent runs: each target has its own way of installing it. */
export type AgentTarget = "standalone" | "swarm" | "kubernetes" | "linux";

/** The targets in the order the Add environment screen offers them. */
export const agentTargets: { value: AgentTarget; label: string }[] = [
  { value: "standalone", label: "Docker standalone" },
  { value: "swarm", label: "Docker Swarm" },
  { value: "kubernetes", label: "Kubernetes" },
  { value: "linux", label: "Pier agent (Linux host)" },
];

/**
 * How a new device will prove who it is (docs/identity.md, "Three flows"):
 * - `built-in`: the server has its built-in CA and no operator mTLS set; the agent makes its key
 *   and the server issues its certificate after association: no certificate files.
 * - `operator`: an operator mTLS set is in force (flags or upload); the agent needs its CA
 *   certificate, certificate and key from the operator.
 * - `token`: no CA on the server (certificates given by flags, no mTLS): the device token binds it.
 */
export type EnrollmentFlow = "built-in" | "operator" | "token";

/**
 * The flow from what the server reports: its mTLS source (`GET /api/settings/edge/mtls`) and
 * whether it has a built-in CA (`GET /api/certificates`).
 *
 * @example
 * enrollmentFlow({ mtlsSource: "none", builtInCa: true }); // "built-in"
 */
export function enrollmentFlow({ mtlsSource, builtInCa }: { mtlsSource: "none" | "flags" | "uploaded"; builtInCa: boolean }): EnrollmentFlow {
  if (mtlsSource !== "none") return "operator";
  return builtInCa ? "built-in" : "token";
}

/** One sentence for the operator: what the device will do to get its identity. */
export const flowSentences: Record<EnrollmentFlow, string> = {
  "built-in": "Built-in CA: the agent makes its own key in its data directory and, once you associate the device, receives a certificate from this server's CA (renewed automatically) — no certificate files to copy.",
  operator: "Operator CA: this server requires client certificates from your CA, so put the device's CA certificate, certificate and key where the command expects them.",
  token: "Device token: this server has no built-in CA, so the device is bound by the token the server hands it at first contact.",
};

/** What goes into the command. */
export interface AgentCommandInput {
  target: AgentTarget;
  edgeId: string;
  edgeKey: string;
  /** Only `operator` passes certificate files to the agent. */
  flow: EnrollmentFlow;
}

// Edge keys are base64 (shell-safe); an Edge ID is whatever the operator typed.
function shellWord(value: string): string {
  return /^[A-Za-z0-9._:/+=@%^,-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

function mtlsFlags(dir: string, names: { ca: string; cert: string; key: string }): string {
  return `--mtlscacert ${dir}/${names.ca} --mtlscert ${dir}/${names.cert} --mtlskey ${dir}/${names.key}`;
}

const certFiles = { ca: "ca.crt", cert: "agent.crt", key: "agent.key" };
const swarmSecrets = { ca: "pier-agent-ca", cert: "pier-agent-cert", key: "pier-agent-key" };

/**
 * The command an operator runs on the device, one line per shell command.
 *
 * @example
 * agentCommand({ target: "linux", edgeId: "edge-1", edgeKey: "aHR0…", flow: "built-in" });
 * // "EDGE=1 EDGE_ID=edge-1 EDGE_KEY=aHR0… EDGE_INSECURE_POLL=0 pier agent --data ./pier-agent-data"
 */
export function agentCommand({ target, edgeId, edgeKey, flow }: AgentCommandInput): string {
  const mtls = flow === "operator";
  const id = shellWord(edgeId);
  const key = shellWord(edgeKey);
  const env = `-e EDGE=1 -e EDGE_ID=${id} -e EDGE_KEY=${key} -e EDGE_INSECURE_POLL=0`;
  switch (target) {
    case "linux":
      return `EDGE=1 EDGE_ID=${id} EDGE_KEY=${key} EDGE_INSECURE_POLL=0 pier agent --data ./pier-agent-data${mtls ? ` ${mtlsFlags("/etc/pier/mtls", certFiles)}` : ""}`;
    case "standalone":
      return [
        "docker run -d --name pier-agent --restart always -v /var/run/docker.sock:/var/run/docker.sock -v pier-agent-data:/data",
        ...(mtls ? ["-v /path/to/certs:/certs:ro"] : []),
        env,
        "pier-agent",
        ...(mtls ? [mtlsFlags("/certs", certFiles)] : []),
      ].join(" ");
    case "swarm":
      return [
        ...(mtls ? [`docker secret create ${swarmSecrets.ca} ./ca.crt`, `docker secret create ${swarmSecrets.cert} ./agent.crt`, `docker secret create ${swarmSecrets.key} ./agent.key`] : []),
        // One agent per node; AGENT_CLUSTER_ADDR marks them as one cluster, spoken for by the
        // agent on the swarm's leader (docs/deploy.md).
        "docker network create --driver overlay pier-agent-network",
        [
          "docker service create --name pier-agent --mode global --network pier-agent-network -e AGENT_CLUSTER_ADDR=tasks.pier-agent",
          ...(mtls ? [`--secret ${swarmSecrets.ca} --secret ${swarmSecrets.cert} --secret ${swarmSecrets.key}`] : []),
          "--mount type=bind,src=/var/run/docker.sock,dst=/var/run/docker.sock --mount type=volume,src=pier-agent-data,dst=/data",
          env,
          "pier-agent",
          ...(mtls ? [mtlsFlags("/run/secrets", swarmSecrets)] : []),
        ].join(" "),
      ].join("\n");
    case "kubernetes":
      return [
        ...(mtls ? ["kubectl create secret generic pier-agent-mtls --from-file=ca.crt=./ca.crt --from-file=agent.crt=./agent.crt --from-file=agent.key=./agent.key"] : []),
        `helm install pier-agent ./deploy/helm/pier-agent --set edge.id=${id} --set edge.key=${key}${mtls ? " --set mtls.existingSecret=pier-agent-mtls" : ""}`,
      ].join("\n");
  }
}

/** A fresh Edge ID for a new device (the operator may type their own). */
export function randomEdgeId(): string {
  return crypto.randomUUID();
}
