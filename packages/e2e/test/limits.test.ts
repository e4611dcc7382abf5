import { readFileSync, writeFileSync } from "node:fs";
import http2 from "node:http2";
import https from "node:https";
import net from "node:net";
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PierApi, startPierAgent, startPierServer, tempDir, until, type PierServer, type TempDir } from "../src/index.ts";

// Cross-process limits: a real `pier server` with small connection limits, real TLS on loopback.

let dir: TempDir;
let server: PierServer;
let ca: Buffer;
const password = "limits-admin-password-1";
const perSource = 12;

beforeAll(async () => {
  dir = tempDir("limits");
  writeFileSync(dir.file("admin-password"), password, { mode: 0o600 });
  server = await startPierServer({ dataDir: dir.file("data"), args: ["--admin-password-file", dir.file("admin-password"), "--max-connections-per-source", String(perSource), "--enrollment-rate", "2/min"] });
  ca = readFileSync(dir.file("data/ca/ca.crt"));
}, 60_000);

afterAll(async () => {
  await server.stop();
  await dir[Symbol.asyncDispose]();
});

/** The server process's resident memory, from /proc. */
function rssBytes(): number {
  const status = readFileSync(`/proc/${server.process.pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) * 1024;
}

interface Answer {
  readonly status: number;
  readonly body: string;
  /** How much of the body had been written when the answer came. */
  readonly sentBytes: number;
  /** The answer's `Connection` header. */
  readonly connection: string | undefined;
}

/**
 * POSTs a body over HTTP/1.1: declared (`declare` bytes in Content-Length, 1 KiB actually
 * sent) or streamed chunked (`stream` bytes in 64 KiB writes, each after the previous drained),
 * and resolves with the answer as soon as it arrives.
 */
function post(port: number, path: string, body: { declare?: number; stream?: number }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let sentBytes = 0;
    let answered = false;
    const headers: Record<string, string | number> = { "content-type": "application/json" };
    if (body.declare !== undefined) headers["content-length"] = body.declare;
    const request = https.request({ host: "127.0.0.1", port, path, method: "POST", ca, servername: "localhost", agent: false, headers }, (res) => {
      answered = true;
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      const answer = () => resolve({ status: res.statusCode ?? 0, body: text, sentBytes, connection: res.headers.connection });
      res.on("end", answer);
      res.on("error", answer);
    });
    // The server closes while the rest of the body is still on its way.
    request.on("error", (error) => (answered ? undefined : reject(error)));
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    if (body.declare !== undefined) {
      request.write(chunk.subarray(0, 1024));
      sentBytes = 1024;
      return;
    }
    const total = body.stream ?? 0;
    const next = () => {
      if (answered || request.destroyed) return;
      if (sentBytes >= total) return void request.end();
      sentBytes += chunk.length;
      if (request.write(chunk)) setImmediate(next);
      else request.once("drain", next);
    };
    next();
  });
}

describe("connections per source", () => {
  /** A finished TLS handshake to the HTTPS listener, or the error that ended it. */
  function open(): Promise<tls.TLSSocket> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host: "127.0.0.1", port: server.httpsPort, ca, servername: "localhost", ALPNProtocols: ["http/1.1"] }, () => resolve(socket));
      socket.once("error", reject);
      socket.once("close", () => reject(new Error("closed before the handshake")));
    });
  }

  // First in the file: the other tests' keep-alive connections would hold slots of the budget.
  it(`closes the connection past --max-connections-per-source ${perSource} at accept, logs it, and admits a new one once one closes`, async () => {
    const held: tls.TLSSocket[] = [];
    try {
      for (let i = 0; i < perSource; i++) held.push(await open());
      await expect(open()).rejects.toThrow();
      await server.waitFor(new RegExp(`shedding connections: closed one from 127\\.0\\.0\\.1 at accept, ${perSource} connections from 127\\.0\\.0\\.1 are open \\(--max-connections-per-source ${perSource}\\)`));
      held.shift()?.destroy();
      // The server notices the close a moment later.
      held.push(await until("a connection after one closed", () => open().catch(() => undefined)));
      expect(held.length).toBe(perSource);
    } finally {
      for (const socket of held) socket.destroy();
    }
  });
});

/**
 * Streams `total` bytes chunked over a raw TLS socket until the answer's head arrives. Node's
 * HTTP client drops an answer that races a reset of the connection (the server closes once it
 * has refused); a raw socket keeps whatever arrived.
 */
function rawChunkedPost(port: number, path: string, total: number): Promise<{ head: string; sentBytes: number }> {
  return new Promise((resolve) => {
    let received = "";
    let sentBytes = 0;
    const chunk = Buffer.concat([Buffer.from(`10000\r\n`), Buffer.alloc(64 * 1024, 0x20), Buffer.from("\r\n")]);
    const socket = tls.connect({ host: "127.0.0.1", port, ca, servername: "localhost", ALPNProtocols: ["http/1.1"] }, () => {
      socket.write(`POST ${path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n`);
      const next = () => {
        if (socket.destroyed || received.includes("\r\n\r\n") || sentBytes >= total) return;
        sentBytes += 64 * 1024;
        if (socket.write(chunk)) setImmediate(next);
        else socket.once("drain", next);
      };
      next();
    });
    const done = () => {
      socket.destroy();
      resolve({ head: received.split("\r\n\r\n")[0] ?? "", sentBytes });
    };
    socket.on("data", (data: Buffer) => {
      received += data.toString("latin1");
      if (received.includes("\r\n\r\n")) done();
    });
    socket.on("error", () => undefined);
    socket.on("close", done);
  });
}

describe("request bodies over TLS to a real server", () => {
  it("refuses an API body declared over 1 MiB with 413 at once, and a streamed one once 1 MiB has been read; the server stays small and responsive", async () => {
    const api = new PierApi(`https://localhost:${server.httpsPort}`, { ca });
    // Precondition: the route takes a normal body.
    await api.login("admin", password);
    const before = rssBytes();

    const declared = await post(server.httpsPort, "/api/auth", { declare: 512 * 1024 * 1024 });
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body)).toMatchObject({ code: "payload_too_large" });
    // The rest of the body is not read, so the connection cannot carry another request: say so.
    expect(declared.connection).toBe("close");

    const streamed = await post(server.httpsPort, "/api/auth", { stream: 256 * 1024 * 1024 });
    expect(streamed.status).toBe(413);
    expect(JSON.parse(streamed.body)).toMatchObject({ code: "payload_too_large" });
    expect(streamed.connection).toBe("close");
    // Answered long before the 256 MiB were sent (socket buffers hold a few MiB at most).
    expect(streamed.sentBytes).toBeLessThan(32 * 1024 * 1024);

    // HTTP/2, streamed: the same answer.
    const session = http2.connect(`https://localhost:${server.httpsPort}`, { ca });
    session.on("error", () => undefined);
    try {
      const status = await new Promise<number>((resolve) => {
        const stream = session.request({ ":method": "POST", ":path": "/api/auth", "content-type": "application/json" });
        stream.on("response", (headers) => resolve(Number(headers[":status"])));
        stream.on("error", () => undefined);
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        let sent = 0;
        const next = () => {
          if (stream.destroyed || stream.closed || sent > 64 * 1024 * 1024) return;
          sent += chunk.length;
          if (stream.write(chunk)) setImmediate(next);
          else stream.once("drain", next);
        };
        next();
      });
      expect(status).toBe(413);
    } finally {
      session.close();
    }

    // Still serving, and its memory did not take the bodies in.
    await api.login("admin", password);
    expect(rssBytes() - before).toBeLessThan(48 * 1024 * 1024);
  });

  it("refuses an edge check-in over 64 KiB on the tunnel listener with 413, declared or streamed", async () => {
    const declared = await post(server.tunnelPort, "/api/edge/v1/checkin", { declare: 64 * 1024 * 1024 });
    expect(declared.status).toBe(413);
    const streamed = await rawChunkedPost(server.tunnelPort, "/api/edge/v1/checkin", 64 * 1024 * 1024);
    expect(streamed.head).toMatch(/^HTTP\/1\.1 413 /);
    expect(streamed.sentBytes).toBeLessThan(16 * 1024 * 1024);
  });
});

