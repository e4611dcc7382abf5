import { type ChildProcess, spawn } from "node:child_process";
import http from "node:http";
import net from "node:net";
import tls from "node:tls";
import { describe, expect, it, vi } from "vitest";
import { parseCertificate } from "../certificate.ts";
import { parsePem } from "../pem.ts";
import { type TestServer, listen, mtlsOptions, startTlsServer, useOpensslFixtures } from "./openssl-fixtures.testkit.ts";
import { type TlsFailureCode, explainServerSideTlsError, explainTlsFailure, inferClientCertificateRejection } from "./tls-failure.ts";

// Every error below is produced by a real handshake (Node's TLS, or OpenSSL's s_server and
// s_client), so the mapping is pinned to what Node 24 and OpenSSL 3 actually emit.
const fixtures = useOpensslFixtures("pier-tls-failure-");
const { pem } = fixtures;
const tlsServer = (options: tls.TlsOptions) => startTlsServer(fixtures, options);
const mtls = () => mtlsOptions(fixtures);

/** Connects like Pier's agent would; resolves with the error, or "ok" / "closed after handshake". */
function connect(port: number, options: tls.ConnectionOptions = {}): Promise<unknown> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ca: pem("ca"), ...options });
    socket.on("secureConnect", () => {
      socket.on("session", () => resolve("ok"));
      socket.on("close", () => resolve("closed after handshake"));
    });
    socket.on("error", (error) => resolve(error));
    setTimeout(() => socket.destroy(), 2000).unref();
  });
}

const client = (error: unknown, haveClientCertificate = false, extra: { clientCertificateRequested?: "yes" | "no" | "unknown"; servername?: string } = {}) =>
  explainTlsFailure(error, { side: "client", haveClientCertificate, ...extra });

async function serverCode(scenario: TestServer, withSocket = true): Promise<TlsFailureCode> {
  await vi.waitFor(() => expect(scenario.clientErrors.length).toBeGreaterThan(0));
  const { error, socket } = scenario.clientErrors.at(-1)!;
  return explainServerSideTlsError(error, withSocket ? socket : undefined).code;
}

