import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { connect, createServer, type Server, type TLSSocket } from "node:tls";
import type { AddressInfo } from "node:net";
import { pier, tempDir, type TempDir } from "../src/index.ts";

let dir: TempDir;
let server: Server;
let port: number;
const serverErrors: string[] = [];

const read = (name: string) => readFileSync(dir.file(name));

/** Connects as a client with the given pier-issued files; resolves with the server's reply or the error. */
function handshake(options: { cert?: string; key?: string; ca?: string }): Promise<{ ok: true; reply: string } | { ok: false; code: string; message: string }> {
  return new Promise((resolve) => {
    const socket: TLSSocket = connect({
      host: "127.0.0.1",
      port,
      servername: "pier.example.com",
      ca: read(options.ca ?? "ca/ca.crt"),
      minVersion: "TLSv1.2",
      ...(options.cert ? { cert: read(options.cert), key: read(options.key ?? "") } : {}),
    });
    let reply = "";
    socket.on("data", (chunk: Buffer) => (reply += chunk.toString()));
    socket.on("end", () => resolve({ ok: true, reply }));
    socket.on("error", (error: NodeJS.ErrnoException) => resolve({ ok: false, code: error.code ?? "", message: error.message }));
  });
}

beforeAll(async () => {
  dir = tempDir("tls");
  const steps = [
    ["ca", "init", "--dir", "ca"],
    ["ca", "issue", "server", "--dir", "ca", "--san", "DNS:pier.example.com", "--out", "server"],
    ["ca", "issue", "client", "--dir", "ca", "--cn", "edge-good", "--out", "good"],
    ["ca", "issue", "client", "--dir", "ca", "--cn", "edge-revoked", "--out", "revoked"],
    ["ca", "revoke", "--dir", "ca", "--cert", "revoked.crt"],
    ["ca", "crl", "--dir", "ca", "--out", "crl.pem"],
    ["ca", "init", "--dir", "foreign"],
    ["ca", "issue", "client", "--dir", "foreign", "--cn", "edge-foreign", "--out", "foreign-client"],
  ];
  for (const args of steps) {
    const result = pier(args, { cwd: dir.path });
    if (result.status !== 0) throw new Error(`pier ${args.join(" ")} failed: ${result.output}`);
  }
  server = createServer(
    { cert: read("server.crt"), key: read("server.key"), ca: read("ca/ca.crt"), crl: read("crl.pem"), requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.2" },
    (socket) => socket.end(`hello ${String(socket.getPeerCertificate().subject.CN)}`),
  );
  server.on("tlsClientError", (error: NodeJS.ErrnoException) => serverErrors.push(error.message));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await dir[Symbol.asyncDispose]();
});

describe("mutual TLS on loopback with pier-issued certificates", () => {
  it("succeeds with a client certificate from the trusted CA", async () => {
    expect(await handshake({ cert: "good.crt", key: "good.key" })).toEqual({ ok: true, reply: "hello edge-good" });
  });

  it("fails for a revoked client certificate, the server saying why", async () => {
    const result = await handshake({ cert: "revoked.crt", key: "revoked.key" });
    expect(result.ok).toBe(false);
    expect(serverErrors.at(-1)).toMatch(/certificate revoked/);
  });

  it("fails for a client certificate from a foreign CA", async () => {
    const result = await handshake({ cert: "foreign-client.crt", key: "foreign-client.key" });
    expect(result.ok).toBe(false);
    expect(serverErrors.at(-1)).toMatch(/unable to get local issuer certificate|unknown ca/);
  });

  it("fails when the client trusts a different CA than the one that signed the server", async () => {
    const result = await handshake({ cert: "good.crt", key: "good.key", ca: "foreign/ca.crt" });
    expect(result).toMatchObject({ ok: false, code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" });
  });
});
