import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type Server } from "node:tls";
import { encodeEdgeKey } from "@pier/protocol";
import { certificateToPem, encodeName, generateKeyPairSync, keyIdentifier, privateKeyToPem, profileExtensions, signCertificate, spkiSha256, type KeyPair } from "@pier/pki";
import { loadAgentConfig } from "./config.ts";
import { dialServer, type ClientIdentity } from "./dial.ts";

const hour = 3_600_000;

/** A validity window, in ms from now. */
export interface Window {
  readonly fromMs?: number;
  readonly untilMs?: number;
}

/**
 * A CA (valid over `window`, by default from a minute ago for an hour) that issues server
 * certificates for an IP address (127.0.0.1 unless `ip`), valid over their own window, signed by
 * its key or by `signingKey` (a forger's).
 */
export function serverCa(commonName: string, window: Window = {}) {
  const ca = generateKeyPairSync();
  const name = encodeName({ commonName });
  const now = Date.now();
  const pem = certificateToPem(
    signCertificate({ subject: name, issuer: name, publicKey: ca.publicKey, signingKey: ca.privateKey, notBefore: new Date(now + (window.fromMs ?? -60_000)), notAfter: new Date(now + (window.untilMs ?? hour)), extensions: profileExtensions("ca", { subjectKey: ca.publicKey, issuerKeyId: keyIdentifier(ca.publicKey) }) }),
  );
  const issue = (key: KeyPair, options: Window & { ip?: string; signingKey?: KeyPair } = {}) =>
    certificateToPem(
      signCertificate({
        subject: encodeName({ commonName: "pier-server" }),
        issuer: name,
        publicKey: key.publicKey,
        signingKey: (options.signingKey ?? ca).privateKey,
        notBefore: new Date(Date.now() + (options.fromMs ?? -60_000)),
        notAfter: new Date(Date.now() + (options.untilMs ?? hour)),
        extensions: profileExtensions("server", { subjectKey: key.publicKey, issuerKeyId: keyIdentifier(ca.publicKey), subjectAltNames: [{ type: "ip", value: options.ip ?? "127.0.0.1" }] }),
      }),
    );
  return { pem, issue };
}

/**
 * TLS servers on loopback for `dialServer` to reach (counting the bytes a client sends them),
 * and the agent's data directory; `close()` stops them all and removes it.
 *
 * @example
 * const servers = dialServers("dial-trust");
 * afterAll(() => servers.close());
 * const { port } = await servers.start(ca.issue(key), key);
 * await servers.dial(port, key, ca.pem);
 */
export function dialServers(edgeId: string) {
  const dataDir = mkdtempSync(join(tmpdir(), `pier-${edgeId}-`));
  const servers: Server[] = [];
  return {
    start: async (cert: string, key: KeyPair): Promise<{ port: number; received: () => number }> => {
      let received = 0;
      const server = createServer({ cert, key: privateKeyToPem(key.privateKey), ALPNProtocols: ["h2"] }, (socket) => {
        socket.on("data", (chunk: Buffer) => (received += chunk.length));
        socket.on("error", () => undefined);
      });
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      return { port: (server.address() as AddressInfo).port, received: () => received };
    },
    /** Dials `port` with `--mtlscacert` = `caFile` and EDGE_KEY pinning `pinned`: resolves when accepted, rejects with the agent's error. */
    dial: async (port: number, pinned: KeyPair, caFile: string, identity?: ClientIdentity): Promise<void> => {
      const caPath = join(dataDir, `ca-${port}.pem`);
      writeFileSync(caPath, caFile);
      const address = `127.0.0.1:${port}`;
      const edgeKey = encodeEdgeKey({ apiUrl: `https://${address}`, tunnelAddress: address, serverFingerprint: spkiSha256(pinned.publicKey), environmentId: 0 });
      const config = loadAgentConfig({ flags: { data: dataDir, mtlscacert: caPath }, env: { EDGE_ID: edgeId, EDGE_KEY: edgeKey } });
      const socket = await dialServer(config, { host: "127.0.0.1", port }, "h2", new AbortController().signal, identity);
      socket.destroy();
    },
    close: (): void => {
      for (const server of servers) server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
