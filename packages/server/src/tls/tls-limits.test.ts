import net from "node:net";
import { Duplex } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConnectionBudget, type ConnectionShed, shedLogger } from "./connection-budget.ts";
import { type UiFrontMaterial, realClientHello, uiFrontMaterial } from "./handshake.testkit.ts";
import { type TestCa, h1Get, h2Get, names, openSession, sessionGet, testHandler } from "./tls-fixtures.testkit.ts";
import { type FrontMaterial, type TlsFrontOptions, TlsFront } from "./tls-front.ts";

let fixture: UiFrontMaterial;
let ca: TestCa;
let material: FrontMaterial;

beforeAll(async () => {
  ({ ca, material } = fixture = await uiFrontMaterial("limits"));
});
afterAll(async () => {
  await fixture[Symbol.asyncDispose]();
});

async function startFront(options: Partial<TlsFrontOptions> = {}): Promise<{ front: TlsFront; port: number; errors: unknown[] } & AsyncDisposable> {
  const errors: unknown[] = [];
  const front = new TlsFront({ material, policy: { mode: "none" }, handler: testHandler, onError: (e) => errors.push(e), ...options });
  const { port } = await front.listen(0, "127.0.0.1");
  return { front, port, errors, [Symbol.asyncDispose]: () => front.close() };
}

const client = () => ({ servername: names.ui, ca: ca.pem });

/** Resolves with the milliseconds until the server closed `socket`. */
function closedAfter(socket: net.Socket, started: number): Promise<number> {
  return new Promise((resolve) => socket.once("close", () => resolve(Date.now() - started)));
}

/** Writes `bytes` one a time, `intervalMs` apart, until done or the socket closes. */
async function trickle(socket: net.Socket, bytes: Buffer, intervalMs: number): Promise<number> {
  let sent = 0;
  for (const byte of bytes) {
    if (socket.destroyed) break;
    socket.write(Buffer.of(byte));
    sent++;
    await sleep(intervalMs);
  }
  return sent;
}

describe("TLS handshake deadline", () => {
  it("closes a client trickling its ClientHello a byte a second at the deadline, not at the end of the trickle", async () => {
    await using running = await startFront({ handshakeTimeoutMs: 1500 });
    const hello = await realClientHello();
    // Precondition: the trickle alone would take minutes.
    expect(hello.length).toBeGreaterThan(100);
    const started = Date.now();
    const socket = net.connect(running.port, "127.0.0.1");
    socket.on("error", () => undefined);
    const closed = closedAfter(socket, started);
    const sent = trickle(socket, hello, 1000);
    const after = await closed;
    expect(after).toBeGreaterThanOrEqual(1400);
    expect(after).toBeLessThan(4000);
    expect(await sent).toBeLessThan(6);
  });

  it("closes a client that sends its ClientHello at once, then trickles the rest of the handshake", async () => {
    await using running = await startFront({ handshakeTimeoutMs: 1500 });
    const started = Date.now();
    const tcp = net.connect(running.port, "127.0.0.1");
    tcp.on("error", () => undefined);
    const closed = closedAfter(tcp, started);
    let flights = 0;
    // The client's first flight goes out whole; every later byte (its Finished) one per 500 ms.
    const trickling = new Duplex({
      read: () => undefined,
      write(chunk: Buffer, _encoding, callback) {
        if (flights++ === 0) tcp.write(chunk, () => callback());
        else void trickle(tcp, chunk, 500).then(() => callback());
      },
    });
    tcp.on("data", (chunk: Buffer) => trickling.push(chunk));
    const socket = tls.connect({ socket: trickling, ...client() });
    socket.on("error", () => undefined);
    let secure = false;
    socket.once("secureConnect", () => (secure = true));
    const after = await closed;
    expect(flights).toBeGreaterThanOrEqual(2);
    expect(after).toBeGreaterThanOrEqual(1400);
    expect(after).toBeLessThan(4000);
    socket.destroy();
    expect(secure || after < 4000).toBe(true);
  });

  it("keeps a normal connection open past the deadline once its handshake is done", async () => {
    await using running = await startFront({ handshakeTimeoutMs: 800 });
    const session = openSession(running.port, client());
    try {
      expect((await sessionGet(session, "/")).status).toBe(200);
      await sleep(1200);
      expect((await sessionGet(session, "/")).status).toBe(200);
    } finally {
      session.close();
    }
  });
});

