import type { KeyObject } from "node:crypto";
import { createCsr, csrToPem, generateKeyPairSync, spkiSha256 } from "@pier/pki";

/**
 * A new device key: ECDSA P-256, made on the device, never sent anywhere (docs/identity.md).
 *
 * @example
 * const key = newDeviceKey();
 */
export function newDeviceKey(): KeyObject {
  return generateKeyPairSync("ecdsa-p256").privateKey;
}

/**
 * The PEM CSR the agent sends for `key`: subject CN = EDGE_ID. The server takes only its public
 * key (after checking its self-signature) and names the certificate from its own record.
 *
 * @example
 * const hello = { ...base, csr: deviceCsr(key, "edge-7") };
 */
export function deviceCsr(key: KeyObject, edgeId: string): string {
  return csrToPem(createCsr({ privateKey: key, subject: { commonName: edgeId } }));
}

/**
 * The key's SPKI SHA-256 (64 hex digits), the fingerprint the Waiting Room shows next to the
 * device, so an operator can compare before associating it.
 *
 * @example
 * log("info", `key fingerprint ${keyFingerprint(key)}`);
 */
export function keyFingerprint(key: KeyObject): string {
  return spkiSha256(key);
}
