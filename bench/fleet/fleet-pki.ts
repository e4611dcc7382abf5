import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CertificateAuthority, caPaths, certificateToPem, encodeName, generateKeyPairSync, loadPrivateKey, privateKeyToPem, profileExtensions, signCertificate } from "@pier/pki";

/** One simulated device's identity: its EDGE_ID and the client certificate bound to it. */
export interface AgentIdentity {
  readonly edgeId: string;
  readonly certificatePem: string;
  readonly keyPem: string;
}

/**
 * Client certificates (ECDSA P-256, CN = `commonName`) signed in process with a CA directory's
 * key: key generation, signing and PEM encoding, without the directory's lock, index and fsync
 * (what the server does per enrolment; bench/issue-certificates.ts times it).
 *
 * @example
 * const issuer = new InProcessIssuer(ca);
 * const { certificatePem, keyPem } = issuer.issue("device-1", new Date(), new Date(Date.now() + 86_400_000));
 */
export class InProcessIssuer {
  readonly #ca: CertificateAuthority;
  readonly #caKey: ReturnType<typeof loadPrivateKey>;
  readonly #issuerKeyId: Buffer;

  constructor(ca: CertificateAuthority) {
    this.#ca = ca;
    this.#caKey = loadPrivateKey(readFileSync(caPaths(ca.dir).key));
    this.#issuerKeyId = Buffer.from(ca.certificate.extensions.subjectKeyId ?? "", "hex");
  }

  issue(commonName: string, notBefore: Date, notAfter: Date): { certificatePem: string; keyPem: string } {
    const { privateKey, publicKey } = generateKeyPairSync("ecdsa-p256");
    const der = signCertificate({
      subject: encodeName({ commonName }),
      issuer: this.#ca.certificate.subjectDer,
      publicKey,
      signingKey: this.#caKey,
      notBefore,
      notAfter,
      extensions: profileExtensions("client", { subjectKey: publicKey, issuerKeyId: this.#issuerKeyId }),
    });
    return { certificatePem: certificateToPem(der), keyPem: privateKeyToPem(privateKey) };
  }
}

/** The mTLS domain of a benchmark run: CA, server certificate files, one identity per agent. */
export interface FleetPki {
  /** Files for `pier server --mtlscacert/--mtlscert/--mtlskey`. */
  readonly files: { readonly caCertificate: string; readonly serverCertificate: string; readonly serverKey: string };
  readonly caPem: Buffer;
  readonly agents: readonly AgentIdentity[];
}

/**
 * Creates an mTLS CA in `dir`, a server certificate for DNS:localhost, and `count` client
 * certificates (ECDSA P-256, CN = EDGE_ID). Clients take the in-process fast path
 * (bench/issue-certificates.ts): the CA directory's index and fsync per certificate would turn
 * 2,000 issuances from about a second into minutes, and the index is not what we measure.
 *
 * @example
 * const pki = await createFleetPki("/tmp/run/pki", 2000, "bench-abc");
 * pki.agents[0].edgeId; // "bench-abc-00000"
 */
export async function createFleetPki(dir: string, count: number, edgeIdPrefix: string): Promise<FleetPki> {
  const ca = await CertificateAuthority.create(join(dir, "mtls-ca"), { commonName: "Pier fleet benchmark CA" });
  const server = await ca.issueWithNewKey({ profile: "server", commonName: "localhost", subjectAltNames: [{ type: "dns", value: "localhost" }], days: 2 });
  const serverCertificate = join(dir, "mtls-server.crt");
  const serverKey = join(dir, "mtls-server.key");
  writeFileSync(serverCertificate, server.certificatePem);
  writeFileSync(serverKey, server.privateKeyPem, { mode: 0o600 });

  const issuer = new InProcessIssuer(ca);
  const width = String(count - 1).length;
  const agents: AgentIdentity[] = [];
  const now = Date.now();
  for (let i = 0; i < count; i++) {
    const edgeId = `${edgeIdPrefix}-${String(i).padStart(width, "0")}`;
    agents.push({ edgeId, ...issuer.issue(edgeId, new Date(now - 5 * 60_000), new Date(now + 2 * 86_400_000)) });
  }
  const caCertificate = caPaths(ca.dir).certificate;
  return { files: { caCertificate, serverCertificate, serverKey }, caPem: readFileSync(caCertificate), agents };
}
