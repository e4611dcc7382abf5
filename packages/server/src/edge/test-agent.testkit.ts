import http2, { type ClientHttp2Session, type ClientHttp2Stream } from "node:http2";
import net from "node:net";
import { FrameDecoder, edgePaths, encodeFrame, protocolVersion, serverMessageSchema, type Hello, type ServerMessage, type Welcome } from "@pier/protocol";

/** How the test agent reaches the server. */
export interface TestAgentOptions {
  readonly port: number;
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
  readonly servername?: string;
  readonly edgeId: string;
  readonly environmentId?: number;
  /** The token a first welcome handed out, to reconnect as the same device. */
  readonly deviceToken?: string;
  /** `hello.edgeGroups`: the edge groups the device asks for (`EDGE_GROUPS`). */
  readonly edgeGroups?: readonly string[];
  /** `hello.clock`: the device's clock (ms since the epoch). */
  readonly clock?: number;
}

/** An answer on the agent's connection. */
export interface AgentAnswer {
  readonly status: number;
  readonly body: string;
}

/** What a tunnel the agent served looked like from the device. */
export interface ServedTunnel {
  readonly id: string;
  readonly stream: ClientHttp2Stream;
  readonly socket: net.Socket;
  /** Resolves when the tunnel stream has closed, with its HTTP/2 close code. */
  readonly closed: Promise<number>;
}

/** Opens an HTTP/2 connection to 127.0.0.1:`port` as an agent would (no session yet). */
export function connectAgent(options: Omit<TestAgentOptions, "edgeId" | "environmentId" | "deviceToken">): ClientHttp2Session {
  const connection = http2.connect(`https://127.0.0.1:${options.port}`, {
    ca: options.ca,
    servername: options.servername ?? "",
    ...(options.cert && options.key ? { cert: options.cert, key: options.key } : {}),
  });
  // Failures surface through the streams opened on it.
  connection.on("error", () => undefined);
  return connection;
}

/** One POST on an HTTP/2 connection. */
export function postOn(connection: ClientHttp2Session, path: string, body: string | Buffer, headers: http2.OutgoingHttpHeaders = {}): Promise<AgentAnswer> {
  return new Promise((resolve, reject) => {
    const stream = connection.request({ ":method": "POST", ":path": path, "content-type": "application/json", ...headers });
    let status = 0;
    let text = "";
    stream.setEncoding("utf8");
    stream.on("response", (h) => (status = Number(h[":status"])));
    stream.on("data", (chunk: string) => (text += chunk));
    stream.on("close", () => (status === 0 ? reject(new Error(`the stream closed without a response (code ${stream.rstCode})`)) : resolve({ status, body: text })));
    // The server may answer (413) and reset the stream before the whole body is sent.
    stream.on("error", () => undefined);
    stream.end(body);
  });
}

/**
 * A minimal edge agent speaking the protocol frames from `@pier/protocol` over real HTTP/2 and
 * TLS: one connection, one session stream (hello, then whatever the server pushes), snapshots
 * and tunnel streams on the same connection. It answers no heartbeats; tests are short.
 */
export class TestAgent implements AsyncDisposable {
  readonly connection: ClientHttp2Session;
  readonly session: ClientHttp2Stream;
  readonly welcome: Welcome;
  readonly #frames: ServerMessage[];
  readonly #waiters = new Set<() => void>();
  #served: ((message: ServerMessage) => void) | undefined;

  private constructor(connection: ClientHttp2Session, session: ClientHttp2Stream, welcome: Welcome, frames: ServerMessage[]) {
    this.connection = connection;
    this.session = session;
    this.welcome = welcome;
    this.#frames = frames;
  }

