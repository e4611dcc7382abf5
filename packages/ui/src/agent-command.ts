import { agentChartPath, decodeEdgeKey } from "@pier/protocol/wire";
import { i18n } from "./i18n/index.ts";
import { joinList } from "./list-format.ts";

/** Where the agent runs: each target has its own way of installing it. */
export type AgentTarget = "standalone" | "swarm" | "kubernetes" | "linux";

/** The targets in the order the Add environment screen offers them; `label()` in the UI's language, when rendered. */
export const agentTargets: { value: AgentTarget; label: () => string }[] = [
  { value: "standalone", label: () => i18n.t("environments:addEnvironment.targets.standalone") },
  { value: "swarm", label: () => "Docker Swarm" },
  { value: "kubernetes", label: () => "Kubernetes" },
  { value: "linux", label: () => i18n.t("environments:addEnvironment.targets.linux") },
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

/** One sentence for the operator: what the device will do to get its identity (read when rendered: in the UI's language). */
export const flowSentences: Readonly<Record<EnrollmentFlow, string>> = {
  get "built-in"() {
    return i18n.t("environments:agent.flows.builtIn");
  },
  get operator() {
    return i18n.t("environments:agent.flows.operator");
  },
  get token() {
    return i18n.t("environments:agent.flows.token");
  },
};

/** The agent image `node scripts/build-images.ts` tags (docs/deploy.md, "The images"). */
export const defaultAgentImage = "pier-agent:latest";

/** The longest image reference the form takes (Docker's own limit on a name is 255 characters, plus a tag). */
export const maxAgentImageLength = 384;

/** What goes into the command. */
export interface AgentCommandInput {
  target: AgentTarget;
  edgeId: string;
  edgeKey: string;
  /** Only `operator` passes certificate files to the agent. */
  flow: EnrollmentFlow;
  /** The agent image the device pulls or has (`defaultAgentImage` when absent). */
  image?: string;
}

/**
 * Why an image reference cannot go into the command, or `undefined` when it can: a name as
 * Docker takes it (`registry.example.com:5000/team/pier-agent:0.2.0`, or `@sha256:…`), since the
 * command is pasted into a shell.
 *
 * @example
 * agentImageProblem("pier agent"); // "The agent image … has a space …"
 */
export function agentImageProblem(image: string): string | undefined {
  if (image.length === 0) return i18n.t("environments:agent.image.missing");
  if (image.length > maxAgentImageLength) return i18n.t("environments:agent.image.tooLong", { length: image.length, max: maxAgentImageLength });
  if (!/^[a-z0-9]([a-z0-9._/:@-]*[A-Za-z0-9_])?$/.test(image) || /[:@]$/.test(image)) {
    return i18n.t("environments:agent.image.invalid");
  }
  return undefined;
}

/** `repository` and `tag` of an image reference, as the Helm chart's `image.*` values take them. */
function imageParts(image: string): { repository: string; tag: string } {
  const digest = image.indexOf("@");
  if (digest !== -1) return { repository: image.slice(0, digest), tag: image.slice(digest + 1) };
  const colon = image.lastIndexOf(":");
  // A colon before the last slash is a registry's port, not a tag.
  return colon > image.lastIndexOf("/") ? { repository: image.slice(0, colon), tag: image.slice(colon + 1) } : { repository: image, tag: "latest" };
}

// 127.0.0.0/8, ::1, 0.0.0.0 and the names that resolve to them everywhere.
function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
  return bare === "localhost" || bare.endsWith(".localhost") || /^127\.\d+\.\d+\.\d+$/.test(bare) || bare === "::1" || bare === "0.0.0.0" || bare === "::";
}

function hostOf(address: string, asUrl: boolean): string | undefined {
  try {
    return new URL(asUrl ? address : `tls://${address}`).hostname;
  } catch {
    return undefined;
  }
}

/**
 * A warning when the agent would run in a container (Docker, Swarm, Kubernetes) and an address
 * in its key names the loopback interface: inside a container that is the container itself, so
 * the agent would never reach this server. `undefined` when nothing is wrong.
 *
 * @example
 * loopbackWarning({ target: "standalone", apiUrl: "https://localhost:9443", tunnelAddress: "localhost:8000" });
 * // "A container cannot reach localhost: …"
 */
