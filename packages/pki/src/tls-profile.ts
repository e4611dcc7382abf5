import { constants } from "node:crypto";
import type { SecureContextOptions } from "node:tls";

/** The TLS settings every Pier listener and client uses: the parts of `SecureContextOptions` it sets. */
export type TlsProfile = Readonly<Required<Pick<SecureContextOptions, "minVersion" | "ciphers" | "ecdhCurve" | "honorCipherOrder" | "secureOptions">>>;

// Mozilla's "intermediate" configuration, guidelines 5.7 (https://ssl-config.mozilla.org/#config=intermediate),
// without its DHE suites: they need ≥2048-bit parameters of our own, and every client Pier has
// (agents, the CLI, browsers, curl) speaks ECDHE.
const tls12Suites = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
];
// OpenSSL's TLS 1.3 defaults, named so the list is complete on its own (Node passes the `TLS_`
// names to SSL_CTX_set_ciphersuites, the others to SSL_CTX_set_cipher_list).
const tls13Suites = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"];

/**
 * Pier's one TLS profile, Mozilla "intermediate": TLS 1.2 with ECDHE key exchange and AEAD
 * suites only (AES-GCM, ChaCha20-Poly1305; no CBC, no RSA key exchange, no DHE), TLS 1.3 with
 * its default suites, curves X25519, P-256 and P-384, no compression, no renegotiation. The
 * server picks the suite by its own order, except that a client whose first choice is
 * ChaCha20-Poly1305 gets it (see `honorCipherOrder`). Spread it into every `tls.createSecureContext`,
 * `http2.createSecureServer`, `tls.connect` and `https.Agent` Pier makes; only `pier doctor`'s
 * endpoint probe offers more, to describe servers that are not Pier.
 *
 * @example
 * const socket = tls.connect({ host, port, ...tlsProfile, ca });
 */
export const tlsProfile: TlsProfile = Object.freeze({
  minVersion: "TLSv1.2",
  ciphers: [...tls13Suites, ...tls12Suites].join(":"),
  ecdhCurve: "X25519:prime256v1:secp384r1",
  // Mozilla leaves the choice to the client (every suite is strong; clients without AES
  // hardware, such as a Raspberry Pi 4, want ChaCha20). testssl.sh rates a server without its
  // own order HIGH (3.0) or LOW (3.2), and a security review starts there; so the server
  // orders, and SSL_OP_PRIORITIZE_CHACHA still gives ChaCha20 to clients that list it first.
  honorCipherOrder: true,
  // Compression invites CRIME; renegotiation (client-initiated or not) is a DoS lever and the
  // ground of the 2009 renegotiation attack, and nothing in Pier needs it.
  secureOptions: constants.SSL_OP_NO_COMPRESSION | constants.SSL_OP_NO_RENEGOTIATION | constants.SSL_OP_PRIORITIZE_CHACHA,
});
