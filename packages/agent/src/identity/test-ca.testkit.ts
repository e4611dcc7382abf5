import { createPublicKey, type KeyObject } from "node:crypto";
import { certificateToPem, encodeName, generateKeyPairSync, keyIdentifier, profileExtensions, signCertificate } from "@pier/pki";
import type { CertificateGrant } from "@pier/protocol";

/** A throwaway CA that issues device certificates the way Pier's built-in CA does (CN + URI SAN, clientAuth). */
export interface TestCa {
  readonly pem: string;
  /** A grant for `key`, valid from `notBefore` for `lifetimeMs`. */
  grant(key: KeyObject, options?: { edgeId?: string; notBefore?: Date; lifetimeMs?: number }): CertificateGrant;
}

/**
 * Makes a CA with a new P-256 key (real certificates, signed with @pier/pki).
 *
 * @example
 * const ca = testCa();
 * const grant = ca.grant(deviceKey, { lifetimeMs: 60_000 });
 */
export function testCa(commonName = "Pier test device CA"): TestCa {
  const { privateKey, publicKey } = generateKeyPairSync();
  const name = encodeName({ commonName });
  const caKeyId = keyIdentifier(publicKey);
  const pem = certificateToPem(
    signCertificate({ subject: name, issuer: name, publicKey, signingKey: privateKey, notBefore: new Date(Date.now() - 3600_000), notAfter: new Date(Date.now() + 86_400_000), extensions: profileExtensions("ca", { subjectKey: publicKey, issuerKeyId: caKeyId }) }),
  );
  return {
    pem,
    grant(key, options = {}) {
      const edgeId = options.edgeId ?? "edge-test";
      const subjectKey = key.type === "private" ? createPublicKey(key) : key;
      const notBefore = options.notBefore ?? new Date(Date.now() - 1000);
      const der = signCertificate({
        subject: encodeName({ commonName: edgeId }),
        issuer: name,
        publicKey: subjectKey,
        signingKey: privateKey,
        notBefore,
        notAfter: new Date(notBefore.getTime() + (options.lifetimeMs ?? 3600_000)),
        extensions: profileExtensions("client", { subjectKey, issuerKeyId: caKeyId, subjectAltNames: [{ type: "uri", value: `spiffe://pier.local/edge/${edgeId}` }] }),
      });
      return { certificate: certificateToPem(der), chain: pem, trustBundle: pem };
    },
  };
}
