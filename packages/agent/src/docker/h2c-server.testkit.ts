import { connect, createServer, type ClientHttp2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";

/** One stream the test server received. */
export interface ReceivedStream {
  readonly stream: ServerHttp2Stream;
  readonly headers: IncomingHttpHeaders;
}

/** A plain-HTTP/2 (h2c) server on loopback that plays the Pier server's part, and a client session to it. */
export interface H2cServer extends AsyncDisposable {
  /** The agent's side: a client session connected to the server. */
  readonly client: ClientHttp2Session;
  /** Resolves with the next stream the server receives (in arrival order). */
  nextStream(): Promise<ReceivedStream>;
}

/** Starts the server and connects a client session; both are closed on dispose. */
export async function startH2cServer(): Promise<H2cServer> {
  const received: ReceivedStream[] = [];
  const waiting: ((value: ReceivedStream) => void)[] = [];
  const server = createServer();
  server.on("stream", (stream, headers) => {
    stream.on("error", () => undefined);
    const entry = { stream, headers };
    const waiter = waiting.shift();
    if (waiter) waiter(entry);
    else received.push(entry);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const client = connect(`http://127.0.0.1:${port}`);
  client.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => {
    client.once("connect", () => resolve());
    client.once("error", reject);
  });
  return {
    client,
    nextStream: () => {
      const entry = received.shift();
      return entry ? Promise.resolve(entry) : new Promise((resolve) => waiting.push(resolve));
    },
    [Symbol.asyncDispose]: async () => {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Collects a readable's bytes as latin1 text until it ends (or `until` matches). */
export function readText(stream: NodeJS.ReadableStream, until?: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    stream.on("data", (chunk: Buffer) => {
      text += chunk.toString("latin1");
      if (until?.test(text)) resolve(text);
    });
    stream.on("end", () => resolve(text));
    stream.on("error", reject);
  });
}
