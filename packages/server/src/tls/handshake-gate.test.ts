import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type ConnectionShed, shedLogger } from "./connection-budget.ts";
import { HandshakeGate, handshakeStartsPerTurn } from "./handshake-gate.ts";
import { type UiFrontMaterial, realClientHello, uiFrontMaterial } from "./handshake.testkit.ts";
import { collectGarbage, weakTimersOf } from "./released-timers.testkit.ts";
import { type TestCa, names, testHandler } from "./tls-fixtures.testkit.ts";
import { type FrontMaterial, type TlsFrontOptions, TlsFront } from "./tls-front.ts";

let fixture: UiFrontMaterial;
let ca: TestCa;
let material: FrontMaterial;

beforeAll(async () => {
  ({ ca, material } = fixture = await uiFrontMaterial("gate"));
});
afterAll(async () => {
  await fixture[Symbol.asyncDispose]();
});

interface Running extends AsyncDisposable {
  readonly front: TlsFront;
  readonly port: number;
  readonly sheds: ConnectionShed[];
  readonly lines: string[];
}

async function startFront(options: Partial<TlsFrontOptions> = {}): Promise<Running> {
  const sheds: ConnectionShed[] = [];
  const lines: string[] = [];
  const log = shedLogger((line) => lines.push(line));
  const front = new TlsFront({ material, policy: { mode: "none" }, handler: testHandler, onShed: (shed) => (sheds.push(shed), log(shed)), ...options });
  const { port } = await front.listen(0, "127.0.0.1");
  return { front, port, sheds, lines, [Symbol.asyncDispose]: () => front.close() };
}

/**
 * A client that sends a whole ClientHello and never its Finished: its handshake holds a slot
 * until the server's deadline. `answered`: the server started the handshake (sent its flight).
 */
async function stalledHandshake(port: number): Promise<{ socket: net.Socket; answered: Promise<number>; closed: Promise<number> }> {
  const hello = await realClientHello();
  const started = Date.now();
  const socket = net.connect(port, "127.0.0.1", () => socket.write(hello));
  socket.on("error", () => undefined);
  return {
    socket,
    answered: new Promise((resolve) => socket.once("data", () => resolve(Date.now() - started))),
    closed: new Promise((resolve) => socket.once("close", () => resolve(Date.now()))),
  };
}

/** A real TLS client; resolves with the time its handshake ended (ms since epoch), or rejects. */
function handshake(port: number): { done: Promise<number>; socket: tls.TLSSocket } {
  const socket = tls.connect({ port, host: "127.0.0.1", servername: names.ui, ca: ca.pem });
  const done = new Promise<number>((resolve, reject) => {
    socket.once("secureConnect", () => resolve(Date.now()));
    socket.on("error", reject);
    socket.once("close", () => reject(new Error("closed before the handshake ended")));
  });
  done.catch(() => undefined);
  return { done, socket };
}

