import type { AddressInfo } from "node:net";
import { type ConnectionOptions, type TlsOptions, connect, createServer } from "node:tls";
import { describe, expect, it } from "vitest";
import { certificateToPem, encodeName, generateKeyPairSync, keyIdentifier, privateKeyToPem, profileExtensions, signCertificate, tlsProfile } from "./index.ts";

/** A self-signed P-256 server certificate for 127.0.0.1, like the built-in CA's leaves. */
function serverCredentials() {
  const { privateKey, publicKey } = generateKeyPairSync();
  const name = encodeName({ commonName: "tls-profile-test" });
  const der = signCertificate({
    subject: name,
    issuer: name,
    publicKey,
    signingKey: privateKey,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3600_000),
    extensions: profileExtensions("server", { subjectKey: publicKey, issuerKeyId: keyIdentifier(publicKey), subjectAltNames: [{ type: "ip", value: "127.0.0.1" }] }),
  });
  return { cert: certificateToPem(der), key: privateKeyToPem(privateKey) };
}

const credentials = serverCredentials();
const cbcSuites = "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA";

/** One TLS 1.2 handshake between a real server and client on loopback: what was agreed, or the error. */
async function handshake(server: TlsOptions, client: ConnectionOptions): Promise<{ cipher?: string; error?: string }> {
  const listener = createServer({ ...credentials, ...server }, (socket) => socket.end());
  listener.on("tlsClientError", () => undefined);
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  try {
    return await new Promise((resolve) => {
      const socket = connect({ host: "127.0.0.1", port: (listener.address() as AddressInfo).port, rejectUnauthorized: false, maxVersion: "TLSv1.2", ...client });
      socket.once("secureConnect", () => {
        resolve({ cipher: socket.getCipher().name });
        socket.destroy();
      });
      socket.once("error", (error: Error) => resolve({ error: error.message }));
    });
  } finally {
    await new Promise((resolve) => listener.close(resolve));
  }
}

describe("tlsProfile (Mozilla intermediate)", () => {
  it("a server with the profile refuses a TLS 1.2 client that offers only CBC suites", async () => {
    // Precondition: Node's defaults accept that client, so the refusal is the profile's doing.
    expect(await handshake({}, { ciphers: cbcSuites })).toEqual({ cipher: "ECDHE-ECDSA-AES128-SHA256" });
    expect((await handshake({ ...tlsProfile }, { ciphers: cbcSuites })).error).toMatch(/handshake failure/);
  });

  it("a client with the profile refuses a server that speaks only CBC suites", async () => {
    expect(await handshake({ ciphers: cbcSuites }, {})).toEqual({ cipher: "ECDHE-ECDSA-AES128-SHA256" });
    expect((await handshake({ ciphers: cbcSuites }, { ...tlsProfile })).error).toMatch(/handshake failure/);
  });

  it("picks the server's order, except ChaCha20-Poly1305 for a client that lists it first", async () => {
    const preferring = (first: string) => `${first}:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305`;
    expect(await handshake({ ...tlsProfile }, { ciphers: preferring("ECDHE-ECDSA-AES256-GCM-SHA384") })).toEqual({ cipher: "ECDHE-ECDSA-AES128-GCM-SHA256" });
    expect(await handshake({ ...tlsProfile }, { ciphers: preferring("ECDHE-ECDSA-CHACHA20-POLY1305") })).toEqual({ cipher: "ECDHE-ECDSA-CHACHA20-POLY1305" });
  });

  it("server and client with the profile agree on TLS 1.3", async () => {
    expect(await handshake({ ...tlsProfile }, { ...tlsProfile, maxVersion: "TLSv1.3" })).toEqual({ cipher: "TLS_AES_128_GCM_SHA256" });
  });
});
