import { describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { ensureHelm } from "../../../scripts/ensure-helm.ts";
import type { RunResult } from "../src/index.ts";

// The real helm (unpacked from a dev dependency), rendering the charts as an install would.
const helm = ensureHelm();
const root = join(import.meta.dirname, "..", "..", "..");
const serverChart = join(root, "deploy", "helm", "pier-server");
const agentChart = join(root, "deploy", "helm", "pier-agent");
const agentValues = ["edge.id=edge-1", "edge.key=c2VjcmV0LWVkZ2Uta2V5"];

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } };
}
interface Probe {
  httpGet?: { path: string; port: number | string; scheme: string };
  tcpSocket?: { port: number | string };
}
interface Container {
  image: string;
  imagePullPolicy: string;
  args?: string[];
  env?: EnvVar[];
  ports?: { name: string; containerPort: number }[];
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  securityContext: { runAsNonRoot: boolean; runAsUser: number; runAsGroup: number; readOnlyRootFilesystem: boolean; allowPrivilegeEscalation: boolean; capabilities: { drop: string[] } };
}
interface Volume {
  name: string;
  persistentVolumeClaim?: { claimName: string };
  emptyDir?: { medium?: string; sizeLimit?: string };
  secret?: { secretName: string; defaultMode: number; items: { key: string; path: string }[] };
}
interface Manifest {
  kind: string;
  metadata: { name: string; labels: Record<string, string>; annotations?: Record<string, string> };
}
interface AffinityTerm {
  topologyKey: string;
  labelSelector: { matchLabels: Record<string, string> };
}
interface Affinity {
  podAntiAffinity?: {
    preferredDuringSchedulingIgnoredDuringExecution?: { weight: number; podAffinityTerm: AffinityTerm }[];
    requiredDuringSchedulingIgnoredDuringExecution?: AffinityTerm[];
  };
  nodeAffinity?: object;
}
interface Deployment extends Manifest {
  spec: {
    replicas: number;
    strategy: { type: string; rollingUpdate?: { maxSurge: number; maxUnavailable: number } };
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: { affinity?: Affinity; initContainers?: (Container & { command: string[] })[]; serviceAccountName?: string; automountServiceAccountToken?: boolean; securityContext: { runAsNonRoot: boolean; runAsUser: number; runAsGroup: number; fsGroup: number }; containers: Container[]; volumes: Volume[] } };
  };
}
interface Service extends Manifest {
  spec: { type: string; ports: { name: string; port: number; targetPort: string; nodePort?: number }[] };
}
interface Claim extends Manifest {
  spec: { accessModes: string[]; resources: { requests: { storage: string } }; storageClassName?: string };
}
interface Secret extends Manifest {
  data: Record<string, string>;
}
interface DisruptionBudget extends Manifest {
  spec: { minAvailable: number; selector: { matchLabels: Record<string, string> } };
}

/** Runs helm to completion; asynchronous so the concurrent tests' renders overlap. */
function helmRun(args: readonly string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(helm, args, { timeout: 20_000, encoding: "utf8" }, (error, stdout, stderr) => {
      if (error && typeof error.code !== "number") reject(new Error(`helm did not run: ${error.message}`, { cause: error }));
      else resolve({ status: error ? Number(error.code) : 0, stdout, stderr, output: stdout + stderr });
    });
  });
}

function template(chart: string, values: readonly string[]): Promise<RunResult> {
  return helmRun(["template", "pier", chart, ...values.flatMap((value) => ["--set", value])]);
}

/** The manifests `helm template` renders (YAML 1.1, as the API server reads `0440`), the text of each kept for leak checks. */
async function render(chart: string, values: readonly string[] = []): Promise<{ manifests: Manifest[]; texts: Map<Manifest, string> }> {
  const result = await template(chart, values);
  if (result.status !== 0) throw new Error(`helm template ${chart} failed:\n${result.output}`);
  const texts = new Map<Manifest, string>();
  for (const document of parseAllDocuments(result.stdout, { version: "1.1" })) {
    const manifest = document.toJS() as Manifest | null;
    if (manifest) texts.set(manifest, document.toString());
  }
  return { manifests: [...texts.keys()], texts };
}

function only<T extends Manifest>(manifests: readonly Manifest[], kind: string): T {
  const found = manifests.filter((manifest) => manifest.kind === kind);
  expect(found, `exactly one ${kind}`).toHaveLength(1);
  return found[0] as T;
}

