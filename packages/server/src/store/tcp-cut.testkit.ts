import { createServer, connect, type Server, type Socket } from "node:net";

/**
 * A TCP relay on 127.0.0.1 in front of a database that a test can cut and restore: cut, every
 * relayed connection is destroyed and the port refuses new ones (what a stopped PostgreSQL looks
 * like to its clients: ECONNRESET, then ECONNREFUSED); restored, it relays again on the same port.
 * The test run's PostgreSQL is shared by every test file, so its outages are produced here.
 */
export interface TcpCut extends AsyncDisposable {
  /** The relay's port (use it in the database URL instead of the database's). */
  readonly port: number;
  /** Destroys every relayed connection and stops listening. */
  cut(): Promise<void>;
  /** Listens again on the same port. */
  restore(): Promise<void>;
}

/**
 * Starts a relay to `target` (`host:port`).
 *
 * @example
 * await using relay = await startTcpCut("127.0.0.1:5432");
 * await relay.cut(); … await relay.restore();
 */
export async function startTcpCut(targetHost: string, targetPort: number): Promise<TcpCut> {
  const sockets = new Set<Socket>();
  const relay = (client: Socket) => {
    const upstream = connect({ host: targetHost, port: targetPort });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      socket.on("error", () => undefined);
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.once("close", () => upstream.destroy());
    upstream.once("close", () => client.destroy());
  };
  let server: Server | undefined;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const next = createServer(relay);
      next.once("error", reject);
      next.listen(port, "127.0.0.1", () => {
        const address = next.address();
        port = typeof address === "object" && address !== null ? address.port : port;
        server = next;
        resolve();
      });
    });
  const cut = async () => {
    const closing = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    if (closing !== undefined) await new Promise<void>((resolve) => closing.close(() => resolve()));
  };
  await listen();
  return { port, cut, restore: listen, [Symbol.asyncDispose]: cut };
}