describe("explainTlsFailure: the client's view, from real Node errors", () => {
  it("certificate required under TLS 1.3 arrives as a certificate_required alert", async () => {
    await using server = await tlsServer(mtls());
    const error = await connect(server.port);
    expect(error).toMatchObject({ code: "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED" });
    expect(client(error)).toMatchObject({
      code: "client_certificate_required",
      cause: "The server requires a client certificate and none was sent.",
      fix: "Pass --cert and --key with a certificate issued by the server's mTLS CA.",
    });
    expect(client(error).detail).toBe("ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: tlsv13 alert certificate required (alert 116 certificate_required)");
    expect(explainTlsFailure(error, { side: "client", haveClientCertificate: false, flags: { cert: "--mtlscert", key: "--mtlskey" } }).fix).toBe(
      "Pass --mtlscert and --mtlskey with a certificate issued by the server's mTLS CA.",
    );
    expect(await serverCode(server)).toBe("client_certificate_required");
  });

  it("under TLS 1.2 the same refusal is a bare handshake_failure, spelled the OpenSSL 3 way", async () => {
    await using server = await tlsServer({ ...mtls(), maxVersion: "TLSv1.2" });
    const error = await connect(server.port);
    // Not ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE: OpenSSL 3 renamed the reason to "ssl/tls alert".
    expect(error).toMatchObject({ code: "ERR_SSL_SSL/TLS_ALERT_HANDSHAKE_FAILURE" });
    expect(client(error).code).toBe("handshake_failure");
    expect(client(error).cause).toMatch(/requires a client certificate/);
    expect(client(error, false, { clientCertificateRequested: "yes" }).code).toBe("client_certificate_required");
  });

  it("a Node server drops a rejected client certificate without an alert", async () => {
    await using server = await tlsServer({ ...mtls(), maxVersion: "TLSv1.2" });
    const error = await connect(server.port, { cert: pem("foreign-client"), key: pem("foreign-client.key") });
    expect(error).toMatchObject({ code: "ECONNRESET", message: "Client network socket disconnected before secure TLS connection was established" });
    expect(client(error, true).code).toBe("client_certificate_rejected");
    expect(client(error, false).code).toBe("connection_reset");
    // Under TLS 1.3 the client even completes its handshake before the server hangs up.
    await using modern = await tlsServer(mtls());
    expect(await connect(modern.port, { cert: pem("foreign-client"), key: pem("foreign-client.key") })).toBe("closed after handshake");
  });

  // Options are thunks: the fixtures exist only once beforeAll has run.
  const serverCertificateCases: Array<[string, () => tls.TlsOptions, () => tls.ConnectionOptions, string, TlsFailureCode, RegExp]> = [
    ["unknown CA", () => ({}), () => ({ ca: pem("foreign-ca") }), "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "server_certificate_untrusted", /only the certificate itself was sent/],
    ["self-signed", () => ({ cert: pem("self-signed"), key: pem("self-signed.key") }), () => ({}), "DEPTH_ZERO_SELF_SIGNED_CERT", "server_certificate_untrusted", /it is self-signed/],
    ["expired", () => ({ cert: pem("expired-server"), key: pem("expired-server.key") }), () => ({}), "CERT_HAS_EXPIRED", "server_certificate_expired", /has expired/],
    ["revoked", () => ({ cert: pem("revoked"), key: pem("revoked.key") }), () => ({ crl: pem("crl") }), "CERT_REVOKED", "server_certificate_revoked", /revoked/],
    ["client-only EKU", () => ({ cert: pem("client"), key: pem("client.key") }), () => ({}), "INVALID_PURPOSE", "server_certificate_wrong_purpose", /serverAuth/],
    ["other name", () => ({}), () => ({ servername: "wrong.example" }), "ERR_TLS_CERT_ALTNAME_INVALID", "server_name_mismatch", /"wrong.example" \(it lists DNS:localhost, IP:127.0.0.1\)/],
  ];
  it.each(serverCertificateCases)("server certificate: %s", async (_name, serverOptions, clientOptions, nodeCode, code, cause) => {
    await using server = await tlsServer(serverOptions());
    const options = clientOptions();
    const error = await connect(server.port, options);
    expect(error).toMatchObject({ code: nodeCode });
    const servername = options.servername ?? "localhost";
    const explained = client(error, false, { servername });
    expect(explained.code).toBe(code);
    expect(explained.cause).toMatch(cause);
    // The same code string, as socket.authorizationError carries it, maps the same way.
    expect(client(nodeCode, false, { servername }).code).toBe(code);
  });

  it("wrong TLS version, plain HTTP, refused port, unknown host", async () => {
    await using modern = await tlsServer({ minVersion: "TLSv1.3" });
    const old = await connect(modern.port, { maxVersion: "TLSv1.2" });
    expect(old).toMatchObject({ code: "ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION" });
    expect(client(old).code).toBe("protocol_version_mismatch");

    await using web = await listen(http.createServer((_request, response) => response.end()));
    const plain = await connect(web.port);
    expect(plain).toMatchObject({ code: "ERR_SSL_WRONG_VERSION_NUMBER" });
    expect(client(plain).code).toBe("not_tls");
    expect(client(plain).cause).toBe("The server answered, but not with TLS: the port speaks plain HTTP or another protocol.");

    const closedPort = await listen(net.createServer());
    const port = closedPort.port;
    await closedPort[Symbol.asyncDispose]();
    const refused = await connect(port);
    expect(refused).toMatchObject({ code: "ECONNREFUSED" });
    expect(client(refused).code).toBe("connection_refused");
    expect(client(refused).cause).toContain(`refused at 127.0.0.1:${port}`);

    const unknown = await new Promise((resolve) => tls.connect({ host: "pier-doctor-test.invalid", port: 443 }).on("error", resolve));
    expect(client(unknown).code).toBe("host_not_found");
    expect(client(unknown).cause).toContain("pier-doctor-test.invalid");
  });

  it("credentials that do not load", () => {
    let mismatch: unknown;
    try {
      tls.connect({ port: 1, cert: pem("client"), key: pem("server.key") });
    } catch (error) {
      mismatch = error;
    }
    expect(mismatch).toMatchObject({ code: "ERR_OSSL_X509_KEY_VALUES_MISMATCH" });
    expect(client(mismatch, true).code).toBe("client_key_mismatch");
    let garbage: unknown;
    try {
      tls.connect({ port: 1, cert: Buffer.from("not a certificate"), key: pem("client.key") });
    } catch (error) {
      garbage = error;
    }
    expect(client(garbage, true).code).toBe("unreadable_credentials");
    expect(client(garbage, true).cause).toContain("no start line");
  });

  it("timeouts from AbortSignal.timeout()", async () => {
    await using silent = await listen(net.createServer((socket) => socket.on("error", () => {})));
    const socket = net.connect({ port: silent.port, host: "127.0.0.1", signal: AbortSignal.timeout(50) });
    const error = await new Promise((resolve) => socket.on("error", resolve));
    expect(error).toMatchObject({ name: "AbortError", code: "ABORT_ERR", cause: { name: "TimeoutError" } });
    expect(client(error).code).toBe("connection_timeout");
  });
});

/** Starts `openssl s_server` requiring a client certificate; resolves once it listens. */
async function opensslServer(version: "-tls1_2" | "-tls1_3"): Promise<{ port: number } & Disposable> {
  const child: ChildProcess = spawn(
    "openssl",
    ["s_server", "-accept", "127.0.0.1:0", "-cert", "server.pem", "-key", "server.key", "-CAfile", "ca.pem", "-Verify", "1", "-verify_return_error", version, "-naccept", "1"],
    { cwd: fixtures.dir, stdio: ["pipe", "pipe", "pipe"] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const match = /ACCEPT [\d.]+:(\d+)/.exec(output);
      if (match?.[1]) resolve(Number(match[1]));
    });
    child.on("exit", () => reject(new Error(`s_server exited: ${output}`)));
  });
  return { port, [Symbol.dispose]: () => child.kill() };
}