function container(deployment: Deployment): Container {
  expect(deployment.spec.template.spec.containers).toHaveLength(1);
  return deployment.spec.template.spec.containers[0] as Container;
}

/** The value following `flag` in the container's args. */
function argument(args: readonly string[] | undefined, flag: string): string | undefined {
  const index = (args ?? []).indexOf(flag);
  return index < 0 ? undefined : args?.[index + 1];
}

/** Asserts each flag names the file that the Secret volume puts under its mount for the given key. */
function expectFlagsNameSecretFiles(deployment: Deployment, volumeName: string, flagToKey: Record<string, string>): void {
  const volume = deployment.spec.template.spec.volumes.find((v) => v.name === volumeName);
  const mount = container(deployment).volumeMounts.find((m) => m.name === volumeName);
  expect(volume?.secret?.defaultMode).toBe(0o440);
  expect(mount?.readOnly).toBe(true);
  for (const [flag, key] of Object.entries(flagToKey)) {
    const item = volume?.secret?.items.find((i) => i.key === key);
    expect(item, `secret item for key ${key}`).toBeDefined();
    expect(argument(container(deployment).args, flag)).toBe(`${mount?.mountPath}/${item?.path}`);
  }
}

function expectHardenedPod(deployment: Deployment): void {
  expect(deployment.spec.replicas).toBe(1);
  expect(deployment.spec.strategy.type).toBe("Recreate");
  expect(deployment.spec.template.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001 });
  expect(container(deployment).securityContext).toEqual({ runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
}

/** Asserts /data is the given claim (or an emptyDir when undefined), and the claims rendered. */
function expectData(manifests: readonly Manifest[], claimName: string | undefined): void {
  const deployment = only<Deployment>(manifests, "Deployment");
  expect(argument(container(deployment).args, "--data")).toBe("/data");
  expect(container(deployment).volumeMounts).toContainEqual({ name: "data", mountPath: "/data" });
  const data = deployment.spec.template.spec.volumes.find((v) => v.name === "data");
  if (claimName === undefined) expect(data).toEqual({ name: "data", emptyDir: {} });
  else expect(data?.persistentVolumeClaim?.claimName).toBe(claimName);
}

async function expectFails(chart: string, values: readonly string[], message: string): Promise<void> {
  const result = await template(chart, values);
  expect(result.status, result.output).not.toBe(0);
  expect(result.stderr).toContain(message);
}

describe.concurrent("the pier-server Helm chart", () => {
  it("passes helm lint --strict, alone and with every Secret set", async () => {
    for (const values of [[], ["mtls.existingSecret=m", "tls.existingSecret=t", "tls.existingCaSecret=c", "service.type=LoadBalancer"]]) {
      const result = await helmRun(["lint", "--strict", serverChart, ...values.flatMap((value) => ["--set", value])]);
      expect(result.status, result.output).toBe(0);
      expect(result.stdout).toContain("1 chart(s) linted, 0 chart(s) failed");
    }
  });

  it("passes the mounted mTLS Secret of the seeds' layout as --mtlscacert, --mtlscert and --mtlskey", async () => {
    const deployment = only<Deployment>((await render(serverChart, ["mtls.existingSecret=portainer-mtls-certs-secret"])).manifests, "Deployment");
    expect(deployment.spec.template.spec.volumes.find((v) => v.name === "mtls")?.secret?.secretName).toBe("portainer-mtls-certs-secret");
    expectFlagsNameSecretFiles(deployment, "mtls", { "--mtlscacert": "mtlsca.crt", "--mtlscert": "mtlscert.crt", "--mtlskey": "mtlskey.key" });
    expect(argument(container(deployment).args, "--mtlscacert")).toBe("/certs/mtls/mtlsca.crt");

    const plain = only<Deployment>((await render(serverChart)).manifests, "Deployment");
    expect(container(plain).args).toEqual(["--data", "/data"]);
    expect(plain.spec.template.spec.volumes.map((v) => v.name)).toEqual(["data", "tmp"]);
  });

  it("passes a kubernetes.io/tls Secret as --sslcert/--sslkey, and extraArgs last", async () => {
    const deployment = only<Deployment>((await render(serverChart, ["tls.existingSecret=pier-tls", "extraArgs={--log-level,debug}"])).manifests, "Deployment");
    expectFlagsNameSecretFiles(deployment, "tls", { "--sslcert": "tls.crt", "--sslkey": "tls.key" });
    expect(container(deployment).args?.slice(-2)).toEqual(["--log-level", "debug"]);
    expect(argument(container(deployment).args, "--sslcacert")).toBeUndefined();
  });

  it("passes the public edge addresses for new edge keys, the way NodePort needs them", async () => {
    const deployment = only<Deployment>((await render(serverChart, ["edgeAddresses.apiUrl=https://pier.example.com:30779", "edgeAddresses.tunnelAddress=pier.example.com:30776"])).manifests, "Deployment");
    expect(argument(container(deployment).args, "--edge-api-url")).toBe("https://pier.example.com:30779");
    expect(argument(container(deployment).args, "--edge-tunnel-address")).toBe("pier.example.com:30776");
  });

  it("exposes 9443 (https) and 8000 (edge) on node ports 30779 and 30776 by default", async () => {
    const { manifests } = await render(serverChart);
    const service = only<Service>(manifests, "Service");
    expect(service.spec.type).toBe("NodePort");
    expect(service.spec.ports).toEqual([
      { name: "https", port: 9443, targetPort: "https", protocol: "TCP", nodePort: 30779 },
      { name: "edge", port: 8000, targetPort: "edge", protocol: "TCP", nodePort: 30776 },
    ]);
    expect(container(only<Deployment>(manifests, "Deployment")).ports?.map((p) => [p.name, p.containerPort])).toEqual([["https", 9443], ["edge", 8000]]);
    expect(only<Service>((await render(serverChart, ["service.httpsNodePort=31000", "service.edgeNodePort=null"])).manifests, "Service").spec.ports.map((p) => p.nodePort)).toEqual([31000, undefined]);
  });

  it("sets PIER_PROXY_PROTOCOL_FROM from proxyProtocolFrom, and only when it is set", async () => {
    const proxyEnv = (deployment: Deployment) => container(deployment).env?.filter((variable) => variable.name === "PIER_PROXY_PROTOCOL_FROM") ?? [];
    const plain = only<Deployment>((await render(serverChart)).manifests, "Deployment");
    expect(proxyEnv(plain)).toEqual([]);
    const clustered = only<Deployment>((await render(serverChart, ["replicaCount=2", "database.url=postgres://pier@db/pier"])).manifests, "Deployment");
    expect(container(clustered).env?.length).toBeGreaterThan(0);
    expect(proxyEnv(clustered)).toEqual([]);
    const balanced = only<Deployment>((await render(serverChart, ["service.type=LoadBalancer", "proxyProtocolFrom=10.0.0.0/16\\,192.168.7.7"])).manifests, "Deployment");
    expect(proxyEnv(balanced)).toEqual([{ name: "PIER_PROXY_PROTOCOL_FROM", value: "10.0.0.0/16,192.168.7.7" }]);
  });

  it("renders LoadBalancer and ClusterIP services without node ports, and refuses other types", async () => {
    for (const type of ["LoadBalancer", "ClusterIP"]) {
      const service = only<Service>((await render(serverChart, [`service.type=${type}`])).manifests, "Service");
      expect(service.spec.type).toBe(type);
      expect(service.spec.ports.map((p) => [p.name, p.port, p.nodePort])).toEqual([["https", 9443, undefined], ["edge", 8000, undefined]]);
    }
    await expectFails(serverChart, ["service.type=Ingress"], 'service.type must be NodePort, LoadBalancer or ClusterIP, got "Ingress"');
  });

  it("keeps /data on a 10Gi claim, an existing claim, or (disabled) an emptyDir", async () => {
    const { manifests } = await render(serverChart);
    const claim = only<Claim>(manifests, "PersistentVolumeClaim");
    expect(claim.metadata.name).toBe("pier-pier-server-data");
    expect(claim.spec).toEqual({ accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "10Gi" } } });
    expectData(manifests, claim.metadata.name);

    expect(only<Claim>((await render(serverChart, ["persistence.storageClass=fast", "persistence.size=20Gi"])).manifests, "PersistentVolumeClaim").spec).toMatchObject({ storageClassName: "fast", resources: { requests: { storage: "20Gi" } } });
    const existing = (await render(serverChart, ["persistence.existingClaim=pier-data-old"])).manifests;
    expect(existing.filter((m) => m.kind === "PersistentVolumeClaim")).toEqual([]);
    expectData(existing, "pier-data-old");
    const disabled = (await render(serverChart, ["persistence.enabled=false"])).manifests;
    expect(disabled.filter((m) => m.kind === "PersistentVolumeClaim")).toEqual([]);
    expectData(disabled, undefined);
  });

  it("probes GET /api/system/status over HTTPS on 9443, or only the port when every client needs a certificate", async () => {
    const probed = container(only<Deployment>((await render(serverChart, ["mtls.existingSecret=m"])).manifests, "Deployment"));
    for (const probe of [probed.startupProbe, probed.readinessProbe, probed.livenessProbe]) {
      expect(probe?.httpGet).toEqual({ path: "/api/system/status", port: 9443, scheme: "HTTPS" });
      expect(probe?.tcpSocket).toBeUndefined();
    }

    const blog = container(only<Deployment>((await render(serverChart, ["tls.existingCaSecret=clients-ca"])).manifests, "Deployment"));
    expect(argument(blog.args, "--sslcacert")).toBe("/certs/client-ca/ca.crt");
    for (const probe of [blog.startupProbe, blog.readinessProbe, blog.livenessProbe]) {
      expect(probe).toMatchObject({ tcpSocket: { port: 9443 } });
      expect(probe?.httpGet).toBeUndefined();
    }
    expect(container(only<Deployment>((await render(serverChart, ["probes.type=tcpSocket"])).manifests, "Deployment")).readinessProbe?.tcpSocket).toEqual({ port: 9443 });
    await expectFails(serverChart, ["probes.type=exec"], 'probes.type must be httpGet or tcpSocket, got "exec"');
  });

  it("runs pier-server:latest as uid 10001 with a read-only root, no capabilities, one replica recreated", async () => {
    const { manifests } = await render(serverChart);
    const deployment = only<Deployment>(manifests, "Deployment");
    expectHardenedPod(deployment);
    expect(container(deployment)).toMatchObject({ image: "pier-server:latest", imagePullPolicy: "IfNotPresent", resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "512Mi" } } });
    expect(container(only<Deployment>((await render(serverChart, ["image.tag=0.1.0"])).manifests, "Deployment")).image).toBe("pier-server:0.1.0");
    for (const manifest of manifests) {
      expect(manifest.metadata.labels).toMatchObject({ "app.kubernetes.io/name": "pier-server", "app.kubernetes.io/instance": "pier", "app.kubernetes.io/version": "0.1.0", "app.kubernetes.io/managed-by": "Helm" });
    }
  });

  const databaseUrl = "postgres://pier:s3cret-pw@db.example.com:5432/pier";
  const replicated = ["replicaCount=3", `database.url=${databaseUrl}`];

  it("passes helm lint --strict with three replicas on PostgreSQL", async () => {
    for (const values of [replicated, ["replicaCount=3", "database.existingSecret=pier-db", "secretFile.existingSecret=pier-secret-file", "podAntiAffinity=hard"]]) {
      const result = await helmRun(["lint", "--strict", serverChart, ...values.flatMap((value) => ["--set", value])]);
      expect(result.status, result.output).toBe(0);
      expect(result.stdout).toContain("1 chart(s) linted, 0 chart(s) failed");
    }
  });

  it("refuses several replicas without PostgreSQL, and database settings it cannot use, saying what to set", async () => {
    // Precondition: the same value with a database renders.
    expect(only<Deployment>((await render(serverChart, replicated)).manifests, "Deployment").spec.replicas).toBe(3);
    await expectFails(serverChart, ["replicaCount=3"], "replicaCount 3 needs PostgreSQL: set database.url (or database.existingSecret, a Secret holding the URL under key database-url); replicas cannot share the SQLite database in /data");
    await expectFails(serverChart, ["replicaCount=0"], "replicaCount must be at least 1, got 0");
    await expectFails(serverChart, [...replicated, "database.existingSecret=pier-db"], "set database.url or database.existingSecret, not both");
    await expectFails(serverChart, ["replicaCount=2", "database.url=mysql://db/pier"], "database.url must be a postgres:// or postgresql:// URL");
    await expectFails(serverChart, [...replicated, "podAntiAffinity=always"], 'podAntiAffinity must be soft, hard or empty, got "always"');
    await expectFails(serverChart, [...replicated, "peer.port=8000"], "peer.port must be a free TCP port other than 9443 and 8000, got 8000");
  });

  it("runs replicaCount 3 on PostgreSQL: the URL from a Secret, the secret file mounted 0400, the peer address from the pod IP, rolling updates, /data a cache", async () => {
    const { manifests, texts } = await render(serverChart, replicated);
    const deployment = only<Deployment>(manifests, "Deployment");
    const server = container(deployment);
    expect(deployment.spec.replicas).toBe(3);
    expect(deployment.spec.strategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });

    // PIER_DATABASE_URL comes from the chart's Secret, and the URL appears in no other manifest.
    const env = server.env ?? [];
    const databaseRef = env.find((e) => e.name === "PIER_DATABASE_URL")?.valueFrom?.secretKeyRef;
    const secrets = manifests.filter((m): m is Secret => m.kind === "Secret");
    const databaseSecret = secrets.find((secret) => secret.metadata.name === databaseRef?.name);
    expect(databaseRef).toEqual({ name: "pier-pier-server-database", key: "database-url" });
    expect(Buffer.from(databaseSecret?.data["database-url"] ?? "", "base64").toString()).toBe(databaseUrl);
    for (const manifest of manifests) expect(texts.get(manifest)).not.toContain("s3cret-pw");

    // PIER_SECRET_FILE names an owner-only copy of the generated Secret's file: fsGroup makes a
    // Secret's files group-readable, which the server refuses, so an init container running as
    // the same uid copies it at 0400 into a memory-backed emptyDir the server mounts read-only.
    // The Secret outlives an uninstall, since the cluster's encrypted files need it.
    const secretFile = env.find((e) => e.name === "PIER_SECRET_FILE")?.value;
    const volumes = deployment.spec.template.spec.volumes;
    const source = volumes.find((v) => v.name === "secret-file-source");
    expect(source?.secret).toEqual({ secretName: "pier-pier-server-secret-file", defaultMode: 0o400, items: [{ key: "secret", path: "secret" }] });
    expect(volumes.find((v) => v.name === "secret-file")?.emptyDir).toEqual({ medium: "Memory", sizeLimit: "1Mi" });
    expect(server.volumeMounts.find((m) => m.name === "secret-file")).toEqual({ name: "secret-file", mountPath: "/run/pier/secret-file", readOnly: true });
    expect(server.volumeMounts.find((m) => m.name === "secret-file-source")).toBeUndefined();
    expect(secretFile).toBe("/run/pier/secret-file/secret");
    const [copier, ...otherInits] = deployment.spec.template.spec.initContainers ?? [];
    expect(otherInits).toEqual([]);
    expect(copier?.image).toBe(server.image);
    expect(copier?.securityContext).toEqual(server.securityContext);
    expect(copier?.volumeMounts).toEqual([{ name: "secret-file-source", mountPath: "/run/pier/secret-file-source", readOnly: true }, { name: "secret-file", mountPath: "/run/pier/secret-file" }]);
    expect(copier?.command.slice(-2)).toEqual(["/run/pier/secret-file-source/secret", secretFile]);
    expect(copier?.command[2]).toContain("mode: 0o400");
    const generated = secrets.find((secret) => secret.metadata.name === source?.secret?.secretName);
    expect(generated?.metadata.annotations?.["helm.sh/resource-policy"]).toBe("keep");
    expect(Buffer.from(generated?.data["secret"] ?? "", "base64").toString()).toMatch(/^[A-Za-z0-9]{64}$/);

    // Other replicas dial the pod's own IP on the peer port, which the pod declares and binds.
    const names = env.map((e) => e.name);
    expect(env.find((e) => e.name === "POD_IP")?.valueFrom?.fieldRef).toEqual({ fieldPath: "status.podIP" });
    expect(env.find((e) => e.name === "PIER_PEER_ADDRESS")?.value).toBe("$(POD_IP):9445");
    expect(names.indexOf("POD_IP")).toBeLessThan(names.indexOf("PIER_PEER_ADDRESS")); // $(VAR) expands only earlier variables
    expect(argument(server.args, "--peer-bind")).toBe("0.0.0.0:9445");
    expect(server.ports?.map((p) => [p.name, p.containerPort])).toEqual([["https", 9443], ["edge", 8000], ["peer", 9445]]);
    expect(only<Service>(manifests, "Service").spec.ports.map((p) => p.name)).toEqual(["https", "edge"]);

    // /data is a cache of the database: an emptyDir per pod, no ReadWriteOnce claim to share.
    expect(manifests.filter((m) => m.kind === "PersistentVolumeClaim")).toEqual([]);
    expectData(manifests, undefined);
    expectFlagsNameSecretFiles(only<Deployment>((await render(serverChart, [...replicated, "mtls.existingSecret=m"])).manifests, "Deployment"), "mtls", { "--mtlscacert": "mtlsca.crt" });
  });

  it("keeps at least one replica through disruptions and spreads the replicas over nodes", async () => {
    const { manifests } = await render(serverChart, replicated);
    const deployment = only<Deployment>(manifests, "Deployment");
    const budget = only<DisruptionBudget>(manifests, "PodDisruptionBudget");
    expect(budget.spec.minAvailable).toBe(1);
    expect(budget.spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    expect(deployment.spec.template.metadata.labels).toMatchObject(budget.spec.selector.matchLabels);
    expect(deployment.spec.template.spec.affinity).toEqual({
      podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: deployment.spec.selector.matchLabels } } }] },
    });

    const hard = only<Deployment>((await render(serverChart, [...replicated, "podAntiAffinity=hard"])).manifests, "Deployment").spec.template.spec.affinity;
    expect(hard?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution).toEqual([{ topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: deployment.spec.selector.matchLabels } }]);
    const own = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: "zone", operator: "In", values: ["a"] }] }] } } };
    const custom = (await render(serverChart, [...replicated, `affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=zone`, "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=In", "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values={a}"])).manifests;
    expect(only<Deployment>(custom, "Deployment").spec.template.spec.affinity).toEqual(own);
    expect(only<DisruptionBudget>((await render(serverChart, [...replicated, "podDisruptionBudget.minAvailable=2"])).manifests, "PodDisruptionBudget").spec.minAvailable).toBe(2);
    expect((await render(serverChart, [...replicated, "podDisruptionBudget.enabled=false"])).manifests.filter((m) => m.kind === "PodDisruptionBudget")).toEqual([]);
  });

  it("takes the database URL and the secret file from existing Secrets, and renders no Secret of its own then", async () => {
    const { manifests } = await render(serverChart, ["replicaCount=2", "database.existingSecret=pier-db", "database.existingSecretKey=url", "secretFile.existingSecret=pier-secret-file", "secretFile.existingSecretKey=key", "peer.port=7445"]);
    expect(manifests.filter((m) => m.kind === "Secret")).toEqual([]);
    const deployment = only<Deployment>(manifests, "Deployment");
    const env = container(deployment).env ?? [];
    expect(env.find((e) => e.name === "PIER_DATABASE_URL")?.valueFrom?.secretKeyRef).toEqual({ name: "pier-db", key: "url" });
    expect(deployment.spec.template.spec.volumes.find((v) => v.name === "secret-file-source")?.secret).toEqual({ secretName: "pier-secret-file", defaultMode: 0o400, items: [{ key: "key", path: "key" }] });
    expect(deployment.spec.template.spec.initContainers?.[0]?.command.slice(-2)).toEqual(["/run/pier/secret-file-source/key", "/run/pier/secret-file/secret"]);
    expect(env.find((e) => e.name === "PIER_SECRET_FILE")?.value).toBe("/run/pier/secret-file/secret");
    expect(env.find((e) => e.name === "PIER_PEER_ADDRESS")?.value).toBe("$(POD_IP):7445");
    expect(argument(container(deployment).args, "--peer-bind")).toBe("0.0.0.0:7445");
    expect(only<DisruptionBudget>(manifests, "PodDisruptionBudget").spec.minAvailable).toBe(1);
  });

  it("creates the first administrator from a password Secret (--admin-password-file), which replicas need since each pod's setup token works only there", async () => {
    const plain = container(only<Deployment>((await render(serverChart, replicated)).manifests, "Deployment"));
    expect(argument(plain.args, "--admin-password-file")).toBeUndefined();
    const deployment = only<Deployment>((await render(serverChart, [...replicated, "adminPassword.existingSecret=pier-admin"])).manifests, "Deployment");
    expect(deployment.spec.template.spec.volumes.find((v) => v.name === "admin-password")?.secret).toEqual({ secretName: "pier-admin", defaultMode: 0o440, items: [{ key: "password", path: "password" }] });
    expectFlagsNameSecretFiles(deployment, "admin-password", { "--admin-password-file": "password" });
    expect(argument(container(deployment).args, "--admin-password-file")).toBe("/run/pier/admin-password/password");
  });

  it("keeps one SQLite replica as it was (claim, Recreate, no budget, no peer port), and one PostgreSQL replica rolling without a budget", async () => {
    const { manifests } = await render(serverChart);
    expect(manifests.map((m) => m.kind).sort()).toEqual(["Deployment", "PersistentVolumeClaim", "Service"]);
    const single = only<Deployment>(manifests, "Deployment");
    expect(single.spec.strategy).toEqual({ type: "Recreate" });
    expect(single.spec.template.spec.affinity).toBeUndefined();
    expect(container(single).env).toBeUndefined();
    expect(container(single).ports?.map((p) => p.name)).toEqual(["https", "edge"]);
    expect(argument(container(single).args, "--peer-bind")).toBeUndefined();
    expect(single.spec.template.spec.initContainers).toBeUndefined();

    const one = (await render(serverChart, [`database.url=${databaseUrl}`])).manifests;
    expect(one.map((m) => m.kind).sort()).toEqual(["Deployment", "Secret", "Secret", "Service"]);
    const deployment = only<Deployment>(one, "Deployment");
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy.type).toBe("RollingUpdate");
    expect(deployment.spec.template.spec.affinity).toBeUndefined();
    expect(container(deployment).env?.map((e) => e.name)).toEqual(["PIER_DATABASE_URL", "PIER_SECRET_FILE", "POD_IP", "PIER_PEER_ADDRESS"]);
  });
});

