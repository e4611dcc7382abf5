import type { X509Certificate } from "node:crypto";

/** A device a client certificate names (docs/identity.md "Binding"). */
export interface CertificateName {
  /** The `EDGE_ID` the certificate names. */
  readonly edgeId: string;
  /** Where the name comes from: a `spiffe://…/edge/<id>` URI SAN, or the CN (setting `bindCommonName`). */
  readonly source: "uri" | "cn";
  /** The built-in CA issued it: the device is then matched by this name, not by its key. */
  readonly pierIssued: boolean;
}

// EDGE_ID's own alphabet (protocol agentInfoSchema), so a name that could never be an EDGE_ID names nobody.
const edgeUri = /^spiffe:\/\/[^/]+\/edge\/([A-Za-z0-9._:@-]{1,128})$/;
const edgeIdPattern = /^[A-Za-z0-9._:@-]{1,128}$/;

/** The URI SANs of a certificate, as Node lists them (`URI:…`, quoted when they hold a comma). */
function uriSans(certificate: X509Certificate): string[] {
  const text = certificate.subjectAltName;
  if (!text) return [];
  return text
    .split(", ")
    .filter((entry) => entry.startsWith("URI:"))
    .map((entry) => entry.slice(4).replace(/^"(.*)"$/, "$1"));
}

/** The certificate's subject CN when it has exactly one. */
function commonName(certificate: X509Certificate): string | undefined {
  const names = certificate.subject.split("\n").filter((line) => line.startsWith("CN="));
  return names.length === 1 ? names[0]?.slice(3) : undefined;
}

/**
 * The device a client certificate names, if any: a URI SAN `spiffe://<any>/edge/<id>` (several
 * naming different devices name none: such a certificate is refused for every EDGE_ID), or,
 * with `bindCommonName` and a certificate from the operator's CA, a CN that is an `EDGE_ID`.
 * A certificate that names no device is shared (the seeds' `CN=edge-client`).
 *
 * @example
 * const name = certificateName(peer, { bindCommonName: false, pierIssued: true });
 * if (name && name.edgeId !== hello.agent.edgeId) refuse();
 */
export function certificateName(certificate: X509Certificate, options: { readonly bindCommonName: boolean; readonly pierIssued: boolean }): CertificateName | undefined {
  const named = [...new Set(uriSans(certificate).flatMap((uri) => edgeUri.exec(uri)?.[1] ?? []))];
  if (named.length > 1) return { edgeId: named.join(" and "), source: "uri", pierIssued: options.pierIssued };
  const [fromUri] = named;
  if (fromUri !== undefined) return { edgeId: fromUri, source: "uri", pierIssued: options.pierIssued };
  if (!options.bindCommonName || options.pierIssued) return undefined;
  const cn = commonName(certificate);
  return cn !== undefined && edgeIdPattern.test(cn) ? { edgeId: cn, source: "cn", pierIssued: false } : undefined;
}
