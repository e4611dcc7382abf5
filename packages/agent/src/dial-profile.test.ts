import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, createServer } from "node:tls";
import { afterAll, describe, expect, it } from "vitest";
import { encodeEdgeKey } from "@pier/protocol";
import { loadAgentConfig } from "./config.ts";
import { dialServer } from "./dial.ts";
import { AgentError } from "./errors.ts";
import { serverCertificate } from "./server-certificate.testkit.ts";

const dataDir = mkdtempSync(join(tmpdir(), "pier-dial-profile-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** A stand-in for a badly configured server: TLS 1.2 with CBC suites only, the key the EDGE_KEY pins. */
async function cbcOnlyServer() {
  const { cert, key, fingerprint } = serverCertificate("cbc-only");
  const server = createServer({ cert, key, maxVersion: "TLSv1.2", ciphers: "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA" }, (socket) => socket.end());
  server.on("tlsClientError", () => undefined);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port, fingerprint };
}

describe("dialServer speaks Pier's TLS profile only", () => {
  it("refuses a server that offers only CBC suites, although its key is the pinned one", async () => {
    const { server, port, fingerprint } = await cbcOnlyServer();
    try {
      // Precondition: a client with Node's defaults does connect to it.
      const cipher = await new Promise<string>((resolve, reject) => {
        const socket = connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
          resolve(socket.getCipher().name);
          socket.destroy();
        });
        socket.once("error", reject);
      });
      expect(cipher).toBe("ECDHE-ECDSA-AES128-SHA256");
      const edgeKey = encodeEdgeKey({ apiUrl: `https://127.0.0.1:${port}`, tunnelAddress: `127.0.0.1:${port}`, serverFingerprint: fingerprint, environmentId: 0 });
      const config = loadAgentConfig({ flags: { data: dataDir }, env: { EDGE_ID: "dial-profile", EDGE_KEY: edgeKey } });
      const error = await dialServer(config, { host: "127.0.0.1", port }, "h2", new AbortController().signal).then(
        () => undefined,
        (failure: unknown) => failure,
      );
      expect(error).toBeInstanceOf(AgentError);
      expect((error as AgentError).code).toBe("connect_failed");
      expect((error as AgentError).message).toMatch(/handshake_failure alert/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