describe("connection budget", () => {
  it("refuses past the total and per source, and admits again after a release", () => {
    const budget = new ConnectionBudget({ maxTotal: 3, maxPerSource: 2 });
    const a1 = budget.admit("10.0.0.1");
    const a2 = budget.admit("10.0.0.1");
    expect(a1.admitted && a2.admitted).toBe(true);
    expect(budget.admit("10.0.0.1")).toMatchObject({ admitted: false, reason: "per-source", limit: 2 });
    expect(budget.admit("10.0.0.2").admitted).toBe(true);
    expect(budget.admit("10.0.0.3")).toMatchObject({ admitted: false, reason: "total", limit: 3 });
    if (a1.admitted) a1.release();
    if (a1.admitted) a1.release();
    expect(budget.open).toBe(2);
    expect(budget.admit("10.0.0.1").admitted).toBe(true);
  });

  it("logs shed connections at most once per interval, counting the ones in between", () => {
    const lines: string[] = [];
    let now = 0;
    const onShed = shedLogger((line) => lines.push(line), 10_000, () => now);
    const shed: ConnectionShed = { remoteAddress: "203.0.113.7", reason: "per-source", limit: 512 };
    for (let i = 0; i < 1000; i++) onShed(shed);
    now = 10_000;
    onShed({ remoteAddress: "198.51.100.1", reason: "total", limit: 20_000 });
    expect(lines).toEqual([
      "shedding connections: closed one from 203.0.113.7 at accept, 512 connections from 203.0.113.7 are open (--max-connections-per-source 512)",
      "shedding connections: closed one from 198.51.100.1 at accept, 20000 connections are open in total (--max-connections 20000) (1000 connections shed since the last such line)",
    ]);
  });

  it("closes the connection past the per-source limit at once, reports it, and admits a new one after one closes", async () => {
    const shed: ConnectionShed[] = [];
    const budget = new ConnectionBudget({ maxTotal: 100, maxPerSource: 3 });
    await using running = await startFront({ connections: budget, onShed: (s) => shed.push(s) });
    const sessions = [openSession(running.port, client()), openSession(running.port, client()), openSession(running.port, client())];
    try {
      for (const session of sessions) expect((await sessionGet(session, "/")).status).toBe(200);
      expect(budget.open).toBe(3);
      await expect(h2Get(running.port, "/", client())).rejects.toThrow();
      expect(shed).toEqual([{ admitted: false, remoteAddress: "127.0.0.1", reason: "per-source", limit: 3 }]);
      sessions[0]?.destroy();
      await until(() => budget.open === 2);
      expect((await h1Get(running.port, "/", client())).status).toBe(200);
    } finally {
      for (const session of sessions) session.destroy();
    }
  });
});

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await sleep(10);
  expect(condition()).toBe(true);
}

/** Sends one raw HTTP/1.1 request over TLS and returns the first bytes of the answer. */
function rawHttp1(port: number, head: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ port, host: "127.0.0.1", ...client(), ALPNProtocols: ["http/1.1"] }, () => socket.write(head));
    let received = "";
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
      if (received.includes("\r\n\r\n")) socket.destroy();
    });
    socket.on("error", () => undefined);
    socket.on("close", () => resolve(received));
  });
}

const headersOf = (count: number, size = 10) => Array.from({ length: count }, (_, i) => `x-h${i}: ${"v".repeat(size)}\r\n`).join("");

