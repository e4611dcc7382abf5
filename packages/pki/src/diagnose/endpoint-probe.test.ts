import { execFileSync } from "node:child_process";
import http from "node:http";
import net from "node:net";
import type tls from "node:tls";
import { describe, expect, it, vi } from "vitest";
import { type EndpointReport, formatEndpointReport, probeEndpoint } from "./endpoint-probe.ts";
import { type TestServer, listen, mtlsOptions, startTlsServer as startFixtureTlsServer, useOpensslFixtures } from "./openssl-fixtures.testkit.ts";
import { explainServerSideTlsError } from "./tls-failure.ts";

// Certificates are made per run with the real openssl CLI, so the probe is tested against
// what operators' tools produce, not against our own issuer.
const fixtures = useOpensslFixtures("pier-endpoint-probe-");
const { pem } = fixtures;
const startTlsServer = (options: tls.TlsOptions) => startFixtureTlsServer(fixtures, options);
const mtls = () => mtlsOptions(fixtures);

async function serverSideCodes(server: TestServer, expected: string): Promise<string[]> {
  const codes = () => server.clientErrors.map(({ error, socket }) => explainServerSideTlsError(error, socket).code);
  // The server learns of the failure a moment after the client does.
  await vi.waitFor(() => expect(codes()).toContain(expected));
  return codes();
}

