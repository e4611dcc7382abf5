import { spawnSync } from "node:child_process";
import http2 from "node:http2";
import https from "node:https";
import net from "node:net";
import tls from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { ConnectionBudget, type ConnectionShed } from "./connection-budget.ts";
import { type TestCa, type TestPki, createTestPki, names, testHandler, uiServerRequest } from "./tls-fixtures.testkit.ts";
import { type FrontMaterial, type ProxyRefusal, type TlsFrontOptions, TlsFront } from "./tls-front.ts";
import { ProxySources } from "./proxy-protocol.ts";
import { loadFrontMaterial } from "./tls-reloader.ts";

// The front listens on 127.0.0.1; "the balancer" connects from 127.0.0.1 (listed), a direct
// client from 127.0.0.2 (not listed): Linux routes all of 127/8 to loopback.
const balancer = "127.0.0.1";
const direct = "127.0.0.2";

let pki: TestPki;
let ca: TestCa;
let material: FrontMaterial;

beforeAll(async () => {
  pki = createTestPki();
  ca = await pki.createCa("proxy");
  const server = await pki.issue(ca, "ui", uiServerRequest());
  material = await loadFrontMaterial({ server: { certPath: server.certPath, keyPath: server.keyPath } });
});
afterAll(async () => {
  await pki[Symbol.asyncDispose]();
});
afterEach(() => {
  vi.restoreAllMocks();
});

interface Running extends AsyncDisposable {
  readonly port: number;
  readonly refusals: ProxyRefusal[];
  readonly sheds: ConnectionShed[];
}

async function startFront(options: Partial<TlsFrontOptions> = {}): Promise<Running> {
  const refusals: ProxyRefusal[] = [];
  const sheds: ConnectionShed[] = [];
  const front = new TlsFront({
    material,
    policy: { mode: "none" },
    handler: testHandler,
    proxySources: ProxySources.parse(`${balancer}/32`),
    onProxyRefusal: (refusal) => refusals.push(refusal),
    onShed: (shed) => sheds.push(shed),
    ...options,
  });
  const { port } = await front.listen(0, "127.0.0.1");
  return { port, refusals, sheds, [Symbol.asyncDispose]: () => front.close() };
}

/** A TCP connection from `from` that first writes `header` (the balancer's part). */
function rawConnection(port: number, from: string, header: Buffer): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1", localAddress: from }, () => {
      socket.write(header);
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

/** GET / over HTTP/1.1 on a TLS connection made over `socket`; the JSON identity, or the error. */
function h1Over(socket: net.Socket): Promise<{ remoteAddress: string } | Error> {
  return new Promise((resolve) => {
    const request = https.request({ path: "/", headers: { connection: "close" }, createConnection: () => tls.connect({ socket, servername: names.ui, ca: ca.pem }) }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve(JSON.parse(body) as { remoteAddress: string }));
    });
    request.on("error", resolve);
    request.end();
  });
}

/** GET / over HTTP/2 on a TLS connection made over `socket`. */
function h2Over(socket: net.Socket): Promise<{ remoteAddress: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://${names.ui}`, { createConnection: () => tls.connect({ socket, servername: names.ui, ca: ca.pem, ALPNProtocols: ["h2"] }) });
    session.on("error", reject);
    const request = session.request({ ":path": "/" });
    let body = "";
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => (body += chunk));
    request.on("end", () => {
      session.close();
      resolve(JSON.parse(body) as { remoteAddress: string });
    });
    request.on("error", reject);
    request.end();
  });
}

function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => (socket.destroyed ? resolve() : socket.once("close", () => resolve())));
}

const v1 = (address: string, port = 40_000) => Buffer.from(`PROXY TCP${address.includes(":") ? 6 : 4} ${address} ${address.includes(":") ? "::1" : "127.0.0.1"} ${port} 443\r\n`);

function v2(command: "PROXY" | "LOCAL", source: number[] = [0, 0, 0, 0]): Buffer {
  const body = Buffer.concat([Buffer.from(source), Buffer.from([127, 0, 0, 1]), Buffer.from([0x9c, 0x40, 0x01, 0xbb])]);
  return Buffer.concat([Buffer.from("0d0a0d0a000d0a515549540a", "hex"), Buffer.of(command === "PROXY" ? 0x21 : 0x20, 0x11, 0, body.length), body]);
}

