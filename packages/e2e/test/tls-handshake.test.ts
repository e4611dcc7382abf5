import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { connect, createServer, type Server, type TLSSocket } from "node:tls";
import type { AddressInfo } from "node:net";
import { pier, tempDir, type TempDir } from "../src/index.ts";

let dir: TempDir;
let server: Server;
let port: number;
/** Resolvers waiting for the server's next refusal of a client certificate. */
const refusalWaiters: ((reason: string) => void)[] = [];

const read = (name: string) => readFileSync(dir.file(name));

type Outcome = { ok: true; reply: string } | { ok: false; code: string; message: string };

/**
 * Connects as a client with the given pier-issued files. Under TLS 1.3 the client finishes its
 * handshake before the server has judged the client certificate, so success means the server's
 * greeting arrived, not merely that the client's handshake completed.
 */
function handshake(options: { cert?: string; key?: string; ca?: string }): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    const socket: TLSSocket = connect({
      host: "127.0.0.1",
      port,
      servername: "pier.example.com",
      ca: read(options.ca ?? "ca/ca.crt"),
      minVersion: "TLSv1.2",
      ...(options.cert ? { cert: read(options.cert), key: read(options.key ?? "") } : {}),
    });
    let reply = "";
    let failure: NodeJS.ErrnoException | undefined;
    socket.on("data", (chunk: Buffer) => (reply += chunk.toString()));
    socket.on("error", (error: NodeJS.ErrnoException) => (failure = error));
    socket.on("close", () => {
      if (reply !== "") resolve({ ok: true, reply });
      else resolve({ ok: false, code: failure?.code ?? "closed", message: failure?.message ?? "closed without a reply" });
    });
  });
}

/** The server's reason for refusing the next client certificate (or "none" after two seconds). */
function nextRefusal(): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve("none"), 2000);
    refusalWaiters.push((reason) => {
      clearTimeout(timer);
      resolve(reason);
    });
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
  // The server asks for a certificate and judges it itself, as Pier's server does: Node's own
  // rejectUnauthorized drops the connection without saying why, and the reason is what an
  // operator needs in the log.
  server = createServer(
    { cert: read("server.crt"), key: read("server.key"), ca: read("ca/ca.crt"), crl: read("crl.pem"), requestCert: true, rejectUnauthorized: false, minVersion: "TLSv1.2" },
    (socket) => {
      if (!socket.authorized) {
        refusalWaiters.shift()?.(String(socket.authorizationError));
        socket.destroy();
        return;
      }
      socket.end(`hello ${String(socket.getPeerCertificate().subject.CN)}`);
    },
  );
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

  it("fails without a client certificate", async () => {
    const refusal = nextRefusal();
    expect((await handshake({})).ok).toBe(false);
    expect(await refusal).toBe("UNABLE_TO_GET_ISSUER_CERT");
  });

  it("fails for a revoked client certificate, the server saying why", async () => {
    const refusal = nextRefusal();
    const result = await handshake({ cert: "revoked.crt", key: "revoked.key" });
    expect(result.ok).toBe(false);
    expect(await refusal).toBe("CERT_REVOKED");
  });

  it("fails for a client certificate from a foreign CA", async () => {
    const refusal = nextRefusal();
    const result = await handshake({ cert: "foreign-client.crt", key: "foreign-client.key" });
    expect(result.ok).toBe(false);
    expect(await refusal).toBe("UNABLE_TO_VERIFY_LEAF_SIGNATURE");
  });

  it("fails when the client trusts a different CA than the one that signed the server", async () => {
    const result = await handshake({ cert: "good.crt", key: "good.key", ca: "foreign/ca.crt" });
    expect(result.ok).toBe(false);
    // OpenSSL completes the server's chain with the CA it trusts, so the client sees a
    // self-signed root it does not know.
    expect(result.ok ? "" : result.code).toMatch(/^(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/);
  });
});