  /** Connects, says hello and resolves after the welcome; rejects with the refusal otherwise. */
  static connect(options: TestAgentOptions): Promise<TestAgent> {
    const connection = connectAgent(options);
    const session = connection.request({ ":method": "POST", ":path": edgePaths.session, "content-type": "application/x-ndjson" }, { endStream: false });
    const hello: Hello = {
      type: "hello",
      protocol: protocolVersion,
      environmentId: options.environmentId ?? 0,
      agent: { edgeId: options.edgeId, agentVersion: "0.0.0-test", platform: "docker", hostname: options.edgeId, os: "linux", arch: "amd64" },
      ...(options.deviceToken === undefined ? {} : { deviceToken: options.deviceToken }),
      ...(options.edgeGroups === undefined ? {} : { edgeGroups: [...options.edgeGroups] }),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    };
    session.write(encodeFrame(hello));
    const frames: ServerMessage[] = [];
    const decoder = new FrameDecoder(serverMessageSchema);
    return new Promise((resolve, reject) => {
      let agent: TestAgent | undefined;
      session.on("data", (chunk: Buffer) => {
        for (const message of decoder.push(chunk)) {
          if (!agent) {
            if (message.type !== "welcome") return reject(new Error(`expected a welcome, got ${JSON.stringify(message)}`));
            agent = new TestAgent(connection, session, message, frames);
            resolve(agent);
          } else agent.#receive(message);
        }
      });
      session.on("error", reject);
      session.on("close", () => reject(new Error("the session closed before the welcome")));
    });
  }

  /** Resolves with the next pushed frame of `type` (frames already received count). */
  async next<T extends ServerMessage["type"]>(type: T, timeoutMs = 5000): Promise<Extract<ServerMessage, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.#frames.findIndex((frame) => frame.type === type);
      if (index >= 0) return this.#frames.splice(index, 1)[0] as Extract<ServerMessage, { type: T }>;
      if (Date.now() > deadline) throw new Error(`no ${type} frame within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, Math.max(1, deadline - Date.now()));
        this.#waiters.add(wake);
      });
    }
  }

  /** Posts on this agent's connection (a snapshot, …). */
  post(path: string, body: string | Buffer, headers: http2.OutgoingHttpHeaders = {}): Promise<AgentAnswer> {
    return postOn(this.connection, path, body, headers);
  }

  /** Opens `POST /api/edge/v1/tunnel/<id>` on this connection, full duplex. */
  openTunnel(id: string): ClientHttp2Stream {
    const stream = this.connection.request({ ":method": "POST", ":path": `${edgePaths.tunnel}${id}` }, { endStream: false });
    stream.on("error", () => undefined);
    return stream;
  }

  /**
   * Answers every `tunnel` frame as the real agent should: opens the tunnel stream and pipes it
   * to a new connection to `target` (the Docker Engine). The server's end of the response
   * half-closes the Docker connection; a reset stream destroys it; a Docker connection that
   * fails resets the stream.
   */
  serveTunnels(target: { port: number }, onTunnel: (tunnel: ServedTunnel) => void = () => undefined): void {
    this.#served = (message) => {
      if (message.type !== "tunnel") return;
      const stream = this.openTunnel(message.id);
      const socket = net.connect(target.port, "127.0.0.1");
      const closed = new Promise<number>((resolve) => stream.once("close", () => resolve(stream.rstCode ?? 0)));
      socket.pipe(stream);
      stream.pipe(socket);
      socket.on("error", () => stream.close(http2.constants.NGHTTP2_CANCEL));
      stream.once("close", () => {
        if (stream.rstCode === http2.constants.NGHTTP2_NO_ERROR) socket.destroySoon();
        else socket.destroy();
      });
      onTunnel({ id: message.id, stream, socket, closed });
    };
    for (const frame of this.#frames.filter((f) => f.type === "tunnel")) this.#receive(frame);
  }

  /** Ends the session stream but keeps the connection. */
  endSession(): Promise<void> {
    return new Promise((resolve) => {
      this.session.once("close", () => resolve());
      this.session.close(http2.constants.NGHTTP2_CANCEL);
    });
  }

  /** Closes the connection. */
  close(): Promise<void> {
    if (this.connection.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      this.connection.once("close", () => resolve());
      this.connection.destroy();
    });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #receive(message: ServerMessage): void {
    if (message.type === "tunnel" && this.#served) {
      const index = this.#frames.indexOf(message);
      if (index >= 0) this.#frames.splice(index, 1);
      this.#served(message);
      return;
    }
    if (!this.#frames.includes(message)) this.#frames.push(message);
    for (const wake of [...this.#waiters]) wake();
  }
}