describe("enrollment rate (--enrollment-rate 2/min)", () => {
  it("refuses the third new device from one address and its agent logs why; a known device reconnects", async () => {
    const api = new PierApi(`https://localhost:${server.httpsPort}`, { ca });
    await api.login("admin", password);
    const waitingIds = async () => ((await api.call<{ EdgeID: string }[]>("GET", "/api/endpoints")).body ?? []).map((e) => e.EdgeID);
    const first = startPierAgent({ edgeId: "rate-agent-1", edgeKey: server.edgeKey, dataDir: dir.file("agent-1") });
    await first.waitFor(/connected to .* as environment \d+/);
    await using second = startPierAgent({ edgeId: "rate-agent-2", edgeKey: server.edgeKey, dataDir: dir.file("agent-2") });
    await second.waitFor(/connected to .* as environment \d+/);
    await using third = startPierAgent({ edgeId: "rate-agent-3", edgeKey: server.edgeKey, dataDir: dir.file("agent-3") });
    await third.waitFor(/Too many new devices from 127\.0\.0\.1: at most 2 may enroll per minute from one address\. This device was not enrolled; it may retry in \d+ s\./);
    expect(await waitingIds()).toEqual(expect.arrayContaining(["rate-agent-1", "rate-agent-2"]));
    expect(await waitingIds()).not.toContain("rate-agent-3");
    await server.waitFor(/enrollment of rate-agent-3 from 127\.0\.0\.1 refused/);
    // A known device is not a new one: it reconnects while the address is still over its rate.
    await first.stop();
    await using again = startPierAgent({ edgeId: "rate-agent-1", edgeKey: server.edgeKey, dataDir: dir.file("agent-1") });
    await again.waitFor(/connected to .* as environment \d+/);
  }, 60_000);
});

