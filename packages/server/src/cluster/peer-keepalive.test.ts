import net from "node:net";
import { Duplex, PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { PeerCa } from "./peer-ca.ts";
import { PeerClient } from "./peer-client.ts";
import { PeerServer } from "./peer-server.ts";

/** A TCP proxy on loopback that can stop forwarding (both ways, closes included) while keeping its sockets open: a peer that froze. */
async function pausableProxy(targetPort: number): Promise<{ port: number; pause(): void; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let paused = false;
  const server = net.createServer((inbound) => {
    const outbound = net.connect(targetPort, "127.0.0.1");
    for (const [from, to] of [[inbound, outbound], [outbound, inbound]] as const) {
      sockets.add(from);
      from.on("data", (chunk: Buffer) => {
        if (!paused) to.write(chunk);
      });
      from.on("error", () => undefined);
      // A frozen host sends no FIN either: while paused, one side's close does not reach the other.
      from.on("close", () => {
        if (!paused) to.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    pause: () => void (paused = true),
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** An echoing device tunnel (a stand-in for TunnelBroker.open on the owning replica). */
function echoTunnel(): Duplex {
  const loop = new PassThrough();
  return Duplex.from({ readable: loop, writable: loop });
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("peer keepalive", () => {
  it("ends a tunnel with a clear error within interval + timeout when the other replica stops answering, on both sides", { timeout: 20_000 }, async () => {
    const files = new Map<string, Buffer>();
    const ca = await PeerCa.openOrCreate({
      read: (name) => Promise.resolve(files.get(name) ?? null),
      write: (written) => Promise.resolve(void written.forEach((file) => files.set(file.name, file.content))),
      withLock: (fn) => fn(),
    });
    const a = await ca.issue({ replicaId: "aaaaaaaa-0000-4000-8000-000000000001", peerAddress: "127.0.0.1:1", trustDomain: "pier.local" });
    const b = await ca.issue({ replicaId: "bbbbbbbb-0000-4000-8000-000000000002", peerAddress: "127.0.0.1:1", trustDomain: "pier.local" });
    const logs: string[] = [];
    const log = (level: string, message: string) => logs.push(`${level}: ${message}`);
    const keepalive = { intervalMs: 200, timeoutMs: 300 };
    let device: Duplex | undefined;
    const server = new PeerServer({
      credentials: a,
      isLocal: () => true,
      openLocal: () => Promise.resolve((device = echoTunnel())),
      log,
      keepalive,
    });
    const { port } = await server.listen(0, "127.0.0.1");
    cleanups.push(() => server.close());
    const proxy = await pausableProxy(port);
    cleanups.push(() => proxy.close());
    const client = new PeerClient({ credentials: () => b, log, keepalive });
    cleanups.push(() => client.close());

    const tunnel = await client.openTunnel({ id: "aaaaaaaa-0000-4000-8000-000000000001", name: "replica-a", peerAddress: `127.0.0.1:${proxy.port}` }, 7);
    // The precondition: the tunnel carries data both ways, and PINGs are answered (it outlives several intervals).
    const echoed = new Promise<string>((resolve) => tunnel.once("data", (chunk: Buffer) => resolve(chunk.toString())));
    tunnel.write("hello");
    expect(await echoed).toBe("hello");
    await new Promise((resolve) => setTimeout(resolve, 3 * keepalive.intervalMs));
    expect(tunnel.destroyed).toBe(false);
    expect(logs.filter((line) => line.includes("keepalive"))).toEqual([]);

    const local = device;
    if (!local) throw new Error("the owner opened no device tunnel");
    const ended = new Promise<{ error: string; ms: number }>((resolve) => {
      const started = Date.now();
      tunnel.once("error", (error: Error) => resolve({ error: error.message, ms: Date.now() - started }));
    });
    const localClosed = new Promise<number>((resolve) => {
      const started = Date.now();
      local.once("close", () => resolve(Date.now() - started));
    });
    proxy.pause();
    const outcome = await ended;
    expect(outcome.error).toContain("peer channel to replica replica-a");
    expect(outcome.error).toContain("no answer to a keepalive PING within 0.3 s");
    // Bound: one interval to the next PING, the timeout, and slack for a loaded machine (the TCP timeout is minutes).
    expect(outcome.ms).toBeLessThan(keepalive.intervalMs + keepalive.timeoutMs + 1_500);
    // The owning replica's side ends the device tunnel too.
    expect(await localClosed).toBeLessThan(keepalive.intervalMs + keepalive.timeoutMs + 1_500);
    expect(logs).toContainEqual(expect.stringMatching(/^warn: peer listener: replica bbbbbbbb-0000-4000-8000-000000000002 \(.*\): no answer to a keepalive PING within 0\.3 s/));
  });
});