describe("HTTP/1.1 header limits", () => {
  it("answers 431 to a head over 16 KiB and to more than 100 header fields, and serves a normal request", async () => {
    await using running = await startFront();
    expect(await rawHttp1(running.port, `GET / HTTP/1.1\r\nhost: ${names.ui}\r\n${headersOf(20)}\r\n`)).toMatch(/^HTTP\/1\.1 200/);
    expect(await rawHttp1(running.port, `GET / HTTP/1.1\r\nhost: ${names.ui}\r\nx-big: ${"a".repeat(20 * 1024)}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 431/);
    expect(await rawHttp1(running.port, `GET / HTTP/1.1\r\nhost: ${names.ui}\r\n${headersOf(150)}\r\n`)).toMatch(/^HTTP\/1\.1 431/);
  });

  it("closes a connection whose request head does not arrive within headersTimeout", async () => {
    await using running = await startFront({ httpLimits: { headersTimeoutMs: 1000, requestTimeoutMs: 1000 } });
    const started = Date.now();
    const socket = tls.connect({ port: running.port, host: "127.0.0.1", ...client(), ALPNProtocols: ["http/1.1"] }, () => socket.write(`GET / HTTP/1.1\r\nhost: ${names.ui}\r\n`));
    socket.on("error", () => undefined);
    let received = "";
    socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
    const after = await new Promise<number>((resolve) => socket.once("close", () => resolve(Date.now() - started)));
    expect(after).toBeGreaterThanOrEqual(900);
    // Node looks for late requests every quarter of headersTimeout here (every 30 s by default).
    expect(after).toBeLessThan(3000);
    expect(received).toMatch(/^HTTP\/1\.1 408/);
  });
});

/** A minimal HTTP/2 client speaking frames directly, so it can do what Node's client refuses to. */
class RawH2 {
  readonly socket: tls.TLSSocket;
  /** Per stream: the response status, or the RST_STREAM error code. */
  readonly answers = new Map<number, { status?: number; reset?: number }>();
  goaway: number | undefined;
  #pending = Buffer.alloc(0);
  #settingsAcked = false;

  private constructor(socket: tls.TLSSocket) {
    this.socket = socket;
    socket.on("error", () => undefined);
    socket.on("data", (chunk: Buffer) => this.#read(chunk));
    // Preface, empty SETTINGS.
    socket.write(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), frame(4, 0, 0, Buffer.alloc(0))]));
  }

  /** Connects and resolves once the server's SETTINGS are acknowledged, so its limits are in force. */
  static async connect(port: number, options: { waitForSettings?: boolean } = {}): Promise<RawH2> {
    const h2 = await new Promise<RawH2>((resolve, reject) => {
      const socket = tls.connect({ port, host: "127.0.0.1", ...client(), ALPNProtocols: ["h2"] }, () => resolve(new RawH2(socket)));
      socket.once("error", reject);
    });
    if (options.waitForSettings !== false) await until(() => h2.#settingsAcked);
    return h2;
  }

  /** Sends a request's headers (split into CONTINUATION frames past 16 KiB); `end` closes the stream. */
  request(streamId: number, headers: [string, string][], end: boolean): void {
    const block = Buffer.concat(headers.map(([name, value]) => Buffer.concat([Buffer.of(0), hpackString(name), hpackString(value)])));
    const pieces: Buffer[] = [];
    for (let at = 0; at < block.length; at += 16_384) pieces.push(block.subarray(at, at + 16_384));
    pieces.forEach((piece, i) => {
      const last = i === pieces.length - 1;
      const flags = (last ? 0x4 : 0) | (i === 0 && end ? 0x1 : 0);
      this.socket.write(frame(i === 0 ? 1 : 9, flags, streamId, piece));
    });
  }

  close(): void {
    this.socket.destroy();
  }

  #read(chunk: Buffer): void {
    this.#pending = Buffer.concat([this.#pending, chunk]);
    while (this.#pending.length >= 9) {
      const length = this.#pending.readUIntBE(0, 3);
      if (this.#pending.length < 9 + length) return;
      const type = this.#pending[3];
      const flags = this.#pending[4] ?? 0;
      const streamId = this.#pending.readUInt32BE(5) & 0x7fffffff;
      const payload = this.#pending.subarray(9, 9 + length);
      this.#pending = this.#pending.subarray(9 + length);
      if (type === 4 && !(flags & 0x1)) {
        this.socket.write(frame(4, 0x1, 0, Buffer.alloc(0)));
        this.#settingsAcked = true;
      }
      // Node's server sends ":status" first, and 200 is HPACK static index 8.
      else if (type === 1) this.answers.set(streamId, { status: payload[0] === 0x88 ? 200 : -1 });
      else if (type === 3) this.answers.set(streamId, { ...this.answers.get(streamId), reset: payload.readUInt32BE(0) });
      else if (type === 7) this.goaway = payload.readUInt32BE(4);
    }
  }
}

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK string literal without Huffman coding (RFC 7541 §5.1-5.2). */
function hpackString(text: string): Buffer {
  const bytes = Buffer.from(text, "latin1");
  const prefix: number[] = [];
  if (bytes.length < 127) prefix.push(bytes.length);
  else {
    prefix.push(127);
    let rest = bytes.length - 127;
    while (rest >= 128) {
      prefix.push((rest % 128) + 128);
      rest = Math.floor(rest / 128);
    }
    prefix.push(rest);
  }
  return Buffer.concat([Buffer.from(prefix), bytes]);
}

const get = (path: string, extra: [string, string][] = []): [string, string][] => [[":method", "GET"], [":scheme", "https"], [":authority", names.ui], [":path", path], ...extra];
const post = (path: string): [string, string][] => [[":method", "POST"], [":scheme", "https"], [":authority", names.ui], [":path", path]];
const refusedStream = 0x7;
const protocolError = 0x1;

describe("HTTP/2 limits", () => {
  it("resets a stream whose header list passes 16 KiB or 100 fields, and serves a normal one on the same connection", async () => {
    await using running = await startFront();
    const h2 = await RawH2.connect(running.port);
    try {
      h2.request(1, get("/", [["x-small", "1"]]), true);
      h2.request(3, get("/", [["x-big", "a".repeat(20 * 1024)]]), true);
      h2.request(5, get("/", Array.from({ length: 150 }, (_, i): [string, string] => [`x-h${i}`, "v"])), true);
      h2.request(7, get("/"), true);
      await until(() => h2.answers.has(7) || h2.goaway !== undefined);
      expect(h2.answers.get(1)?.status).toBe(200);
      expect(h2.answers.get(3)?.status).toBeUndefined();
      expect(h2.answers.get(3)?.reset).toBeGreaterThan(0);
      expect(h2.answers.get(5)?.status).toBeUndefined();
      expect(h2.answers.get(5)?.reset).toBeGreaterThan(0);
      expect(h2.answers.get(7)?.status).toBe(200);
    } finally {
      h2.close();
    }
  });

  it("refuses streams past maxConcurrentStreams with REFUSED_STREAM while the others stay open", async () => {
    await using running = await startFront({ httpLimits: { maxConcurrentStreams: 4 } });
    // Requests sent at once, before the server's SETTINGS could be read (nghttp2 refuses
    // streams past the limit then; a client that acknowledged the limit and still passes it
    // loses the whole connection, the next test).
    const h2 = await RawH2.connect(running.port, { waitForSettings: false });
    try {
      // Open, never-ending POSTs to /duplex: each holds its stream.
      for (const id of [1, 3, 5, 7, 9, 11]) h2.request(id, post("/duplex"), false);
      await until(() => [1, 3, 5, 7, 9, 11].every((id) => h2.answers.has(id)));
      expect([1, 3, 5, 7].map((id) => h2.answers.get(id)?.status)).toEqual([200, 200, 200, 200]);
      expect([9, 11].map((id) => h2.answers.get(id)?.reset)).toEqual([refusedStream, refusedStream]);
    } finally {
      h2.close();
    }
  });

  it("closes the connection of a client that acknowledged maxConcurrentStreams and opens more", async () => {
    await using running = await startFront({ httpLimits: { maxConcurrentStreams: 4 } });
    const h2 = await RawH2.connect(running.port);
    const closed = new Promise<void>((resolve) => h2.socket.once("close", () => resolve()));
    for (const id of [1, 3, 5, 7, 9, 11]) h2.request(id, post("/duplex"), false);
    await closed;
    // GOAWAY(PROTOCOL_ERROR), though the close may overtake it.
    expect([protocolError, undefined]).toContain(h2.goaway);
    expect([9, 11].map((id) => h2.answers.get(id)?.status)).toEqual([undefined, undefined]);
  });

  it("allows the 64 tunnels an agent may open on one connection, plus its session", async () => {
    await using running = await startFront();
    const h2 = await RawH2.connect(running.port);
    try {
      const ids = Array.from({ length: 66 }, (_, i) => 2 * i + 1);
      for (const id of ids) h2.request(id, post("/duplex"), false);
      await until(() => ids.every((id) => h2.answers.has(id)));
      expect(ids.filter((id) => h2.answers.get(id)?.status !== 200)).toEqual([]);
    } finally {
      h2.close();
    }
  });
});