describe("HandshakeGate", () => {
  it("starts at most maxConcurrent, the rest in order of arrival, and refuses past the queue", () => {
    const gate = new HandshakeGate({ maxConcurrent: 2, maxQueued: 2, maxHoldMs: 60_000, lifoAfterMs: 60_000 });
    const started: string[] = [];
    const tickets = ["a", "b", "c", "d"].map((name) => gate.enter(() => started.push(name)));
    expect(started).toEqual(["a", "b"]);
    expect(gate.queued).toBe(2);
    expect(gate.full).toBe(true);
    expect(gate.enter(() => started.push("e"))).toBeUndefined();
    // "c" gives up while waiting: it never starts, and "d" takes the next slot.
    tickets[2]?.release();
    tickets[0]?.release();
    tickets[0]?.release();
    expect(started).toEqual(["a", "b", "d"]);
    expect(gate.running).toBe(2);
    expect(gate.queued).toBe(0);
  });

  it("starts at most handshakeStartsPerTurn in one turn of the event loop, the next ones in the turns after", async () => {
    const gate = new HandshakeGate({ maxConcurrent: 64, maxQueued: 100, maxHoldMs: 60_000, lifoAfterMs: 60_000 });
    const started: number[] = [];
    for (let i = 0; i < 20; i++) gate.enter(() => started.push(i));
    expect(handshakeStartsPerTurn).toBe(8);
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(gate.queued).toBe(12);
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toHaveLength(16);
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(gate.running).toBe(20);
  });

  it("refuses limits that are not whole numbers ≥ 1 (a queue may be 0)", () => {
    expect(() => new HandshakeGate({ maxConcurrent: 0, maxQueued: 1, maxHoldMs: 1, lifoAfterMs: 0 })).toThrow(/maxConcurrent must be a whole number ≥ 1/);
    expect(() => new HandshakeGate({ maxConcurrent: 1.5, maxQueued: 1, maxHoldMs: 1, lifoAfterMs: 0 })).toThrow(RangeError);
    expect(() => new HandshakeGate({ maxConcurrent: 1, maxQueued: 1, maxHoldMs: 0, lifoAfterMs: 0 })).toThrow(/maxHoldMs must be a whole number ≥ 1/);
    expect(new HandshakeGate({ maxConcurrent: 1, maxQueued: 0, maxHoldMs: 1, lifoAfterMs: 0 }).full).toBe(false);
  });

  it("serves the newest first once the oldest has waited lifoAfterMs, and in order of arrival before", () => {
    let now = 0;
    const gate = new HandshakeGate({ maxConcurrent: 1, maxQueued: 10, maxHoldMs: 60_000, lifoAfterMs: 2_000 }, () => now);
    const started: string[] = [];
    const tickets = ["a", "b", "c", "d", "e"].map((name) => {
      now += 100;
      return gate.enter(() => started.push(name));
    });
    tickets[0]?.release();
    // "b" waited 300 ms: in order of arrival.
    expect(started).toEqual(["a", "b"]);
    now += 2_000;
    tickets[1]?.release();
    // "c" waited 2.2 s: a storm; the newest ("e") goes first, then "d".
    expect(started).toEqual(["a", "b", "e"]);
    tickets[4]?.release();
    expect(started).toEqual(["a", "b", "e", "d"]);
    // "c" gave up meanwhile: gone from the queue, from the middle or an end.
    tickets[2]?.release();
    tickets[3]?.release();
    expect(started).toEqual(["a", "b", "e", "d"]);
    expect(gate.queued).toBe(0);
    expect(gate.enter(() => started.push("f"))).toBeDefined();
    expect(started.at(-1)).toBe("f");
  });

  it("takes a slot back from a handshake that outlasts maxHoldMs", () => {
    // Fake timers: with real ones a loaded machine let "next" outlast its own hold or not,
    // and the count after the late release depended on which.
    vi.useFakeTimers();
    try {
      const gate = new HandshakeGate({ maxConcurrent: 1, maxQueued: 5, maxHoldMs: 50, lifoAfterMs: 60_000 });
      const started: string[] = [];
      const slow = gate.enter(() => started.push("slow"));
      const next = gate.enter(() => started.push("next"));
      expect(started).toEqual(["slow"]);
      vi.advanceTimersByTime(60);
      expect(started).toEqual(["slow", "next"]);
      expect(gate.running).toBe(1);
      // Its late end does not free a second slot: "next" still holds the one slot.
      slow?.release();
      expect(gate.running).toBe(1);
      next?.release();
      expect(gate.running).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("HandshakeGate: what a released ticket keeps", () => {
  it("lets go of the hold timer of a released ticket, which its connection may keep (issue 20: one Timeout per session)", async () => {
    const gate = new HandshakeGate({ maxConcurrent: 1, maxQueued: 1, maxHoldMs: 8_761, lifoAfterMs: 60_000 });
    let ticket: ReturnType<HandshakeGate["enter"]>;
    const [hold] = await weakTimersOf([8_761], () => (ticket = gate.enter(() => undefined)));
    // Precondition: the ticket runs, its hold timer pending (the timer list holds it).
    expect(gate.running).toBe(1);
    await collectGarbage();
    expect(hold?.deref()).toBeDefined();
    ticket?.release();
    await collectGarbage();
    expect(hold?.deref()).toBeUndefined();
    // Kept until now, as the TLS front keeps a connection's ticket.
    expect(ticket).toBeDefined();
    expect(gate.running).toBe(0);
  });
});

describe("TLS front handshake gate (real sockets)", () => {
  it("with one handshake at a time, a second client waits while the first holds the slot, at most maxHoldMs", async () => {
    await using running = await startFront({ handshakes: { maxConcurrent: 1, maxQueued: 10, maxHoldMs: 800 }, handshakeTimeoutMs: 4000 });
    // A client stalling before its ClientHello holds no slot: another one completes at once.
    const silent = net.connect(running.port, "127.0.0.1");
    silent.on("error", () => undefined);
    await sleep(100);
    const first = Date.now();
    const quick = handshake(running.port);
    expect((await quick.done) - first).toBeLessThan(900);
    quick.socket.destroy();

    const stalled = await stalledHandshake(running.port);
    // Precondition: the server is handshaking with it (it sent its flight), so it holds the slot.
    await stalled.answered;
    const queuedAt = Date.now();
    const waiting = handshake(running.port);
    const secureAt = await waiting.done;
    // Before: the second client completed in a few ms, while the first was still handshaking.
    expect(secureAt - queuedAt).toBeGreaterThanOrEqual(600);
    // …but not for the stalled one's whole 4 s deadline: the slot came back after 800 ms.
    expect(secureAt - queuedAt).toBeLessThan(2500);
    expect(stalled.socket.destroyed).toBe(false);
    waiting.socket.destroy();
    silent.destroy();
    stalled.socket.destroy();
  });

  it("frees the slot of a handshake that fails, for the next client at once", async () => {
    await using running = await startFront({ handshakes: { maxConcurrent: 1, maxQueued: 10, maxHoldMs: 3000 }, handshakeTimeoutMs: 3000 });
    const hello = await realClientHello();
    const broken = net.connect(running.port, "127.0.0.1", () => broken.write(hello));
    broken.on("error", () => undefined);
    // Garbage instead of the client's second flight: the server's TLS fails the handshake.
    broken.once("data", () => broken.write(Buffer.alloc(64, 0x16)));
    await new Promise((resolve) => broken.once("close", resolve));
    const started = Date.now();
    const next = handshake(running.port);
    expect((await next.done) - started).toBeLessThan(1500);
    next.socket.destroy();
  });

  it("hands queued connections to TLS in order of arrival", async () => {
    await using running = await startFront({ handshakes: { maxConcurrent: 1, maxQueued: 10, maxHoldMs: 60_000 }, handshakeTimeoutMs: 1500 });
    const stalled = await stalledHandshake(running.port);
    await stalled.answered;
    // Each deadline counts from its own accept: these get theirs well after the first one's.
    await sleep(500);
    const order: string[] = [];
    const clients = ["b", "c", "d"].map((name) => {
      const client = handshake(running.port);
      void client.done.then(() => order.push(name));
      return client;
    });
    await sleep(100);
    // Precondition: nobody got through while the first holds the slot.
    expect(order).toEqual([]);
    await Promise.all(clients.map((client) => client.done));
    expect(order).toEqual(["b", "c", "d"]);
    for (const client of clients) client.socket.destroy();
  });

  it("closes a connection at accept when the queue is full, and says so once in the log", async () => {
    // A deadline far from what the test waits: a loaded machine must not end the queued handshake.
    await using running = await startFront({ handshakes: { maxConcurrent: 1, maxQueued: 1, maxHoldMs: 60_000 }, handshakeTimeoutMs: 10_000 });
    const stalled = await stalledHandshake(running.port);
    await stalled.answered;
    const queued = handshake(running.port);
    await sleep(150);
    // Precondition: one handshake running, one waiting; nothing shed yet.
    expect(running.sheds).toEqual([]);
    const started = Date.now();
    const refused = net.connect(running.port, "127.0.0.1");
    refused.on("error", () => undefined);
    const closedAfter = await new Promise<number>((resolve) => refused.once("close", () => resolve(Date.now() - started)));
    expect(closedAfter).toBeLessThan(1000);
    const late = handshake(running.port);
    await expect(late.done).rejects.toThrow();
    expect(running.sheds).toEqual([
      { remoteAddress: "127.0.0.1", reason: "handshake-queue", limit: 1 },
      { remoteAddress: "127.0.0.1", reason: "handshake-queue", limit: 1 },
    ]);
    expect(running.lines).toEqual(["shedding connections: closed one from 127.0.0.1 at accept, 1 connections already wait for a TLS handshake (the queue behind --max-concurrent-handshakes); the client retries with its backoff"]);
    // The queued client still gets its turn once the stalled one goes.
    stalled.socket.destroy();
    await queued.done;
    queued.socket.destroy();
  });
});
