import { isIP } from "node:net";
import { X509Certificate } from "node:crypto";
import { parseCertificate, parsePem } from "@pier/pki";
import { ServerError } from "../errors.ts";
import { serverNameMatches } from "./tls-front.ts";

/** What applying an mTLS set would do to the administrator's browser and to connected agents. */
export interface MtlsImpact {
  /** The DNS and IP names of the certificate to apply. */
  names: string[];
  /** The host the browser uses would need a client certificate from then on. */
  coversHost: boolean;
  /** UI addresses that keep working without a client certificate. */
  keepsWorking: string[];
  connectedAgents: number;
  /** Connected agents that present no certificate issued by the new CA: their sessions end. */
  disconnected: number;
}

/** An agent connected now and the issuer of the certificate it presented (one line, `, ` between attributes). */
export interface ConnectedAgent {
  readonly certificateIssuer: string | null;
}

/** What the impact is computed from. */
export interface MtlsImpactInput {
  /** PEM of the mTLS server certificate to apply (intermediates may follow). */
  readonly certificatePem: string;
  /** PEM of the client CA to apply, when known. */
  readonly caPem?: string;
  /** `window.location.hostname` of the administrator's browser. */
  readonly browserHost: string;
  /** The HTTPS listener's port the browser uses. */
  readonly port: string;
  /** The names of the normal (UI) certificate in force. */
  readonly mainNames: readonly string[];
  readonly agents: readonly ConnectedAgent[];
}

const bare = (host: string) => host.replace(/^\[|\]$/g, "");
const urlOf = (host: string, port: string) => `https://${isIP(host) === 6 ? `[${host}]` : host}${port === "443" ? "" : `:${port}`}`;

/** The DNS and IP subjectAltNames of the first certificate in `pem`; `bad_request` (field `Cert`) when there is none. */
export function certificateNames(pem: string): string[] {
  const [block] = parsePem(pem).filter((candidate) => candidate.label === "CERTIFICATE");
  if (!block) throw new ServerError("bad_request", "Cert holds no PEM certificate.", { field: "Cert", fix: "Choose the mTLS server certificate file (PEM, -----BEGIN CERTIFICATE-----)." });
  try {
    return (parseCertificate(block.der).extensions.subjectAltNames ?? []).filter((san) => san.type === "dns" || san.type === "ip").map((san) => san.value);
  } catch (error) {
    throw new ServerError("bad_request", `Cert is not a certificate Pier can read: ${(error as Error).message}.`, { field: "Cert", fix: "Choose the mTLS server certificate file (PEM).", cause: error });
  }
}

/**
 * The subject line of every CA certificate in `caPem`: a bundle's agents of its second CA stay
 * connected too (issue 22: only the first was read, so they were counted as disconnected).
 */
function issuerLines(caPem: string): Set<string> {
  try {
    const blocks = parsePem(caPem).filter((block) => block.label === "CERTIFICATE");
    if (blocks.length === 0) throw new Error("no PEM certificate");
    return new Set(blocks.map((block) => new X509Certificate(block.der).subject.replace(/\n/g, ", ")));
  } catch (error) {
    throw new ServerError("bad_request", `CaCert is not a certificate: ${(error as Error).message}.`, { field: "CaCert", fix: "Choose the CA certificate file (PEM)." });
  }
}

/**
 * What an mTLS upload would change (docs/ui.md, "The mTLS lock-out warning"). The HTTPS listener
 * routes a connection to the mTLS server by its SNI (`separate` mode), and browsers send none for
 * an IP address: so the browser is locked out only when it uses a DNS name the certificate
 * covers, and every IP address of the normal certificate (and 127.0.0.1 on the server) keeps
 * working. The tunnel listener then requires a client certificate of the new CA from every agent
 * (`whole-listener`): agents presenting none, or one issued by none of the CA file's CAs (by
 * issuer name), are disconnected.
 *
 * @example
 * mtlsImpact({ certificatePem, browserHost: "pier.example", port: "9443", mainNames: ["pier.example", "10.0.0.5"], agents: [] });
 * // { coversHost: true, keepsWorking: ["https://10.0.0.5:9443", "https://127.0.0.1:9443"], … }
 */
export function mtlsImpact(input: MtlsImpactInput): MtlsImpact {
  const names = certificateNames(input.certificatePem);
  const covered = (host: string) => isIP(bare(host)) === 0 && names.some((pattern) => serverNameMatches(host, pattern));
  const host = bare(input.browserHost);
  const keeps = new Set<string>();
  for (const name of input.mainNames) {
    if (name.startsWith("*.") || covered(name) || name.toLowerCase() === host.toLowerCase()) continue;
    keeps.add(urlOf(name, input.port));
  }
  keeps.add(urlOf("127.0.0.1", input.port));
  const issuers = input.caPem === undefined ? new Set<string>() : issuerLines(input.caPem);
  const disconnected = input.agents.filter((agent) => agent.certificateIssuer === null || !issuers.has(agent.certificateIssuer)).length;
  return { names, coversHost: covered(host), keepsWorking: [...keeps], connectedAgents: input.agents.length, disconnected };
}
