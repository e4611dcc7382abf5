import { certificateToPem, encodeName, generateKeyPairSync, keyIdentifier, privateKeyToPem, profileExtensions, signCertificate, spkiSha256 } from "@pier/pki";

/**
 * A throwaway self-signed server certificate for 127.0.0.1 (a new P-256 key each call), with the
 * SPKI fingerprint an EDGE_KEY pins.
 *
 * @example
 * const { cert, key, fingerprint } = serverCertificate();
 */
export function serverCertificate(commonName = "pier-test-server"): { cert: string; key: string; fingerprint: string } {
  return selfSigned("server", commonName);
}

/** A throwaway self-signed client certificate (a new P-256 key each call), for servers that ask for one. */
export function clientCertificate(commonName = "pier-test-device"): { cert: string; key: string; fingerprint: string } {
  return selfSigned("client", commonName);
}

function selfSigned(profile: "server" | "client", commonName: string): { cert: string; key: string; fingerprint: string } {
  const { privateKey, publicKey } = generateKeyPairSync();
  const name = encodeName({ commonName });
  const der = signCertificate({
    subject: name,
    issuer: name,
    publicKey,
    signingKey: privateKey,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3600_000),
    extensions: profileExtensions(profile, { subjectKey: publicKey, issuerKeyId: keyIdentifier(publicKey), ...(profile === "server" ? { subjectAltNames: [{ type: "ip" as const, value: "127.0.0.1" }] } : {}) }),
  });
  return { cert: certificateToPem(der), key: privateKeyToPem(privateKey), fingerprint: spkiSha256(publicKey) };
}
