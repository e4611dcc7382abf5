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

const hour = 3_600_000;

/** A CA valid from `caFrom` (ms from now) that issues server certificates for `ip`, valid over the given window. */
function serverCa(caFromMs: number) {
  const ca = generateKeyPairSync();
  const name = encodeName({ commonName: "Pier built-in CA (made later than this device's clock)" });
  const pem = certificateToPem(
    signCertificate({ subject: name, issuer: name, publicKey: ca.publicKey, signingKey: ca.privateKey, notBefore: new Date(Date.now() + caFromMs), notAfter: new Date(Date.now() + 100 * hour), extensions: profileExtensions("ca", { subjectKey: ca.publicKey, issuerKeyId: keyIdentifier(ca.publicKey) }) }),
  );
  const issue = (key: KeyPair, options: { fromMs: number; untilMs: number; ip?: string; signingKey?: KeyPair }) =>
    certificateToPem(
      signCertificate({
        subject: encodeName({ commonName: "pier-server" }),
        issuer: name,
        publicKey: key.publicKey,
        signingKey: (options.signingKey ?? ca).privateKey,
        notBefore: new Date(Date.now() + options.fromMs),
        notAfter: new Date(Date.now() + options.untilMs),
        extensions: profileExtensions("server", { subjectKey: key.publicKey, issuerKeyId: keyIdentifier(ca.publicKey), subjectAltNames: [{ type: "ip", value: options.ip ?? "127.0.0.1" }] }),
      }),
    );
  return { pem, issue };
}

const dataDir = mkdtempSync(join(tmpdir(), "pier-dial-clock-skew-"));
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

/** Dials with `--mtlscacert` = `caFile`: resolves when accepted, rejects with the agent's error. */
async function dial(port: number, pinned: KeyPair, caFile: string, identity?: { cert: Buffer; key: Buffer; trust?: Buffer }): Promise<void> {
  const caPath = join(dataDir, `ca-${port}.pem`);
  writeFileSync(caPath, caFile);
  const address = `127.0.0.1:${port}`;
  const edgeKey = encodeEdgeKey({ apiUrl: `https://${address}`, tunnelAddress: address, serverFingerprint: spkiSha256(pinned.publicKey), environmentId: 0 });
  const config = loadAgentConfig({ flags: { data: dataDir, mtlscacert: caPath }, env: { EDGE_ID: "dial-clock-skew", EDGE_KEY: edgeKey } });
  const socket = await dialServer(config, { host: "127.0.0.1", port }, "h2", new AbortController().signal, identity);
  socket.destroy();
}

// Found by the chaos scenario clock-skew (docs/chaos.md): a device 5 h behind, given the built-in
// CA as --mtlscacert, refused the server with "certificate is not yet valid" forever.
describe("dialServer with --mtlscacert on a device whose clock is behind", () => {
  const serverKey = generateKeyPairSync();

  it("accepts a server certificate (and CA) not valid yet by this device's clock whose chain and name verify", async () => {
    const ca = serverCa(5 * hour);
    const server = await tlsServer(ca.issue(serverKey, { fromMs: 5 * hour, untilMs: 30 * hour }), serverKey);
    await expect(dial(server.port, serverKey, ca.pem)).resolves.toBeUndefined();
  });

  it("does so too presenting a client certificate, with trust.pem beside the CA file, and again on a resumed session", async () => {
    const ca = serverCa(5 * hour);
    const server = await tlsServer(ca.issue(serverKey, { fromMs: 5 * hour, untilMs: 30 * hour }), serverKey);
    const client = generateKeyPairSync();
    const identity = { cert: Buffer.from(ca.issue(client, { fromMs: 5 * hour, untilMs: 30 * hour })), key: Buffer.from(privateKeyToPem(client.privateKey)), trust: Buffer.from(ca.pem) };
    await expect(dial(server.port, serverKey, ca.pem, identity)).resolves.toBeUndefined();
    await expect(dial(server.port, serverKey, ca.pem, identity)).resolves.toBeUndefined();
  });

  it("refuses a forged certificate under a CA not valid yet", async () => {
    const ca = serverCa(5 * hour);
    const forger = generateKeyPairSync();
    const server = await tlsServer(ca.issue(serverKey, { fromMs: -hour, untilMs: 30 * hour, signingKey: forger }), serverKey);
    const refusal = await dial(server.port, serverKey, ca.pem).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(AgentError);
    expect((refusal as AgentError).message).toMatch(/signature|does not verify up to a CA of --mtlscacert/);
    expect(server.received()).toBe(0);
  });

  it("refuses one not valid yet for another name, and one that expired (an old key), whatever the clock", async () => {
    const ca = serverCa(-hour);
    const wrongName = await tlsServer(ca.issue(serverKey, { fromMs: 5 * hour, untilMs: 30 * hour, ip: "10.9.8.7" }), serverKey);
    await expect(dial(wrongName.port, serverKey, ca.pem)).rejects.toThrow(/is not for 127\.0\.0\.1/);
    const expired = await tlsServer(ca.issue(serverKey, { fromMs: -2 * hour, untilMs: -hour }), serverKey);
    await expect(dial(expired.port, serverKey, ca.pem)).rejects.toThrow(AgentError);
    await expect(dial(expired.port, serverKey, ca.pem)).rejects.not.toThrow(/not valid yet/);
  });
});