describe("TLS handshake deadline (default 10 s) on both listeners", () => {
  /** A real ClientHello for "localhost", captured from Node's TLS client. */
  async function clientHello(): Promise<Buffer> {
    const capture = net.createServer();
    await new Promise<void>((resolve) => capture.listen(0, "127.0.0.1", resolve));
    const port = (capture.address() as net.AddressInfo).port;
    const hello = new Promise<Buffer>((resolve) => capture.once("connection", (socket) => socket.once("data", (data: Buffer) => { resolve(data); socket.destroy(); })));
    const client = tls.connect({ host: "127.0.0.1", port, servername: "localhost" });
    client.on("error", () => undefined);
    const bytes = await hello;
    client.destroy();
    capture.close();
    return bytes;
  }

  /** Trickles `hello` a byte a second; resolves with the seconds until the server closed. */
  function trickle(port: number, hello: Buffer): Promise<{ seconds: number; sent: number }> {
    return new Promise((resolve) => {
      const started = Date.now();
      let sent = 0;
      const socket = net.connect(port, "127.0.0.1");
      const timer = setInterval(() => {
        if (sent < hello.length) socket.write(hello.subarray(sent, ++sent));
      }, 1000);
      socket.on("error", () => undefined);
      socket.on("close", () => {
        clearInterval(timer);
        resolve({ seconds: (Date.now() - started) / 1000, sent });
      });
    });
  }

  it("closes a client that trickles its ClientHello a byte a second after 10 s on the HTTPS and the tunnel listener", async () => {
    const hello = await clientHello();
    // Precondition: the trickle alone would last minutes.
    expect(hello.length).toBeGreaterThan(100);
    const [https, tunnel] = await Promise.all([trickle(server.httpsPort, hello), trickle(server.tunnelPort, hello)]);
    for (const outcome of [https, tunnel]) {
      expect(outcome.seconds).toBeGreaterThanOrEqual(9.5);
      expect(outcome.seconds).toBeLessThan(13);
      expect(outcome.sent).toBeLessThan(14);
    }
    // A normal handshake still completes.
    const api = new PierApi(`https://localhost:${server.httpsPort}`, { ca });
    await api.login("admin", password);
  }, 30_000);
});