describe("explainTlsFailure: alerts from an OpenSSL server, which names its reasons", () => {
  const cases: Array<[string, "-tls1_2" | "-tls1_3", string | undefined, string, TlsFailureCode]> = [
    ["no certificate (TLS 1.3)", "-tls1_3", undefined, "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED", "client_certificate_required"],
    ["foreign CA", "-tls1_2", "foreign-client", "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA", "client_certificate_unknown_ca"],
    ["expired (alert after the TLS 1.3 handshake)", "-tls1_3", "expired", "ERR_SSL_SSL/TLS_ALERT_CERTIFICATE_EXPIRED", "client_certificate_expired"],
    ["serverAuth-only EKU", "-tls1_2", "wrong-eku", "ERR_SSL_SSL/TLS_ALERT_UNSUPPORTED_CERTIFICATE", "client_certificate_wrong_purpose"],
  ];
  it.each(cases)("%s", async (_name, version, certificate, nodeCode, code) => {
    using server = await opensslServer(version);
    const error = await new Promise((resolve) => {
      const socket = tls.connect({
        host: "127.0.0.1",
        port: server.port,
        servername: "localhost",
        ca: pem("ca"),
        ...(certificate ? { cert: pem(certificate), key: pem(`${certificate}.key`) } : {}),
      });
      socket.on("error", resolve);
      socket.on("close", () => resolve("closed without error"));
    });
    expect(error).toMatchObject({ code: nodeCode });
    const explained = client(error, certificate !== undefined);
    expect(explained.code).toBe(code);
    expect(explained.inferred).toBeUndefined();
  });
});

