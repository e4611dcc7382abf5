import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { CertificateAuthority, parseSanList } from "@pier/pki";
import { ensureHelm } from "../../../scripts/ensure-helm.ts";
import { PierApi, run, startPierServer, tempDir, type PierServer, type TempDir } from "../src/index.ts";

/**
 * The Kubernetes command of Add environment as pasted (docs/deploy.md "Kubernetes"): Helm takes
 * the chart the server packages at /charts/, over TLS with the CA file the command names, from
 * a real `pier server`; `helm template` stands for `helm install`, which needs a cluster.
 */
const helm = ensureHelm();
/**
 * The UI's own command builder (packages/ui/src/agent-command.ts), loaded at run time: the UI's
 * modules are type-checked by their own project (browser globals), not this one.
 */
const uiCommands = "@pier/ui/agent-command";
const { agentCommands } = (await import(/* @vite-ignore */ uiCommands)) as {
  agentCommands: (input: { target: "kubernetes"; edgeId: string; edgeKey: string; flow: "built-in" | "operator" }) => string[];
};
let dir: TempDir;
/** The first-run default: the built-in CA issues the HTTPS certificate. */
let server: PierServer;
/** The blog's whole-listener mTLS (--sslcacert): every client shows a certificate of the operator's CA. */
let blog: PierServer;
/** The operator's files, where the operator runs the commands: ca.crt, agent.crt, agent.key. */
let operatorFiles: string;

interface Manifest {
  kind: string;
  data?: Record<string, string>;
  spec?: { template: { spec: { containers: { image: string; env?: { name: string; value?: string }[]; args?: string[] }[] } } };
}

/** The Kubernetes target's commands as the UI shows them, for this server's key. */
function kubernetesCommands(edgeKey: string, flow: "built-in" | "operator"): string[] {
  return agentCommands({ target: "kubernetes", edgeId: "edge-k8s", edgeKey, flow });
}

/** Runs the UI's `helm install …` line as `helm template …` in `cwd` (where the files it names are); no word of it is quoted. */
function helmTemplate(command: string | undefined, cwd: string) {
  const words = (command ?? "").split(" ");
  expect(words.slice(0, 3)).toEqual(["helm", "install", "pier-agent"]);
  return run(helm, ["template", ...words.slice(2)], { cwd, timeoutMs: 30_000 });
}

/** The one manifest of `kind` that `helm template` printed. */
function only(manifests: string, kind: string): Manifest {
  const found = parseAllDocuments(manifests)
    .map((document) => document.toJS() as Manifest | null)
    .filter((manifest) => manifest?.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0] as Manifest;
}

/** An operator CA (as `pier ca` makes it) with a server certificate for loopback and the device's client certificate. */
async function operatorCertificates(out: string): Promise<void> {
  const ca = await CertificateAuthority.create(join(out, "ca"), { commonName: "Chart Operator CA" });
  const serverCertificate = await ca.issueWithNewKey({ profile: "server", subjectAltNames: parseSanList("IP:127.0.0.1,DNS:localhost") });
  const agent = await ca.issueWithNewKey({ profile: "client", commonName: "edge-k8s" });
  writeFileSync(join(out, "ca.crt"), ca.certificatePem);
  writeFileSync(join(out, "server.crt"), serverCertificate.certificatePem);
  writeFileSync(join(out, "server.key"), serverCertificate.privateKeyPem, { mode: 0o600 });
  writeFileSync(join(out, "agent.crt"), agent.certificatePem);
  writeFileSync(join(out, "agent.key"), agent.privateKeyPem, { mode: 0o600 });
}

beforeAll(async () => {
  dir = tempDir("agent-chart");
  writeFileSync(dir.file("admin-password"), "chart-admin-password-1");
  operatorFiles = dir.file("operator");
  mkdirSync(operatorFiles);
  await operatorCertificates(operatorFiles);
  const file = (name: string) => join(operatorFiles, name);
  [server, blog] = await Promise.all([
    startPierServer({ dataDir: dir.file("data"), args: ["--admin-password-file", dir.file("admin-password")] }),
    startPierServer({ dataDir: dir.file("blog-data"), args: ["--sslcert", file("server.crt"), "--sslkey", file("server.key"), "--sslcacert", file("ca.crt")] }),
  ]);
}, 90_000);

