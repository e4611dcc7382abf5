import { connect, createServer } from "node:net";

/**
 * A loopback port nobody listens on now (the kernel's choice, released at once), for a fixture
 * that starts a process on a port of its own (PostgreSQL, HAProxy, a registry, a replica).
 *
 * @example
 * const port = await freeLoopbackPort();
 */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** True while something accepts TCP connections on 127.0.0.1:`port`. */
export function acceptsOnLoopback(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
