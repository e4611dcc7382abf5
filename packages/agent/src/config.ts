import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { decodeEdgeKey, edgeGroupNamePattern, edgeGroupRequestLimits, ProtocolError, type EdgeKey } from "@pier/protocol/wire";
import { diagnoseCertificateSet, readPkiFile } from "@pier/pki";
import { parseDockerHost, type DockerEndpoint } from "./docker/index.ts";
import { AgentError } from "./errors.ts";

/** How the agent talks to the server. */
export type ConnectionMode = "session" | "poll";

/** Everything the agent needs, validated. Holds no secrets in printable fields. */
export interface AgentConfig {
  readonly edgeId: string;
  readonly edgeKey: EdgeKey;
  /** EDGE_INSECURE_POLL=1: skip the CA file's chain and host-name check; the EDGE_KEY pin still applies. */
  readonly insecurePoll: boolean;
  readonly mode: ConnectionMode;
  readonly dataDir: string;
  /** `DOCKER_HOST`, parsed: the only place tunnels and snapshots connect to on the device. */
  readonly docker: DockerEndpoint;
  readonly clusterAddress?: string;
  /**
   * `PIER_AGENT_SOURCE_ADDRESS`: the local IP address connections to the server leave from, on a
   * device with several (the kernel's choice otherwise). The clone tests use it to be two devices.
   */
  readonly sourceAddress?: string;
  /** `EDGE_GROUPS`: the edge groups this device asks to join (sent in each hello; applied when it is associated). */
  readonly groups: string[];
  /** Edge jobs (docs/fleet.md "Edge jobs"): `--job-image`/`PIER_JOB_IMAGE`, the image whose `sh` runs scripts (default `busybox:latest`). */
  readonly jobImage: string;
  /** `PIER_JOB_PRIVILEGED=false`: job containers keep Docker's default capabilities instead of all (default true). */
  readonly jobPrivileged: boolean;
  /**
   * Test only, `PIER_AGENT_TEST_SETTLE_SECONDS` (1-10): a shorter settle window for deployed
   * stacks than the 10 s default, so end-to-end tests do not wait it out at every deployment.
   */
  readonly stackSettleMs?: number;
  readonly tls: {
    /** CA that must have signed the server's certificate; without it (or with EDGE_INSECURE_POLL=1) the EDGE_KEY fingerprint is checked. */
    readonly ca?: Buffer;
    readonly cert?: Buffer;
    readonly key?: Buffer;
    readonly certPath?: string;
  };
  /** Non-fatal remarks to log at start (deprecated flags, insecure mode). */
  readonly warnings: string[];
}

/** Raw inputs: flag values (already parsed) and the environment. */
export interface AgentConfigInput {
  readonly flags: Readonly<Record<string, string | undefined>>;
  readonly env: Readonly<Record<string, string | undefined>>;
}

function truthy(value: string | undefined): boolean {
  return value !== undefined && /^(1|true|yes)$/i.test(value.trim());
}

function readFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as NodeJS.ErrnoException).code === "EACCES" ? "permission denied" : (error as Error).message;
    throw new AgentError("config_invalid", `Cannot read the ${what} ${path}: ${reason}.`, { cause: error });
  }
}

/** Picks the mTLS file setting from the new flag, the deprecated flag, or the environment. */
function tlsSetting(input: AgentConfigInput, name: "ca" | "cert" | "key", warnings: string[]): string | undefined {
  const modern = input.flags[`mtls${name === "ca" ? "cacert" : name}`];
  const legacyFlag = `ssl${name === "ca" ? "cacert" : name}`;
  const legacy = input.flags[legacyFlag];
  const fromEnv = input.env[`MTLS_SSL_${name === "ca" ? "CA" : name.toUpperCase()}`];
  if (legacy !== undefined && modern === undefined) warnings.push(`--${legacyFlag} is deprecated; use --mtls${name === "ca" ? "cacert" : name}.`);
  return modern ?? legacy ?? (fromEnv === "" ? undefined : fromEnv);
}

