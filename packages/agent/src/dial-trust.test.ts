import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type Server } from "node:tls";
import { afterAll, describe, expect, it } from "vitest";
import { encodeEdgeKey } from "@pier/protocol";
import { certificateToPem, encodeName, generateKeyPairSync, keyIdentifier, privateKeyToPem, profileExtensions, signCertificate, spkiSha256, type KeyPair } from "@pier/pki";
import { loadAgentConfig } from "./config.ts";
import { dialServer } from "./dial.ts";
import { AgentError } from "./errors.ts";

/** A CA that issues server certificates for 127.0.0.1. */
function serverCa(commonName: string) {
  const ca = generateKeyPairSync();
  const name = encodeName({ commonName });
  const pem = certificateToPem(
    signCertificate({ subject: name, issuer: name, publicKey: ca.publicKey, signingKey: ca.privateKey, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3600_000), extensions: profileExtensions("ca", { subjectKey: ca.publicKey, issuerKeyId: keyIdentifier(ca.publicKey) }) }),
  );
  const issue = (key: KeyPair) =>
    certificateToPem(
      signCertificate({
        subject: encodeName({ commonName: "pier-server" }),
        issuer: name,
        publicKey: key.publicKey,
        signingKey: ca.privateKey,
        notBefore: new Date(Date.now() - 60_000),
        notAfter: new Date(Date.now() + 3600_000),
        extensions: profileExtensions("server", { subjectKey: key.publicKey, issuerKeyId: keyIdentifier(ca.publicKey), subjectAltNames: [{ type: "ip", value: "127.0.0.1" }] }),
      }),
    );
  return { pem, issue };
}

const dataDir = mkdtempSync(join(tmpdir(), "pier-dial-trust-"));
const servers: Server[] = [];
afterAll(() => {
  for (const server of servers) server.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function tlsServer(cert: string, key: KeyPair): Promise<{ port: number; received: () => number }> {
  let received = 0;
  const server = createServer({ cert, key: privateKeyToPem(key.privateKey), ALPNProtocols: ["h2"] }, (socket) => {
    socket.on("data", (chunk: Buffer) => (received += chunk.length));
    socket.on("error", () => undefined);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as AddressInfo).port, received: () => received };
}

/** Dials with `--mtlscacert` = the operator CA, and (optionally) trust.pem from a grant. */
async function dial(port: number, pinned: KeyPair, caFile: string, trust: string | undefined) {
  const caPath = join(dataDir, `ca-${port}.pem`);
  writeFileSync(caPath, caFile);
  const address = `127.0.0.1:${port}`;
  const edgeKey = encodeEdgeKey({ apiUrl: `https://${address}`, tunnelAddress: address, serverFingerprint: spkiSha256(pinned.publicKey), environmentId: 0 });
  const config = loadAgentConfig({ flags: { data: dataDir, mtlscacert: caPath }, env: { EDGE_ID: "dial-trust", EDGE_KEY: edgeKey } });
  const client = generateKeyPairSync();
  const identity = { cert: Buffer.from(serverCa("device CA").issue(client)), key: Buffer.from(privateKeyToPem(client.privateKey)), ...(trust ? { trust: Buffer.from(trust) } : {}) };
  const socket = await dialServer(config, { host: "127.0.0.1", port }, "h2", new AbortController().signal, identity);
  socket.destroy();
}

describe("dialServer with trust.pem beside --mtlscacert", () => {
  const operator = serverCa("operator CA");
  const rotated = serverCa("Pier built-in CA (new)");
  const serverKey = generateKeyPairSync();

  it("accepts a server certificate that chains to trust.pem only when it holds the pinned key", async () => {
    const server = await tlsServer(rotated.issue(serverKey), serverKey);
    // Precondition: the CA file alone refuses this server (it moved to the CA of trust.pem).
    await expect(dial(server.port, serverKey, operator.pem, undefined)).rejects.toThrow(AgentError);
    // With trust.pem and the pinned key: accepted.
    await expect(dial(server.port, serverKey, operator.pem, rotated.pem)).resolves.toBeUndefined();
  });

  it("refuses a server chaining to trust.pem whose key is not the pinned one, before sending anything", async () => {
    const impostorKey = generateKeyPairSync();
    const server = await tlsServer(rotated.issue(impostorKey), impostorKey);
    const refusal = await dial(server.port, serverKey, operator.pem, rotated.pem).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(AgentError);
    expect((refusal as AgentError).explained?.code).toBe("server_fingerprint_mismatch");
    expect(server.received()).toBe(0);
  });

  it("still accepts a server certificate from the CA file without the pin (unchanged)", async () => {
    const otherKey = generateKeyPairSync();
    const server = await tlsServer(operator.issue(otherKey), otherKey);
    await expect(dial(server.port, serverKey, operator.pem, rotated.pem)).resolves.toBeUndefined();
  });
});