describe.concurrent("the pier-agent Helm chart", () => {
  it("passes helm lint --strict with the required values", async () => {
    for (const values of [agentValues, [...agentValues, "mtls.existingSecret=pier-agent-mtls", "persistence.enabled=false"]]) {
      const result = await helmRun(["lint", "--strict", agentChart, ...values.flatMap((value) => ["--set", value])]);
      expect(result.status, result.output).toBe(0);
      expect(result.stdout).toContain("1 chart(s) linted, 0 chart(s) failed");
    }
  });

  it("is the chart the web UI's Kubernetes command installs, with the values it sets", () => {
    // packages/ui/src/agent-command.ts prints these lines; the chart must keep accepting them.
    const ui = readFileSync(join(root, "packages", "ui", "src", "agent-command.ts"), "utf8");
    expect(ui).toContain("kubectl create secret generic pier-agent-mtls --from-file=ca.crt=./ca.crt --from-file=agent.crt=./agent.crt --from-file=agent.key=./agent.key");
    // The chart by the URL the server serves it at (agent-chart.test.ts installs it from there).
    expect(ui).toContain("helm install pier-agent ${chart} ${trust} --set edge.id=${id} --set edge.key=${key}");
    expect(ui).toContain('" --set mtls.existingSecret=pier-agent-mtls"');
    expect(existsSync(join(root, "deploy", "helm", "pier-agent", "Chart.yaml"))).toBe(true);
  });

  it("sets EDGE=1, EDGE_ID and EDGE_INSECURE_POLL=0, and EDGE_KEY only from a Secret", async () => {
    const { manifests, texts } = await render(agentChart, agentValues);
    const deployment = only<Deployment>(manifests, "Deployment");
    const env = container(deployment).env ?? [];
    expect(env.find((e) => e.name === "EDGE")).toEqual({ name: "EDGE", value: "1" });
    expect(env.find((e) => e.name === "EDGE_ID")).toEqual({ name: "EDGE_ID", value: "edge-1" });
    expect(env.find((e) => e.name === "EDGE_INSECURE_POLL")).toEqual({ name: "EDGE_INSECURE_POLL", value: "0" });
    expect(env.map((e) => e.name)).not.toContain("EDGE_GROUPS");
    const edgeKey = env.find((e) => e.name === "EDGE_KEY");
    expect(edgeKey?.value).toBeUndefined();
    const secret = only<Secret>(manifests, "Secret");
    expect(edgeKey?.valueFrom?.secretKeyRef).toEqual({ name: secret.metadata.name, key: "edge-key" });
    expect(Buffer.from(secret.data["edge-key"] ?? "", "base64").toString()).toBe("c2VjcmV0LWVkZ2Uta2V5");
    for (const manifest of manifests) expect(texts.get(manifest)).not.toContain("c2VjcmV0LWVkZ2Uta2V5");

    const own = (await render(agentChart, ["edge.id=edge-1", "edge.existingSecret=my-edge-key"])).manifests;
    expect(own.filter((m) => m.kind === "Secret")).toEqual([]);
    expect(container(only<Deployment>(own, "Deployment")).env?.find((e) => e.name === "EDGE_KEY")?.valueFrom?.secretKeyRef).toEqual({ name: "my-edge-key", key: "edge-key" });
  });

  it("passes edge.insecurePoll and edge.groups through", async () => {
    const env = container(only<Deployment>((await render(agentChart, [...agentValues, "edge.insecurePoll=true", "edge.groups={factory,eu}"])).manifests, "Deployment")).env ?? [];
    expect(env.find((e) => e.name === "EDGE_INSECURE_POLL")?.value).toBe("1");
    expect(env.find((e) => e.name === "EDGE_GROUPS")?.value).toBe("factory,eu");
  });

  it("refuses to render without edge.id or edge.key, or with an Edge ID the agent would refuse, saying what to set", async () => {
    await expectFails(agentChart, [], "edge.id is required: this device's unique id");
    await expectFails(agentChart, ["edge.key=k"], "edge.id is required: this device's unique id");
    await expectFails(agentChart, ["edge.id=edge-1"], "edge.key is required: the edge key from the Pier UI");
    await expectFails(agentChart, ["edge.id=edge 1", "edge.key=k"], 'edge.id "edge 1" may hold only up to 128 letters, digits and . _ : @ - characters');
  });

  it("passes the mounted mTLS Secret as --mtlscacert, --mtlscert and --mtlskey, with configurable key names", async () => {
    const deployment = only<Deployment>((await render(agentChart, [...agentValues, "mtls.existingSecret=pier-agent-mtls"])).manifests, "Deployment");
    expect(deployment.spec.template.spec.volumes.find((v) => v.name === "mtls")?.secret?.secretName).toBe("pier-agent-mtls");
    expectFlagsNameSecretFiles(deployment, "mtls", { "--mtlscacert": "ca.crt", "--mtlscert": "agent.crt", "--mtlskey": "agent.key" });
    expect(container(deployment).args).toEqual(["--data", "/data", "--mtlscacert", "/certs/mtls/ca.crt", "--mtlscert", "/certs/mtls/agent.crt", "--mtlskey", "/certs/mtls/agent.key"]);

    const renamed = only<Deployment>((await render(agentChart, [...agentValues, "mtls.existingSecret=s", "mtls.caKey=root.pem", "mtls.certKey=tls.crt", "mtls.keyKey=tls.key"])).manifests, "Deployment");
    expectFlagsNameSecretFiles(renamed, "mtls", { "--mtlscacert": "root.pem", "--mtlscert": "tls.crt", "--mtlskey": "tls.key" });

    const plain = only<Deployment>((await render(agentChart, agentValues)).manifests, "Deployment");
    expect(container(plain).args).toEqual(["--data", "/data"]);
    expect(plain.spec.template.spec.volumes.map((v) => v.name)).toEqual(["data", "tmp"]);
  });

  it("keeps /data on a 1Gi claim, an existing claim, or (disabled) an emptyDir", async () => {
    const { manifests } = await render(agentChart, agentValues);
    const claim = only<Claim>(manifests, "PersistentVolumeClaim");
    expect(claim.spec.resources.requests.storage).toBe("1Gi");
    expectData(manifests, claim.metadata.name);
    const existing = (await render(agentChart, [...agentValues, "persistence.existingClaim=agent-data"])).manifests;
    expect(existing.filter((m) => m.kind === "PersistentVolumeClaim")).toEqual([]);
    expectData(existing, "agent-data");
    const disabled = (await render(agentChart, [...agentValues, "persistence.enabled=false"])).manifests;
    expect(disabled.filter((m) => m.kind === "PersistentVolumeClaim")).toEqual([]);
    expectData(disabled, undefined);
  });

  it("runs pier-agent:latest as uid 10001, hardened, with its own ServiceAccount, no token and no Service", async () => {
    const { manifests } = await render(agentChart, agentValues);
    expect(manifests.map((m) => m.kind).sort()).toEqual(["Deployment", "PersistentVolumeClaim", "Secret", "ServiceAccount"]);
    const deployment = only<Deployment>(manifests, "Deployment");
    expectHardenedPod(deployment);
    expect(container(deployment)).toMatchObject({ image: "pier-agent:latest", imagePullPolicy: "IfNotPresent", resources: { requests: { cpu: "20m", memory: "48Mi" }, limits: { memory: "128Mi" } } });
    expect(container(deployment).ports).toBeUndefined();
    const account = only<Manifest & { automountServiceAccountToken: boolean }>(manifests, "ServiceAccount");
    expect(account.automountServiceAccountToken).toBe(false);
    expect(deployment.spec.template.spec).toMatchObject({ serviceAccountName: account.metadata.name, automountServiceAccountToken: false });
  });
});