/**
 * `EDGE_GROUPS`: comma-separated edge group names, blanks around each ignored, duplicates
 * (case-insensitively) once; at most 32 names of 1 to 128 characters without control characters.
 *
 * @example
 * edgeGroupsOf("sites, lab"); // ["sites", "lab"]
 */
export function edgeGroupsOf(value: string | undefined): string[] {
  if (value === undefined || value.trim() === "") return [];
  const names: string[] = [];
  for (const raw of value.split(",")) {
    const name = raw.trim();
    const shown = JSON.stringify(name.slice(0, 40));
    if (name === "") throw new AgentError("config_invalid", "EDGE_GROUPS has an empty name (two commas in a row, or a comma at an end); give comma-separated group names, e.g. EDGE_GROUPS=sites,lab.");
    if (name.length > edgeGroupRequestLimits.nameLength) throw new AgentError("config_invalid", `EDGE_GROUPS names a group of ${name.length} characters (${shown}…); a group name has at most ${edgeGroupRequestLimits.nameLength}.`);
    if (!edgeGroupNamePattern.test(name)) throw new AgentError("config_invalid", `EDGE_GROUPS name ${shown} holds a control character; give plain group names.`);
    if (!names.some((known) => known.toLowerCase() === name.toLowerCase())) names.push(name);
  }
  if (names.length > edgeGroupRequestLimits.names) throw new AgentError("config_invalid", `EDGE_GROUPS names ${names.length} groups; a device may ask for at most ${edgeGroupRequestLimits.names}. Ask for fewer, or use tags and dynamic groups.`);
  return names;
}

/**
 * Validates the agent's settings as PRODUCT.md step 4 defines them. Every problem is an
 * `AgentError("config_invalid")` whose message names the setting and what to do.
 */
