import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type Server, type TLSSocket } from "node:tls";
import { afterAll, describe, expect, it } from "vitest";
import { encodeEdgeKey } from "@pier/protocol";
import { loadAgentConfig, type AgentConfig } from "./config.ts";
import { dialServer } from "./dial.ts";
import { AgentError } from "./errors.ts";
import { clientCertificate, serverCertificate } from "./server-certificate.testkit.ts";

/** A TLS server that records each ClientHello it read and every byte of application data a client sent. */
interface RecordingServer {
  readonly server: Server;
  readonly port: number;
  readonly clientHellos: number;
  readonly received: () => number;
  close(): Promise<void>;
}

async function recordingServer(credentials: { cert: string; key: string }, port = 0, onSecure?: (socket: TLSSocket) => void): Promise<RecordingServer> {
  let clientHellos = 0;
  let received = 0;
  const sockets = new Set<TLSSocket>();
  // The ALPN callback runs on each ClientHello: proof that a client began a handshake here.
  const ALPNCallback = ({ protocols }: { protocols: string[] }) => {
    clientHellos++;
    return protocols[0];
  };
  // With `onSecure`, a client certificate is asked for (and not verified: the test looks at it).
  const server = createServer({ ...credentials, ALPNCallback, ...(onSecure ? { requestCert: true, rejectUnauthorized: false } : {}) }, (socket) => {
    onSecure?.(socket);
    sockets.add(socket);
    socket.on("data", (chunk: Buffer) => (received += chunk.length));
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
    socket.end("hello from the server\n");
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    get clientHellos() {
      return clientHellos;
    },
    received: () => received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const dataDir = mkdtempSync(join(tmpdir(), "pier-dial-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

function agentConfig(port: number, fingerprint: string, env: Record<string, string> = {}, flags: Record<string, string> = {}): AgentConfig {
  const address = `127.0.0.1:${port}`;
  const edgeKey = encodeEdgeKey({ apiUrl: `https://${address}`, tunnelAddress: address, serverFingerprint: fingerprint, environmentId: 0 });
  return loadAgentConfig({ flags: { data: dataDir, ...flags }, env: { EDGE_ID: "dial-test", EDGE_KEY: edgeKey, ...env } });
}

/** Dials, reads what the server says until it closes, and reports whether the session was resumed. */
async function dialAndRead(config: AgentConfig, port: number): Promise<{ reused: boolean }> {
  const socket = await dialServer(config, { host: "127.0.0.1", port }, "http/1.1", new AbortController().signal);
  const reused = socket.isSessionReused();
  await new Promise<void>((resolve) => {
    socket.on("data", () => undefined);
    socket.on("close", () => resolve());
  });
  return { reused };
}

async function refusal(promise: Promise<unknown>): Promise<AgentError> {
  const error = await promise.then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(AgentError);
  return error as AgentError;
}

describe("dialServer verifies the server by the EDGE_KEY pin", () => {
  const genuine = serverCertificate();
  const impostor = serverCertificate();

  it("with EDGE_INSECURE_POLL=1 still refuses a server whose key is not the pinned one, before sending anything", async () => {
    const fake = await recordingServer(impostor);
    try {
      const config = agentConfig(fake.port, genuine.fingerprint, { EDGE_INSECURE_POLL: "1" });
      expect(config.insecurePoll).toBe(true);
      const error = await refusal(dialServer(config, { host: "127.0.0.1", port: fake.port }, "h2", new AbortController().signal));
      expect(error.code).toBe("server_untrusted");
      expect(error.explained?.code).toBe("server_fingerprint_mismatch");
      expect(error.message).toContain(impostor.fingerprint.slice(0, 16));
      expect(error.message).toContain(genuine.fingerprint.slice(0, 16));
      expect(error.message).toMatch(/EDGE_INSECURE_POLL=1 skips only the CA file's check, never this one/);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(fake.clientHellos).toBe(1); // precondition: the agent did open a TLS connection to the impostor
      expect(fake.received()).toBe(0); // …and got no byte of application data
    } finally {
      await fake.close();
    }
  });

  it("with EDGE_INSECURE_POLL=1 and a CA file that did not issue the server's certificate, connects when the pin matches", async () => {
    const server = await recordingServer(genuine);
    const unrelatedCa = join(dataDir, "unrelated-ca.crt");
    writeFileSync(unrelatedCa, impostor.cert);
    try {
      const withoutInsecure = agentConfig(server.port, genuine.fingerprint, {}, { mtlscacert: unrelatedCa });
      await refusal(dialServer(withoutInsecure, { host: "127.0.0.1", port: server.port }, "http/1.1", new AbortController().signal));
      const insecure = agentConfig(server.port, genuine.fingerprint, { EDGE_INSECURE_POLL: "1" }, { mtlscacert: unrelatedCa });
      await dialAndRead(insecure, server.port);
      expect(insecure.warnings.join("\n")).toMatch(/still verified by the SPKI fingerprint pinned in EDGE_KEY/);
    } finally {
      await server.close();
    }
  });

  it("a TLS session kept from the genuine server does not let an impostor on the same address skip the pin", async () => {
    const real = await recordingServer(genuine);
    const port = real.port;
    const config = agentConfig(port, genuine.fingerprint, { EDGE_INSECURE_POLL: "1" });
    await dialAndRead(config, port);
    // Precondition: the agent does resume sessions with this server (so the cache is in play).
    expect((await dialAndRead(config, port)).reused).toBe(true);
    await real.close();
    const fake = await recordingServer(impostor, port);
    try {
      const error = await refusal(dialServer(config, { host: "127.0.0.1", port }, "h2", new AbortController().signal));
      expect(error.explained?.code).toBe("server_fingerprint_mismatch");
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(fake.clientHellos).toBe(1);
      expect(fake.received()).toBe(0);
    } finally {
      await fake.close();
    }
  });
});

describe("dialServer resumes TLS sessions", () => {
  it("with a client certificate, resumes only with the certificate the session was made with", async () => {
    const seen: { fingerprint: string | undefined; reused: boolean }[] = [];
    const credentials = serverCertificate();
    const server = await recordingServer(credentials, 0, (socket) => seen.push({ fingerprint: socket.getPeerX509Certificate()?.fingerprint256, reused: socket.isSessionReused() }));
    const first = clientCertificate("device-first-key");
    const renewed = clientCertificate("device-renewed-key");
    const fingerprintOf = (pem: string) => new X509Certificate(pem).fingerprint256;
    try {
      const config = agentConfig(server.port, credentials.fingerprint);
      const dial = async (client: { cert: string; key: string }) => {
        const identity = { cert: Buffer.from(client.cert), key: Buffer.from(client.key) };
        const socket = await dialServer(config, { host: "127.0.0.1", port: server.port }, "http/1.1", new AbortController().signal, identity);
        await new Promise<void>((resolve) => socket.on("close", () => resolve()).on("data", () => undefined));
      };
      await dial(first);
      await dial(first);
      await dial(renewed);
      await dial(renewed);
      await dial(first);
      expect(seen).toEqual([
        { fingerprint: fingerprintOf(first.cert), reused: false },
        { fingerprint: fingerprintOf(first.cert), reused: true },
        // A new certificate never resumes the old one's session: the server must see it.
        { fingerprint: fingerprintOf(renewed.cert), reused: false },
        { fingerprint: fingerprintOf(renewed.cert), reused: true },
        // Only one identity's session is kept per server: the old one was replaced.
        { fingerprint: fingerprintOf(first.cert), reused: false },
      ]);
    } finally {
      await server.close();
    }
  });
});