describe("explainServerSideTlsError: the server's view, from real tlsClientError events", () => {
  const rejected: Array<[string, string, TlsFailureCode, RegExp]> = [
    ["foreign CA", "foreign-client", "client_certificate_unknown_ca", /from a CA this server does not trust/],
    ["expired", "expired", "client_certificate_expired", /has expired/],
    ["serverAuth-only EKU", "wrong-eku", "client_certificate_wrong_purpose", /lacks clientAuth/],
    ["revoked", "revoked", "client_certificate_revoked", /revoked/],
  ];
  it.each(rejected)("client certificate: %s", async (name, certificate, code, cause) => {
    await using server = await tlsServer({ ...mtls(), ...(name === "revoked" ? { crl: pem("crl") } : {}) });
    await connect(server.port, { cert: pem(certificate), key: pem(`${certificate}.key`) });
    await vi.waitFor(() => expect(server.clientErrors.length).toBeGreaterThan(0));
    const { error, socket } = server.clientErrors[0]!;
    // What Node hands the event is only a hang-up; the reason is on the socket.
    expect(error).toMatchObject({ code: "ECONNRESET", message: "socket hang up" });
    expect(explainServerSideTlsError(error, socket).code).toBe(code);
    expect(explainServerSideTlsError(error, socket).cause).toMatch(cause);
    expect(explainServerSideTlsError(error).code).toBe("connection_reset");
  });

  it("no certificate, plain HTTP, old TLS, slow client", async () => {
    await using strict = await tlsServer(mtls());
    await connect(strict.port);
    expect(await serverCode(strict)).toBe("client_certificate_required");

    await using web = await tlsServer({});
    await new Promise<void>((resolve) => {
      const socket = net.connect(web.port, "127.0.0.1", () => socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
      socket.on("close", () => resolve());
      socket.on("error", () => {});
    });
    await vi.waitFor(() => expect(web.clientErrors.length).toBe(1));
    expect(web.clientErrors[0]?.error).toMatchObject({ code: "ERR_SSL_HTTP_REQUEST" });
    expect(explainServerSideTlsError(web.clientErrors[0]?.error)).toMatchObject({ code: "not_tls", fix: "Make the client use https:// instead of http://." });

    await using modern = await tlsServer({ minVersion: "TLSv1.3" });
    await connect(modern.port, { maxVersion: "TLSv1.2" });
    expect(await serverCode(modern)).toBe("protocol_version_mismatch");

    await using impatient = await tlsServer({ handshakeTimeout: 100 });
    const idle = net.connect(impatient.port, "127.0.0.1");
    idle.on("error", () => {});
    expect(await serverCode(impatient)).toBe("handshake_timeout");
    idle.destroy();
  });

  it("a Node client that rejects the server's certificate just hangs up", async () => {
    await using server = await tlsServer({});
    await connect(server.port, { ca: pem("foreign-ca") });
    const code = await serverCode(server);
    expect(code).toBe("connection_reset");
    expect(explainServerSideTlsError(server.clientErrors[0]?.error).cause).toMatch(/Node\.js clients do this when they reject the server's certificate/);
  });

  const sClientCases: Array<[string, string[], string, TlsFailureCode]> = [
    ["unknown CA", ["-CAfile", "foreign-ca.pem", "-servername", "localhost"], "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA", "server_certificate_untrusted"],
    ["host name mismatch", ["-CAfile", "ca.pem", "-verify_hostname", "wrong.example"], "ERR_SSL_SSL/TLS_ALERT_BAD_CERTIFICATE", "server_certificate_rejected"],
  ];
  it.each(sClientCases)("an OpenSSL client that rejects the server's certificate: %s", async (_name, args, nodeCode, code) => {
    await using server = await tlsServer({});
    const child = spawn("openssl", ["s_client", "-connect", `127.0.0.1:${server.port}`, "-verify_return_error", ...args], { cwd: fixtures.dir, stdio: ["pipe", "ignore", "ignore"] });
    child.stdin.end();
    await vi.waitFor(() => expect(server.clientErrors.length).toBeGreaterThan(0));
    child.kill();
    expect(server.clientErrors[0]?.error).toMatchObject({ code: nodeCode });
    expect(await serverCode(server)).toBe(code);
  });
});

describe("text-only errors and other spellings", () => {
  it("reads OpenSSL 1.1.1 alert codes and log lines", () => {
    expect(client({ code: "ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED", message: "sslv3 alert certificate revoked" }, true).code).toBe("client_certificate_revoked");
    expect(client({ code: "ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE", message: "" }, true).code).toBe("client_certificate_rejected");
    expect(client({ code: "ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE", message: "" }, false).code).toBe("client_certificate_required");
    expect(client({ code: "ERR_SSL_TLSV1_UNRECOGNIZED_NAME", message: "" }, false).code).toBe("server_name_unrecognized");
    expect(client("CERT_NOT_YET_VALID").code).toBe("server_certificate_not_yet_valid");
    expect(explainServerSideTlsError(new Error("certificate verify failed: unsupported certificate purpose")).code).toBe("client_certificate_wrong_purpose");
    expect(explainServerSideTlsError("SSL_do_handshake() failed: certificate verify failed: unable to get local issuer certificate").code).toBe("client_certificate_unknown_ca");
    expect(explainServerSideTlsError({ message: "peer did not return a certificate" }).code).toBe("client_certificate_required");
    expect(client(new Error("something odd"))).toMatchObject({ code: "tls_error", cause: "The TLS connection failed: something odd." });
  });

  it("infers why a server dropped our certificate, in OpenSSL's order", () => {
    const certificate = (name: string) => parseCertificate(parsePem(pem(name))[0]!.der);
    const caName = certificate("ca").subjectDer;
    expect(inferClientCertificateRejection(certificate("client"), [caName])).toBeUndefined();
    expect(inferClientCertificateRejection(certificate("foreign-client"), [caName])?.code).toBe("client_certificate_unknown_ca");
    expect(inferClientCertificateRejection(certificate("wrong-eku"), [caName])?.code).toBe("client_certificate_wrong_purpose");
    expect(inferClientCertificateRejection(certificate("expired"), [caName])).toMatchObject({
      code: "client_certificate_expired",
      inferred: "the server gave no reason; our certificate expired on 2020-01-02T00:00:00Z",
    });
    // Without the server's CA list, the issuer cannot be judged.
    expect(inferClientCertificateRejection(certificate("foreign-client"))).toBeUndefined();
  });
});