export function loadAgentConfig(input: AgentConfigInput): AgentConfig {
  const { env } = input;
  const warnings: string[] = [];
  if (env.EDGE !== undefined && !truthy(env.EDGE)) throw new AgentError("config_invalid", `EDGE=${env.EDGE}: Pier's agent only runs in Edge mode; set EDGE=1.`);
  const edgeId = env.EDGE_ID?.trim();
  if (!edgeId) throw new AgentError("config_invalid", "EDGE_ID is not set. Give each device a unique id, e.g. -e EDGE_ID=$(cat /proc/sys/kernel/random/uuid).");
  if (!/^[A-Za-z0-9._:@-]{1,128}$/.test(edgeId)) throw new AgentError("config_invalid", "EDGE_ID may hold up to 128 letters, digits and . _ : @ - characters.");
  const rawKey = env.EDGE_KEY?.trim();
  if (!rawKey) throw new AgentError("config_invalid", "EDGE_KEY is not set. Copy it from the Pier UI (Environments → Add) or POST /api/endpoints/edge/generate-key.");
  let edgeKey: EdgeKey;
  try {
    edgeKey = decodeEdgeKey(rawKey);
  } catch (error) {
    if (error instanceof ProtocolError) throw new AgentError("config_invalid", error.message, { cause: error });
    throw error;
  }
  if (edgeKey.environmentId !== 0 && edgeKey.secret === undefined) {
    warnings.push(
      `EDGE_KEY names environment ${edgeKey.environmentId} but has 4 fields, without the environment's secret (Portainer's shape, or a Pier key made before keys had one): the server refuses it unless this EDGE_ID already enrolled there. Copy the key from the Pier UI.`,
    );
  }
  const insecurePoll = truthy(env.EDGE_INSECURE_POLL);
  if (insecurePoll) {
    warnings.push(
      "EDGE_INSECURE_POLL=1: the server's certificate is not checked against a CA file (chain, host name, dates); the server is still verified by the SPKI fingerprint pinned in EDGE_KEY, and a server without that key is refused before anything is sent. Our client certificate is still presented.",
    );
  }
  const mode = env.PIER_EDGE_MODE === undefined || env.PIER_EDGE_MODE === "" ? "session" : env.PIER_EDGE_MODE;
  if (mode !== "session" && mode !== "poll") throw new AgentError("config_invalid", `PIER_EDGE_MODE=${mode}: use "session" (one long-lived connection, default) or "poll".`);

  const caPath = tlsSetting(input, "ca", warnings);
  const certPath = tlsSetting(input, "cert", warnings);
  const keyPath = tlsSetting(input, "key", warnings);
  if ((certPath === undefined) !== (keyPath === undefined)) {
    throw new AgentError("config_invalid", `${certPath ? "--mtlscert is set without --mtlskey" : "--mtlskey is set without --mtlscert"}: give both the client certificate and its key.`);
  }
  const ca = caPath === undefined ? undefined : readFile(caPath, "mTLS CA file (--mtlscacert)");
  if (ca && !readPkiFile(ca).objects.some((o) => o.kind === "certificate")) throw new AgentError("config_invalid", `The mTLS CA file ${caPath} holds no PEM certificate.`);
  const cert = certPath === undefined ? undefined : readFile(certPath, "client certificate (--mtlscert)");
  const key = keyPath === undefined ? undefined : readFile(keyPath, "client key (--mtlskey)");
  if (cert && key && certPath && keyPath) {
    const report = diagnoseCertificateSet({ role: "client", cert: { path: certPath, data: cert }, key: { path: keyPath, data: key } });
    const errors = report.findings.filter((f) => f.severity === "error");
    if (errors.length > 0) throw new AgentError("config_invalid", `The client certificate cannot be used:\n${errors.map((f) => `  ${f.file}: ${f.problem} — ${f.fix}`).join("\n")}`);
  }
  const clusterAddress = env.AGENT_CLUSTER_ADDR?.trim();
  const sourceAddress = env.PIER_AGENT_SOURCE_ADDRESS?.trim() || undefined;
  if (sourceAddress !== undefined && isIP(sourceAddress) === 0) {
    throw new AgentError("config_invalid", `PIER_AGENT_SOURCE_ADDRESS=${sourceAddress.slice(0, 64)} is not an IP address; give one of this device's own addresses (e.g. 192.0.2.10), or unset it to let the system choose.`);
  }
  const stackSettleMs = testSettleMs(env.PIER_AGENT_TEST_SETTLE_SECONDS);
  return {
    edgeId,
    edgeKey,
    insecurePoll,
    mode,
    dataDir: input.flags.data ?? env.PIER_AGENT_DATA ?? "/data",
    docker: parseDockerHost(env.DOCKER_HOST),
    ...(clusterAddress ? { clusterAddress } : {}),
    ...(sourceAddress ? { sourceAddress } : {}),
    groups: edgeGroupsOf(env.EDGE_GROUPS),
    jobImage: jobImageOf(input.flags["job-image"] ?? env.PIER_JOB_IMAGE),
    jobPrivileged: !/^(0|false|no|off)$/i.test(env.PIER_JOB_PRIVILEGED?.trim() ?? ""),
    ...(stackSettleMs === undefined ? {} : { stackSettleMs }),
    tls: { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}), ...(certPath ? { certPath } : {}) },
    warnings,
  };
}

/** The default image of edge job containers: a shell and the usual tools in 4 MB (the agent's own image has no shell). */
export const defaultJobImage = "busybox:latest";

/**
 * `PIER_AGENT_TEST_SETTLE_SECONDS` (test only): whole seconds from 1 to 10 (the default settle
 * window, so it can only shorten it); unset, the stack runtime's default applies.
 */
function testSettleMs(value: string | undefined): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  const seconds = /^\d{1,2}$/.test(text) ? Number(text) : Number.NaN;
  if (!(seconds >= 1 && seconds <= 10)) throw new AgentError("config_invalid", `PIER_AGENT_TEST_SETTLE_SECONDS (a test-only setting) must be whole seconds from 1 to 10, got "${text.slice(0, 16)}"; unset it outside tests.`);
  return seconds * 1000;
}

/** `--job-image`/`PIER_JOB_IMAGE`: an image reference, at most 512 characters without spaces; default `busybox:latest`. */
function jobImageOf(value: string | undefined): string {
  const image = value?.trim() || defaultJobImage;
  if (image.length > 512 || /\s/.test(image)) throw new AgentError("config_invalid", `--job-image (PIER_JOB_IMAGE) must be one image reference of at most 512 characters, such as ${defaultJobImage}.`);
  return image;
}