export function loopbackWarning({ target, apiUrl, tunnelAddress }: { target: AgentTarget; apiUrl: string; tunnelAddress: string }): string | undefined {
  if (target === "linux") return undefined;
  const loopback = [hostOf(apiUrl, true), hostOf(tunnelAddress, false)].filter((host): host is string => host !== undefined && isLoopbackHost(host));
  if (loopback.length === 0) return undefined;
  return i18n.t("environments:agent.loopback", { hosts: joinList([...new Set(loopback)]) });
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
 * The shell commands an operator runs on the device, in order (each has its own Copy button).
 *
 * @example
 * agentCommands({ target: "linux", edgeId: "edge-1", edgeKey: "aHR0…", flow: "built-in" });
 * // ["EDGE=1 EDGE_ID=edge-1 EDGE_KEY=aHR0… EDGE_INSECURE_POLL=0 pier agent --data ./pier-agent-data"]
 */
export function agentCommands({ target, edgeId, edgeKey, flow, image = defaultAgentImage }: AgentCommandInput): string[] {
  const mtls = flow === "operator";
  const id = shellWord(edgeId);
  const key = shellWord(edgeKey);
  const env = `-e EDGE=1 -e EDGE_ID=${id} -e EDGE_KEY=${key} -e EDGE_INSECURE_POLL=0`;
  switch (target) {
    case "linux":
      return [`EDGE=1 EDGE_ID=${id} EDGE_KEY=${key} EDGE_INSECURE_POLL=0 pier agent --data ./pier-agent-data${mtls ? ` ${mtlsFlags("/etc/pier/mtls", certFiles)}` : ""}`];
    case "standalone":
      return [
        [
          "docker run -d --name pier-agent --restart always -v /var/run/docker.sock:/var/run/docker.sock -v pier-agent-data:/data",
          ...(mtls ? ["-v /path/to/certs:/certs:ro"] : []),
          env,
          image,
          ...(mtls ? [mtlsFlags("/certs", certFiles)] : []),
        ].join(" "),
      ];
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
          image,
          ...(mtls ? [mtlsFlags("/run/secrets", swarmSecrets)] : []),
        ].join(" "),
      ];
    case "kubernetes": {
      const { repository, tag } = imageParts(image);
      const imageValues = image === defaultAgentImage ? "" : ` --set image.repository=${repository} --set image.tag=${tag}`;
      // Helm fetches the chart this server packages from the API URL in the key, trusting what the
      // agent will: the operator's files, else the CA Certificates → Download CA certificate saves.
      const chart = shellWord(new URL(agentChartPath, decodeEdgeKey(edgeKey).apiUrl).href);
      const trust = mtls ? "--ca-file ./ca.crt --cert-file ./agent.crt --key-file ./agent.key" : "--ca-file ./pier-ca.pem";
      return [
        ...(mtls ? ["kubectl create secret generic pier-agent-mtls --from-file=ca.crt=./ca.crt --from-file=agent.crt=./agent.crt --from-file=agent.key=./agent.key"] : []),
        `helm install pier-agent ${chart} ${trust} --set edge.id=${id} --set edge.key=${key}${mtls ? " --set mtls.existingSecret=pier-agent-mtls" : ""}${imageValues}`,
      ];
    }
  }
}

/**
 * The commands of `agentCommands` as one text, a command a line.
 *
 * @example
 * agentCommand({ target: "linux", edgeId: "edge-1", edgeKey: "aHR0…", flow: "built-in" });
 * // "EDGE=1 EDGE_ID=edge-1 EDGE_KEY=aHR0… EDGE_INSECURE_POLL=0 pier agent --data ./pier-agent-data"
 */
export function agentCommand(input: AgentCommandInput): string {
  return agentCommands(input).join("\n");
}

/** A fresh Edge ID for a new device (the operator may type their own). */
export function randomEdgeId(): string {
  return crypto.randomUUID();
}