describe("TlsFront with --proxy-protocol-from", () => {
  it("gives a listed balancer's connection the client address of its v1 header (HTTP/1.1) and v2 header (HTTP/2)", async () => {
    await using running = await startFront();
    expect(await h1Over(await rawConnection(running.port, balancer, v1("198.51.100.23")))).toMatchObject({ remoteAddress: "198.51.100.23" });
    expect(await h1Over(await rawConnection(running.port, balancer, v1("2001:db8::23")))).toMatchObject({ remoteAddress: "2001:db8::23" });
    expect(await h2Over(await rawConnection(running.port, balancer, v2("PROXY", [203, 0, 113, 5])))).toMatchObject({ remoteAddress: "203.0.113.5" });
    expect(running.refusals).toEqual([]);
  });

  it("gives a LOCAL connection (a health check) the balancer's own address", async () => {
    await using running = await startFront();
    expect(await h1Over(await rawConnection(running.port, balancer, v2("LOCAL")))).toMatchObject({ remoteAddress: balancer });
  });

  it("closes a listed balancer's connection that starts TLS without a header, and reports why", async () => {
    await using running = await startFront();
    const answer = await h1Over(await rawConnection(running.port, balancer, Buffer.alloc(0)));
    expect(answer).toBeInstanceOf(Error);
    expect(running.refusals).toEqual([{ remoteAddress: balancer, reason: expect.stringContaining("does not begin with a PROXY protocol header; its address is in --proxy-protocol-from") as unknown }]);
  });

  it("closes a listed balancer's connection whose header is garbage or too long, before reading more", async () => {
    await using running = await startFront();
    const garbage = await rawConnection(running.port, balancer, Buffer.from("PROXY TCP4 not-an-address 127.0.0.1 1 443\r\n"));
    await closed(garbage);
    const long = await rawConnection(running.port, balancer, Buffer.from(`PROXY TCP4 ${"1".repeat(200)}`));
    await closed(long);
    expect(running.refusals.map((r) => r.reason)).toEqual([expect.stringContaining("not IPv4 addresses") as unknown, expect.stringContaining("longer than 107 bytes") as unknown]);
  });

  it("closes a listed balancer that sends no header within the handshake deadline", async () => {
    await using running = await startFront({ handshakeTimeoutMs: 500 });
    const started = Date.now();
    const silent = await rawConnection(running.port, balancer, Buffer.from("PROXY TCP4 "));
    await closed(silent);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("serves a client not listed with its own address, and does not honour a header it sends", async () => {
    await using running = await startFront();
    expect(await h1Over(await rawConnection(running.port, direct, Buffer.alloc(0)))).toMatchObject({ remoteAddress: direct });
    const forged = await rawConnection(running.port, direct, v1("198.51.100.23"));
    const answer = await h1Over(forged);
    expect(answer).toBeInstanceOf(Error);
    expect(running.refusals).toEqual([{ remoteAddress: direct, reason: "it sent a PROXY protocol header, but its address is not in --proxy-protocol-from" }]);
  });

  it("closes silently a connection whose peer reset it before it was accepted (its address unknown), PROXY header and all", async () => {
    await using running = await startFront();
    // Precondition: a header from a client not listed is refused, and reported.
    await closed(await rawConnection(running.port, direct, v1("198.51.100.23")));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(running.refusals).toHaveLength(1);
    // A child connects, sends a header and resets while this event loop is blocked: the connection
    // waits in the kernel's accept queue, and once accepted Node cannot read its peer's address.
    const child = `const s = require("node:net").connect({ port: ${running.port}, host: "127.0.0.1", localAddress: "${direct}" }, () => s.write(${JSON.stringify(v1("198.51.100.24").toString())}, () => s.resetAndDestroy()))`;
    expect(spawnSync(process.execPath, ["-e", child]).status).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(running.refusals).toHaveLength(1);
    expect(running.sheds).toEqual([]);
  });

  it("destroys at accept a socket without a remote address, before counting it against the budget", async () => {
    const createServer = vi.spyOn(net, "createServer");
    await using running = await startFront({ connections: new ConnectionBudget({ maxTotal: 1, maxPerSource: 1 }) });
    const listener = createServer.mock.results[0]?.value as net.Server;
    const gone = new net.Socket();
    expect(gone.remoteAddress).toBeUndefined();
    listener.emit("connection", gone);
    expect(gone.destroyed).toBe(true);
    // The budget of one connection is still free: a real client is served.
    expect(await h1Over(await rawConnection(running.port, direct, Buffer.alloc(0)))).toMatchObject({ remoteAddress: direct });
    expect(running.refusals).toEqual([]);
    expect(running.sheds).toEqual([]);
  });

  it("counts the per-source budget for the client the header names, not for the balancer", async () => {
    const connections = new ConnectionBudget({ maxTotal: 100, maxPerSource: 1 });
    // Precondition: without the PROXY protocol both connections come from the balancer, and the second is shed.
    {
      await using plain = await startFront({ proxySources: undefined, connections: new ConnectionBudget({ maxTotal: 100, maxPerSource: 1 }) });
      const first = await rawConnection(plain.port, balancer, Buffer.alloc(0));
      const second = await rawConnection(plain.port, balancer, Buffer.alloc(0));
      await closed(second);
      expect(plain.sheds).toMatchObject([{ remoteAddress: balancer, reason: "per-source" }]);
      first.destroy();
    }
    await using running = await startFront({ connections });
    const one = await rawConnection(running.port, balancer, v1("198.51.100.1"));
    const two = await rawConnection(running.port, balancer, v1("198.51.100.2"));
    expect(await h1Over(one)).toMatchObject({ remoteAddress: "198.51.100.1" });
    expect(await h1Over(two)).toMatchObject({ remoteAddress: "198.51.100.2" });
    expect(running.sheds).toEqual([]);
    // Two open connections of one client behind the balancer: the second is shed, reported with the client's address.
    const held = await rawConnection(running.port, balancer, v1("198.51.100.3"));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const again = await rawConnection(running.port, balancer, v1("198.51.100.3"));
    await closed(again);
    expect(running.sheds).toMatchObject([{ remoteAddress: "198.51.100.3", reason: "per-source", limit: 1 }]);
    held.destroy();
  });
});
