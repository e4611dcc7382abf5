import { X509Certificate, type KeyObject } from "node:crypto";
import type { CertificateGrant } from "@pier/protocol";
import { keysMatch, parsePem } from "@pier/pki";
import { AgentError } from "../errors.ts";

/** A grant that passed `checkGrant`: the leaf, parsed, and the PEM texts to store. */
export interface CheckedGrant {
  readonly certificate: X509Certificate;
  /** The leaf followed by `chain`, as the agent presents it in its handshakes. */
  readonly certificatePem: string;
  readonly trustBundle: string;
}

function certificatesOf(pem: string, what: string): X509Certificate[] {
  const blocks = parsePem(Buffer.from(pem)).filter((block) => block.label === "CERTIFICATE");
  try {
    return blocks.map((block) => new X509Certificate(block.der));
  } catch (error) {
    throw refused(`its ${what} holds a certificate that cannot be read (${(error as Error).message})`);
  }
}

function refused(reason: string): AgentError {
  return new AgentError("refused", `The certificate the server issued was not stored: ${reason}. The agent keeps its current key and certificate.`, {
    explained: { code: "grant_invalid", cause: `The certificate the server issued was not stored: ${reason}.`, fix: "Report this with the server's and the agent's logs; the agent asks again later." },
  });
}

/**
 * Checks a certificate grant before anything is stored: the leaf is for `key` (the key whose
 * CSR we sent) and was signed by a certificate of `chain`; the trust bundle holds certificates.
 * Throws an `AgentError` naming what is wrong.
 *
 * @example
 * const checked = checkGrant(message.grant, enrollmentKey);
 */
export function checkGrant(grant: CertificateGrant, key: KeyObject): CheckedGrant {
  const [leaf] = certificatesOf(grant.certificate, "certificate");
  if (!leaf) throw refused("it holds no PEM certificate");
  if (!keysMatch(key, leaf.publicKey)) throw refused(`it is for another key than this device's (subject ${leaf.subject.replaceAll("\n", ", ")}, serial ${leaf.serialNumber.toLowerCase()})`);
  const chain = certificatesOf(grant.chain, "chain");
  if (!chain.some((ca) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey))) throw refused(`it is not signed by the CA certificate(s) the server sent with it (issuer ${leaf.issuer.replaceAll("\n", ", ")})`);
  if (certificatesOf(grant.trustBundle, "trust bundle").length === 0) throw refused("its trust bundle holds no PEM certificate");
  const intermediates = chain.filter((ca) => ca.issuer !== ca.subject).map((ca) => ca.toString());
  return { certificate: leaf, certificatePem: [leaf.toString(), ...intermediates].join(""), trustBundle: grant.trustBundle };
}
