import { certificateToPem, encodeName, generateKeyPairSync, keyIdentifier, privateKeyToPem, profileExtensions, signCertificate, spkiSha256 } from "@pier/pki";

/**
 * A throwaway self-signed server certificate for 127.0.0.1 (a new P-256 key each call), with the
 * SPKI fingerprint an EDGE_KEY pins.
 *
 * @example
 * const { cert, key, fingerprint } = serverCertificate();
 */
export function serverCertificate(commonName = "pier-test-server"): { cert: string; key: string; fingerprint: string } {
  const { privateKey, publicKey } = generateKeyPairSync();
  const name = encodeName({ commonName });
  const der = signCertificate({
    subject: name,
    issuer: name,
    publicKey,
    signingKey: privateKey,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3600_000),
    extensions: profileExtensions("server", { subjectKey: publicKey, issuerKeyId: keyIdentifier(publicKey), subjectAltNames: [{ type: "ip", value: "127.0.0.1" }] }),
  });
  return { cert: certificateToPem(der), key: privateKeyToPem(privateKey), fingerprint: spkiSha256(publicKey) };
}
