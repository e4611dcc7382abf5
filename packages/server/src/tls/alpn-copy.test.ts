import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { describe, expect, it } from "vitest";
import { copyAlpnPerConnection } from "./alpn-copy.ts";
import { createTestPki, h1Get, h2Get, names, uiServerRequest } from "./tls-fixtures.testkit.ts";

/** An HTTP/2 server (HTTP/1.1 allowed, as the TLS front's) answering 200; the TLS sockets it accepted. */
async function serve(credential: { certPem: string; keyPem: string }, copyPerConnection: boolean) {
  const server = http2.createSecureServer({ allowHTTP1: true, cert: credential.certPem, key: credential.keyPem });
  if (copyPerConnection) copyAlpnPerConnection(server);
  const sockets: TLSSocket[] = [];
  server.on("secureConnection", (socket: TLSSocket) => sockets.push(socket));
  server.on("request", (_req, res) => res.end("ok"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, sockets, port: (server.address() as AddressInfo).port, [Symbol.asyncDispose]: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** The backing store of a server socket's copy of the ALPN list (Node's `_tlsOptions`). */
const alpnStoreBytes = (socket: TLSSocket | undefined) => (socket as unknown as { _tlsOptions: { ALPNProtocols: Uint8Array } } | undefined)?._tlsOptions.ALPNProtocols.buffer.byteLength;

describe("copyAlpnPerConnection", () => {
  it("gives each connection its own copy of the ALPN list instead of a slice of a shared 64 KiB pool slab, and still negotiates h2", async () => {
    await using pki = createTestPki();
    const ca = await pki.createCa("alpn");
    const credential = await pki.issue(ca, "ui", uiServerRequest());

    await using pooled = await serve(credential, false);
    expect((await h2Get(pooled.port, "/", { ca: ca.pem, servername: names.ui })).status).toBe(200);
    // Precondition: Node's own copy is a slice of its Buffer pool.
    expect(alpnStoreBytes(pooled.sockets[0])).toBe(Buffer.poolSize);
    expect(Buffer.poolSize).toBeGreaterThanOrEqual(8 * 1024);

    await using own = await serve(credential, true);
    const answer = await h2Get(own.port, "/", { ca: ca.pem, servername: names.ui });
    expect(answer).toMatchObject({ status: 200, body: "ok" });
    expect(own.sockets[0]?.alpnProtocol).toBe("h2");
    expect(alpnStoreBytes(own.sockets[0])).toBe("\x02h2\x08http/1.1".length);
    // The HTTP/1.1 fallback (polling agents, browsers without h2) is offered as before.
    expect((await h1Get(own.port, "/", { ca: ca.pem, servername: names.ui })).status).toBe(200);
  });
});