afterAll(async () => {
  await Promise.all([server?.stop(), blog?.stop()]);
  await dir?.[Symbol.asyncDispose]();
});

describe("helm install from the server's packaged chart", () => {
  it("with the built-in CA: the CA file Certificates → Download CA certificate saves lets helm fetch and render the chart", async () => {
    const api = new PierApi(`https://127.0.0.1:${server.httpsPort}`, { ca: readFileSync(dir.file("data/ca/ca.crt")) });
    await api.login("admin", "chart-admin-password-1");
    const ca = await api.call<string>("GET", "/api/pki/ca");
    expect(ca.status).toBe(200);
    const workstation = dir.file("workstation");
    mkdirSync(workstation);
    writeFileSync(join(workstation, "pier-ca.pem"), ca.body);

    const [install, ...more] = kubernetesCommands(server.edgeKey, "built-in");
    expect(more).toEqual([]);
    expect(install).toContain(` https://127.0.0.1:${server.httpsPort}/charts/pier-agent-0.1.0.tgz --ca-file ./pier-ca.pem `);
    const rendered = helmTemplate(install, workstation);
    expect(rendered.status, rendered.output).toBe(0);
    const container = only(rendered.stdout, "Deployment").spec?.template.spec.containers[0];
    expect(container?.image).toBe("pier-agent:latest");
    expect(container?.env?.find((variable) => variable.name === "EDGE_ID")?.value).toBe("edge-k8s");
    expect(container?.args).not.toContain("--mtlscacert");
    expect(Buffer.from(only(rendered.stdout, "Secret").data?.["edge-key"] ?? "", "base64").toString()).toBe(server.edgeKey);

    // Without the CA file helm refuses the server, which is why the command names it.
    const untrusted = run(helm, ["template", "pier-agent", `https://127.0.0.1:${server.httpsPort}/charts/pier-agent-0.1.0.tgz`], { cwd: workstation, timeoutMs: 30_000 });
    expect(untrusted.status).not.toBe(0);
    expect(untrusted.output).toMatch(/certificate signed by unknown authority/);
  });

  it("answers 404 naming the chart it serves for another version, to helm and to a script alike", async () => {
    const wrong = run(helm, ["template", "pier-agent", `https://127.0.0.1:${server.httpsPort}/charts/pier-agent-9.9.9.tgz`, "--ca-file", dir.file("data/ca/ca.crt")], { timeoutMs: 30_000 });
    expect(wrong.status).not.toBe(0);
    expect(wrong.output).toMatch(/404 Not Found/);
    const answer = await new PierApi(`https://127.0.0.1:${server.httpsPort}`, { ca: readFileSync(dir.file("data/ca/ca.crt")) }).call("GET", "/charts/pier-agent-9.9.9.tgz");
    expect(answer).toMatchObject({ status: 404, body: { code: "not_found", message: expect.stringContaining("this server serves /charts/pier-agent-0.1.0.tgz") as string } });
  });

  it("with an operator CA for every client (--sslcacert): helm shows the agent's certificate, and gets nothing without it", () => {
    const [secret, install] = kubernetesCommands(blog.edgeKey, "operator");
    expect(secret).toMatch(/^kubectl create secret generic pier-agent-mtls /);
    expect(install).toContain(` https://127.0.0.1:${blog.httpsPort}/charts/pier-agent-0.1.0.tgz --ca-file ./ca.crt --cert-file ./agent.crt --key-file ./agent.key `);
    const rendered = helmTemplate(install, operatorFiles);
    expect(rendered.status, rendered.output).toBe(0);
    expect(only(rendered.stdout, "Deployment").spec?.template.spec.containers[0]?.args).toContain("--mtlscacert");

    const anonymous = run(helm, ["template", "pier-agent", `https://127.0.0.1:${blog.httpsPort}/charts/pier-agent-0.1.0.tgz`, "--ca-file", "./ca.crt"], { cwd: operatorFiles, timeoutMs: 30_000 });
    expect(anonymous.status).not.toBe(0);
    expect(anonymous.output).toMatch(/certificate required|handshake|bad certificate|connection reset|EOF/i);
  });
});
