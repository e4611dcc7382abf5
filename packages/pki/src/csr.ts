import { sign, verify, createPublicKey, type KeyObject } from "node:crypto";
import { bitString, implicitConstructed, integer, oid, sequence, setOf } from "./asn1/der-writer.ts";
import { checkPrimitives, childrenOf, expectTag, readAlgorithmIdentifier, readBitString, readOid, readRoot, readSmallInt, sequenceItems } from "./asn1/der-reader.ts";
import { Oid, signatureAlgorithms } from "./asn1/oids.ts";
import { type DecodedExtensions, decodeExtensions, subjectAltNameExtension } from "./extensions.ts";
import { type KeyDescription, describeKey, signatureSchemeFor } from "./keys.ts";
import { type NameAttribute, type SubjectAltName, type SubjectInput, decodeName, encodeName, formatName } from "./names.ts";
import { toPem } from "./pem.ts";
import { PkiError } from "./errors.ts";

/**
 * Creates a PKCS#10 certificate signing request (RFC 2986), DER-encoded. The agent uses this
 * to enrol: its private key never leaves the device.
 *
 * @example
 * const csr = createCsr({ privateKey, subject: { commonName: "edge-17" } });
 */
export function createCsr(options: { privateKey: KeyObject; subject: SubjectInput; subjectAltNames?: readonly SubjectAltName[] }): Buffer {
  const scheme = signatureSchemeFor(options.privateKey);
  const subject = encodeName(options.subject);
  const publicKey = createPublicKey(options.privateKey).export({ type: "spki", format: "der" });
  const attributes = options.subjectAltNames?.length
    ? [sequence(oid(Oid.extensionRequest), setOf(sequence(subjectAltNameExtension(options.subjectAltNames, false))))]
    : [];
  const info = sequence(integer(0), subject, publicKey, implicitConstructed(0, Buffer.concat(attributes)));
  return sequence(info, scheme.algorithmIdentifier, bitString(sign(scheme.hash, info, options.privateKey)));
}

/** PEM of a DER CSR. */
export function csrToPem(der: Buffer): string {
  return toPem("CERTIFICATE REQUEST", der);
}

/** A parsed CSR. `signatureValid` is false when the request was not signed by its own key. */
export interface CsrInfo {
  readonly subject: NameAttribute[];
  readonly subjectText: string;
  readonly publicKey: KeyObject;
  readonly key: KeyDescription;
  readonly signatureAlgorithm: string;
  readonly signatureValid: boolean;
  /** Extensions the requester asked for; Pier's policy decides what is actually issued. */
  readonly requestedExtensions: DecodedExtensions;
}

/** Parses a DER CSR and checks its self-signature (proof of possession of the key). */
export function parseCsr(der: Buffer): CsrInfo {
  const requestItems = sequenceItems(readRoot(der), "certification request");
  const [info, algNode, sigNode] = requestItems;
  if (requestItems.length !== 3) throw new PkiError("wrong_input_type", "This is not a certificate signing request (PKCS#10): it must be the request info, an algorithm and a signature.");
  const infoItems = sequenceItems(info, "certification request info");
  const [versionNode, subjectNode, spkiNode, attributesNode] = infoItems;
  // RFC 2986 §4.1: version, subject, key and [0] attributes, nothing else (as OpenSSL reads it).
  const shapeOk = versionNode?.tag === 0x02 && infoItems.length <= 4 && (attributesNode === undefined || attributesNode.tag === 0xa0);
  if (!shapeOk || !subjectNode || !spkiNode) throw new PkiError("wrong_input_type", "This is not a certificate signing request (PKCS#10).");
  // The key's AlgorithmIdentifier is read here too (Node's OpenSSL reads BER lengths in it).
  readAlgorithmIdentifier(sequenceItems(spkiNode, "public key")[0], "public key algorithm");
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: spkiNode.raw, format: "der", type: "spki" });
  } catch (error) {
    throw new PkiError("wrong_input_type", "The CSR's public key cannot be read.", { cause: error });
  }
  const sigOid = readAlgorithmIdentifier(algNode, "signature algorithm");
  const algorithm = signatureAlgorithms[sigOid];
  const signature = readBitString(sigNode).bytes;
  let signatureValid = false;
  if (algorithm) {
    try {
      signatureValid = verify(algorithm.hash, info!.raw, publicKey, signature);
    } catch {
      signatureValid = false;
    }
  }
  let requestedExtensions: DecodedExtensions = { unknownCritical: [], present: [] };
  readSmallInt(versionNode);
  if (attributesNode) {
    for (const attribute of childrenOf(attributesNode)) {
      // Attribute ::= SEQUENCE { type, values SET OF ANY } (RFC 2986 §4.1), values checked as DER.
      const items = sequenceItems(attribute, "attribute");
      const [typeNode, valuesNode] = items;
      if (items.length !== 2) throw new PkiError("malformed_der", "Malformed DER: a CSR attribute must be one type and one SET of values.");
      const values = childrenOf(expectTag(valuesNode, 0x31, "attribute values"));
      values.forEach(checkPrimitives);
      const first = values[0];
      if (readOid(typeNode) === Oid.extensionRequest && first) requestedExtensions = decodeExtensions(first);
    }
  }
  const subject = decodeName(subjectNode);
  return {
    subject,
    subjectText: formatName(subject),
    publicKey,
    key: describeKey(publicKey),
    signatureAlgorithm: algorithm?.name ?? sigOid,
    signatureValid,
    requestedExtensions,
  };
}