describe("probeEndpoint", () => {
  it("reports protocol, chain, trust and 'not requested' for a plain TLS server", async () => {
    await using server = await startTlsServer({});
    const report = await probeEndpoint({ host: "127.0.0.1", port: server.port, servername: "localhost", ca: pem("ca") });

    expect(report.tcp).toEqual({ reachable: true });
    expect(report.negotiated).toEqual({ protocol: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384" });
    expect(report.clientCertificate).toMatchObject({ requested: "no", required: "no", acceptableCAs: [] });
    expect(report.handshake).toEqual({ clientCertificateSent: false, ok: true });
    const leafCert = report.serverCertificate?.chain[0];
    expect(leafCert).toMatchObject({ subject: "CN=localhost", issuer: "CN=Pier mTLS CA, O=Pier", subjectAltNames: ["DNS:localhost", "IP:127.0.0.1"] });
    expect(report.serverCertificate?.trust).toEqual({ verified: true, anchors: "the given CA", method: "handshake" });
    // Cross-check the fingerprints with openssl itself.
    const fingerprint = fixtures.openssl("x509", "-in", "server.pem", "-noout", "-fingerprint", "-sha256").trim().split("=")[1];
    expect(leafCert?.sha256Fingerprint).toBe(fingerprint);
    const spki = execFileSync("sh", ["-c", "openssl x509 -in server.pem -noout -pubkey | openssl pkey -pubin -outform der | openssl dgst -sha256 -r"], { cwd: fixtures.dir, encoding: "utf8" });
    expect(report.serverCertificate?.leafSpkiSha256).toBe(spki.split(" ")[0]);

    expect(formatEndpointReport(report)).toEqual(
      expect.arrayContaining([
        `Connected to 127.0.0.1:${server.port} (TLS 1.3, TLS_AES_256_GCM_SHA384)`,
        expect.stringMatching(/^Server certificate: CN=localhost issued by CN=Pier mTLS CA, O=Pier, valid until \d{4}-\d\d-\d\dT[\d:]+Z, SAN DNS:localhost, IP:127\.0\.0\.1$/),
        "✓ trusted by the given CA and valid for localhost",
        "Client certificate: not requested",
        "Handshake without a client certificate: ok",
      ]),
    );
  });

  it("reads the CertificateRequest of an mTLS server and its acceptable CA names", async () => {
    await using server = await startTlsServer(mtls());
    const report = await probeEndpoint({ host: "127.0.0.1", port: server.port, ca: pem("ca"), cert: pem("client"), key: pem("client.key") });

    expect(report.clientCertificate).toMatchObject({ requested: "yes", required: "yes", acceptableCAs: ["CN=Pier mTLS CA, O=Pier"] });
    expect(report.handshake).toEqual({ clientCertificateSent: true, ok: true });
    expect(formatEndpointReport(report)).toContain("Client certificate: required (acceptable CAs: CN=Pier mTLS CA, O=Pier)");
    expect(formatEndpointReport(report)).toContain("Handshake with our client certificate: ok");
    // Our raw probe cancels with a user_canceled alert, which the server can tell from a failure.
    expect(await serverSideCodes(server, "handshake_cancelled")).not.toContain("connection_reset");
  });

  it("says a client certificate is required when none is given", async () => {
    await using server = await startTlsServer(mtls());
    const report = await probeEndpoint({ host: "127.0.0.1", port: server.port, ca: pem("ca") });

    expect(report.handshake?.ok).toBe(false);
    expect(report.handshake?.failure).toMatchObject({ code: "client_certificate_required", cause: "The server requires a client certificate and none was sent." });
    expect(await serverSideCodes(server, "client_certificate_required")).toBeTruthy();
  });

  it("tells a client certificate from a foreign CA apart from a missing one", async () => {
    await using server = await startTlsServer(mtls());
    const report = await probeEndpoint({ host: "127.0.0.1", port: server.port, ca: pem("ca"), cert: pem("foreign-client"), key: pem("foreign-client.key") });

    // A Node server closes without an alert; the probe names the reason from the CA list it saw.
    expect(report.handshake?.failure?.code).toBe("client_certificate_unknown_ca");
    expect(report.handshake?.failure?.inferred).toMatch(/issued by CN=Foreign CA, which is not among the CAs it accepts/);
    await serverSideCodes(server, "client_certificate_unknown_ca");
  });

  it.each(["TLSv1.2", "TLSv1.3"] as const)("names an expired client certificate (%s)", async (version) => {
    await using server = await startTlsServer({ ...mtls(), maxVersion: version });
    const report = await probeEndpoint({ host: "127.0.0.1", port: server.port, ca: pem("ca"), cert: pem("expired"), key: pem("expired.key") });

    expect(report.handshake?.failure?.code).toBe("client_certificate_expired");
    expect(report.handshake?.failure?.inferred).toMatch(/expired on 2020-01-02T00:00:00Z/);
    // Under TLS 1.2 no handshake completes, so the server certificate is judged locally.
    expect(report.serverCertificate?.trust).toMatchObject({ verified: true, method: version === "TLSv1.2" ? "local" : "handshake" });
    await serverSideCodes(server, "client_certificate_expired");
  });

  it("names a client certificate without clientAuth", async () => {
    await using server = await startTlsServer(mtls());
    const report = await probeEndpoint({ host: "127.0.0.1", port: server.port, ca: pem("ca"), cert: pem("wrong-eku"), key: pem("wrong-eku.key") });

    expect(report.handshake?.failure?.code).toBe("client_certificate_wrong_purpose");
    expect(report.handshake?.failure?.cause).toMatch(/clientAuth/);
    await serverSideCodes(server, "client_certificate_wrong_purpose");
  });

  it("reports an untrusted server certificate, through the handshake and checked locally", async () => {
    await using plain = await startTlsServer({});
    const viaHandshake = await probeEndpoint({ host: "127.0.0.1", port: plain.port, ca: pem("foreign-ca") });
    expect(viaHandshake.serverCertificate?.trust).toMatchObject({ verified: false, method: "handshake", failure: { code: "server_certificate_untrusted" } });
    expect(formatEndpointReport(viaHandshake)).toContainEqual(expect.stringMatching(/^✗ The server's certificate is not signed by a CA we trust .* — Pass --ca /));

    // A TLS 1.2 mTLS server refuses both our handshakes, so Pier verifies the presented chain itself.
    await using strict = await startTlsServer({ ...mtls(), maxVersion: "TLSv1.2" });
    const local = await probeEndpoint({ host: "127.0.0.1", port: strict.port, ca: pem("foreign-ca") });
    expect(local.serverCertificate?.chainSource).toBe("tls12-probe");
    expect(local.serverCertificate?.trust).toMatchObject({ verified: false, method: "local", failure: { code: "server_certificate_untrusted" } });
  });

  it("reports a name the server certificate does not cover", async () => {
    await using server = await startTlsServer({});
    const report = await probeEndpoint({ host: "127.0.0.1", port: server.port, servername: "wrong.example", ca: pem("ca") });

    expect(report.checkedName).toBe("wrong.example");
    expect(report.serverCertificate?.trust.failure?.code).toBe("server_name_mismatch");
    expect(report.serverCertificate?.trust.failure?.cause).toBe('The server\'s certificate does not cover the name "wrong.example" (it lists DNS:localhost, IP:127.0.0.1).');
  });

  it("reports a refused connection on a closed port", async () => {
    const closed = await listen(net.createServer());
    const port = closed.port;
    await closed[Symbol.asyncDispose]();
    const report = await probeEndpoint({ host: "127.0.0.1", port });

    expect(report.tcp).toMatchObject({ reachable: false, failure: { code: "connection_refused" } });
    expect(report.handshake).toBeUndefined();
    expect(formatEndpointReport(report)).toEqual([expect.stringMatching(new RegExp(`^✗ Cannot connect to 127\\.0\\.0\\.1:${port}: The connection was refused`))]);
  });

  it("recognises a plain HTTP server as not TLS", async () => {
    await using server = await listen(http.createServer((_request, response) => response.end("hello")));
    const report = await probeEndpoint({ host: "127.0.0.1", port: server.port });

    expect(report.tcp.reachable).toBe(true);
    expect(report.handshake?.failure?.code).toBe("not_tls");
    expect(report.clientCertificate.requested).toBe("unknown");
    expect(report.clientCertificate.probe).toContain('it sent "HTTP/1.1 400 Bad Request"');
    expect(report.serverCertificate).toBeUndefined();
    expect(formatEndpointReport(report)[0]).toBe(`Connected to 127.0.0.1:${server.port} (TCP only; no TLS session was negotiated)`);
  });

  it("falls back to the real handshake for a TLS 1.3-only server", async () => {
    await using server = await startTlsServer({ ...mtls(), minVersion: "TLSv1.3" });
    const report = await probeEndpoint({ host: "127.0.0.1", port: server.port, ca: pem("ca") });

    expect(report.clientCertificate).toMatchObject({ requested: "unknown", required: "yes", acceptableCAs: [] });
    expect(report.clientCertificate.probe).toMatch(/refused TLS 1\.2 \(protocol_version alert\)/);
    expect(report.handshake?.failure?.code).toBe("client_certificate_required");
    expect(formatEndpointReport(report)).toContainEqual(expect.stringMatching(/^Client certificate: required \(the server refused TLS 1\.2/));
  });

  it("reassembles handshake messages split across records and TCP reads", async () => {
    await using server = await startTlsServer(mtls());
    await using proxy = await startRefragmentingProxy(server.port);
    const report = await probeEndpoint({ host: "127.0.0.1", port: proxy.port, ca: pem("ca"), cert: pem("client"), key: pem("client.key") });

    expect(report.clientCertificate).toMatchObject({ requested: "yes", acceptableCAs: ["CN=Pier mTLS CA, O=Pier"] });
    expect(report.serverCertificate?.chainSource).toBe("tls12-probe");
    expect(report.serverCertificate?.chain.map((c) => c.subject)).toEqual(["CN=localhost", "CN=Pier mTLS CA, O=Pier"]);
    expect(report.handshake?.ok).toBe(true);
  });

  it("times out on a server that accepts TCP but never speaks", async () => {
    await using server = await listen(net.createServer((socket) => socket.on("error", () => {})));
    const started = Date.now();
    const report: EndpointReport = await probeEndpoint({ host: "127.0.0.1", port: server.port, timeoutMs: 300 });

    expect(report.tcp.reachable).toBe(true);
    expect(report.handshake?.failure?.code).toBe("handshake_timeout");
    expect(report.clientCertificate.requested).toBe("unknown");
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("refuses a certificate without its key", async () => {
    await expect(probeEndpoint({ host: "127.0.0.1", port: 1, cert: pem("client") })).rejects.toMatchObject({ code: "invalid_argument" });
  });
});

/**
 * A TCP proxy that re-cuts the server's plaintext handshake records into 7-byte records and
 * drips every byte stream out 3 bytes at a time, so records arrive split and messages span
 * records. Encrypted traffic (after the first non-handshake record) passes unchanged.
 */
async function startRefragmentingProxy(upstreamPort: number): Promise<TestServer> {
  const server = net.createServer((client) => {
    client.setNoDelay(true);
    const upstream = net.connect(upstreamPort, "127.0.0.1");
    client.pipe(upstream);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    upstream.on("close", () => client.destroy());
    let queue = Promise.resolve();
    const drip = (data: Buffer) => {
      queue = queue.then(async () => {
        for (let i = 0; i < data.length && !client.destroyed; i += 3) {
          client.write(data.subarray(i, i + 3));
          await new Promise((resolve) => setImmediate(resolve));
        }
      });
    };
    let pending = Buffer.alloc(0);
    let passThrough = false;
    upstream.on("data", (chunk: Buffer) => {
      if (passThrough) return drip(chunk);
      pending = Buffer.concat([pending, chunk]);
      while (!passThrough && pending.length >= 5) {
        const length = pending.readUInt16BE(3);
        if (pending[0] !== 22) {
          passThrough = true;
          drip(pending);
          break;
        }
        if (pending.length < 5 + length) break;
        const body = pending.subarray(5, 5 + length);
        for (let i = 0; i < body.length; i += 7) {
          const piece = body.subarray(i, i + 7);
          drip(Buffer.concat([pending.subarray(0, 3), Buffer.from([0, piece.length]), piece]));
        }
        pending = pending.subarray(5 + length);
      }
    });
  });
  return listen(server);
}
