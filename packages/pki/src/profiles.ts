import type { KeyObject } from "node:crypto";
import { Oid } from "./asn1/oids.ts";
import {
  authorityKeyIdentifierExtension,
  basicConstraintsExtension,
  crlDistributionPointsExtension,
  extKeyUsageExtension,
  keyIdentifier,
  keyUsageExtension,
  subjectAltNameExtension,
  subjectKeyIdentifierExtension,
  type KeyUsage,
} from "./extensions.ts";
import { describeKey } from "./keys.ts";
import type { SubjectAltName } from "./names.ts";

/** Certificate profiles Pier issues. */
export const profiles = ["ca", "server", "client"] as const;
export type Profile = (typeof profiles)[number];

/** Inputs a profile needs to produce its extensions. */
export interface ProfileInput {
  readonly subjectKey: KeyObject;
  /** Subject key identifier of the issuing CA (the subject's own for a self-signed root). */
  readonly issuerKeyId: Buffer;
  readonly subjectAltNames?: readonly SubjectAltName[];
  readonly subjectEmpty?: boolean;
  readonly pathLength?: number;
  /** URIs for the cRLDistributionPoints extension (leaves only; none: no extension). */
  readonly crlDistributionPoints?: readonly string[];
  /**
   * Leaves only: the extended key usages, instead of the profile's one. Both, for a certificate
   * that is presented as server and as client (replicas' peer certificates, mutual TLS both ways).
   */
  readonly extendedKeyUsages?: readonly ("serverAuth" | "clientAuth")[];
}

/**
 * The extensions of a profile, following RFC 5280: a CA gets critical basicConstraints
 * CA:TRUE and keyCertSign + cRLSign; leaves get CA:FALSE, the key usage their key
 * algorithm needs, one EKU (serverAuth or clientAuth), SKI and AKI, and the CRL distribution
 * points they are given.
 */
export function profileExtensions(profile: Profile, input: ProfileInput): Buffer[] {
  const subjectKeyId = keyIdentifier(input.subjectKey);
  const out: Buffer[] = [];
  if (profile === "ca") {
    out.push(basicConstraintsExtension(true, input.pathLength), keyUsageExtension(["digitalSignature", "keyCertSign", "cRLSign"]));
  } else {
    // RSA key exchange (TLS 1.2 non-ECDHE suites) needs keyEncipherment; EC and EdDSA keys only sign.
    const usages: KeyUsage[] = describeKey(input.subjectKey).algorithm === "rsa" ? ["digitalSignature", "keyEncipherment"] : ["digitalSignature"];
    const purposes = input.extendedKeyUsages?.map((usage) => Oid[usage]) ?? [profile === "server" ? Oid.serverAuth : Oid.clientAuth];
    out.push(basicConstraintsExtension(false), keyUsageExtension(usages), extKeyUsageExtension(purposes));
  }
  if (input.subjectAltNames && input.subjectAltNames.length > 0) out.push(subjectAltNameExtension(input.subjectAltNames, input.subjectEmpty ?? false));
  out.push(subjectKeyIdentifierExtension(subjectKeyId), authorityKeyIdentifierExtension(input.issuerKeyId));
  if (profile !== "ca" && input.crlDistributionPoints && input.crlDistributionPoints.length > 0) out.push(crlDistributionPointsExtension(input.crlDistributionPoints));
  return out;
}
