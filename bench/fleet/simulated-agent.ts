import { connect as http2Connect, type ClientHttp2Session, type ClientHttp2Stream } from "node:http2";
import { connect as tlsConnect, createSecureContext, type SecureContext, type TLSSocket } from "node:tls";
import { FrameDecoder, edgePaths, encodeFrame, protocolVersion, serverMessageValidator, type Welcome } from "@pier/protocol";
import { answerTunnelWithPing } from "./docker-stand-in.ts";
import type { AgentIdentity } from "./fleet-pki.ts";
import type { Refusal } from "./reconnect-policy.ts";

/** What a simulated agent tells the fleet. */
export interface AgentEvents {
  /** The server acknowledged heartbeat `seq`, sent at `sentAt` (performance.now()). */
  onAck(latencyMs: number, sentAt: number): void;
  /** An open session ended without `close()` being called; `refusal` when the server said why. */
  onLost(reason: string, refusal?: Refusal): void;
  /** A TLS handshake completed (before the hello). */
  onHandshake?(): void;
  /** The welcome or a status frame carried a desired-state version (docs/fleet.md). */
  onDesiredStateVersion?(version: string): void;
}

/** How one agent reaches the tunnel listener. */
export interface AgentTarget {
  readonly port: number;
  /** The mTLS CA, which signs the server's mTLS certificate (DNS:localhost). */
  readonly ca: Buffer;
  /** Connect → welcome, or with `welcomeTimeoutMs` connect → TLS handshake done (the agent's dial: 15 s). */
  readonly timeoutMs: number;
  /**
   * Handshake done → welcome. The real agent sets no bound here (the server refuses or closes a
   * session it will not admit); a benchmark bounds it. Absent: `timeoutMs` bounds the whole.
   */
  readonly welcomeTimeoutMs?: number;
  /** The loopback address this agent connects from (its own client address behind a PROXY-protocol balancer). */
  readonly localAddress?: string;
}

/** The outcome of a successful `open()`. */
export interface OpenedSession {
  readonly welcome: Welcome;
  /** From the start of the TCP connect to the welcome, ms. */
  readonly setupMs: number;
  /** From the start of the TCP connect to the end of the TLS handshake, ms. */
  readonly handshakeMs: number;
  /** True when the TLS handshake resumed this agent's previous session. */
  readonly resumed: boolean;
}

/** Short, stable reason text for the failure table (error codes group the same cause). */
export function describeFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as NodeJS.ErrnoException).code;
  return code ? `${code}: ${error.message.replace(/\s+/g, " ").slice(0, 120)}` : error.message.slice(0, 140);
}

/** A failed `open()` the server refused: its code and retry hint, for the reconnect policy. */
export function refusalOf(error: unknown): Refusal | undefined {
  return (error as { refusal?: Refusal } | undefined)?.refusal;
}

/**
 * One edge device, speaking the session protocol as `packages/agent` does (TLS 1.2+ with its own
 * client certificate, ALPN h2, a `POST /api/edge/v1/session` stream, hello, heartbeats) but driven
 * by the fleet: it sends a heartbeat when told to and times the server's ack, so thousands share
 * one process and their phases can be spread across the interval.
 *
 * @example
 * const agent = new SimulatedAgent(identity, events);
 * const { welcome } = await agent.open({ port, ca, timeoutMs: 15_000 });
 * agent.heartbeat();
 */
export class SimulatedAgent {
  readonly identity: AgentIdentity;
  readonly #events: AgentEvents;
  /** Answer `tunnel` pushes with a stand-in Docker Engine (bench/fleet/docker-stand-in.ts). */
  readonly #answerTunnels: boolean;
  #secureContext: SecureContext | undefined;
  /** The last TLS session ticket the server gave this agent, for resumption on reconnect. */
  #tlsSession: Buffer | undefined;
  #h2: ClientHttp2Session | undefined;
  #stream: ClientHttp2Stream | undefined;
  #open = false;
  #seq = 0;
  /** Heartbeats in flight: seq → performance.now() at send. */
  readonly #inFlight = new Map<number, number>();

  constructor(identity: AgentIdentity, events: AgentEvents, options: { answerTunnels?: boolean } = {}) {
    this.identity = identity;
    this.#events = events;
    this.#answerTunnels = options.answerTunnels ?? false;
  }

  get isOpen(): boolean {
    return this.#open;
  }

  /** Heartbeats sent and not acknowledged yet. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /**
   * Connects, says hello and resolves with the welcome; rejects with the reason otherwise (TLS
   * failure, refusal, timeout). Each agent presents only its own certificate and resumes only its
   * own TLS session: a resumed session carries the client identity it was made with.
   */
  open(target: AgentTarget): Promise<OpenedSession> {
    const started = performance.now();
    let handshakeMs = Number.NaN;
    this.#secureContext ??= createSecureContext({ ca: target.ca, cert: this.identity.certificatePem, key: this.identity.keyPem, minVersion: "TLSv1.2" });
    return new Promise<OpenedSession>((resolve, reject) => {
      let settled = false;
      const fail = (error: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#teardown();
        socket.destroy();
        reject(error instanceof Error ? error : new Error(String(error)));
      };
      const timeout = (what: string, ms: number) => setTimeout(() => fail(Object.assign(new Error(`${what} within ${ms} ms`), { code: "ETIMEDOUT" })), ms);
      let timer = timeout(target.welcomeTimeoutMs === undefined ? "no welcome" : "no TLS handshake", target.timeoutMs);

      const socket: TLSSocket = tlsConnect({
        host: "127.0.0.1",
        port: target.port,
        ...(target.localAddress === undefined ? {} : { localAddress: target.localAddress }),
        servername: "localhost",
        secureContext: this.#secureContext,
        ALPNProtocols: ["h2"],
        minVersion: "TLSv1.2",
        ...(this.#tlsSession ? { session: this.#tlsSession } : {}),
      });
      socket.on("session", (ticket: Buffer) => (this.#tlsSession = ticket));
      socket.once("error", fail);
      socket.once("secureConnect", () => {
        this.#events.onHandshake?.();
        handshakeMs = performance.now() - started;
        if (target.welcomeTimeoutMs !== undefined) {
          clearTimeout(timer);
          timer = timeout("no welcome after the handshake", target.welcomeTimeoutMs);
        }
        const h2 = http2Connect("https://localhost", { createConnection: () => socket });
        this.#h2 = h2;
        h2.on("error", (error) => (this.#open ? this.#lost(describeFailure(error)) : fail(error)));
        h2.on("close", () => (this.#open ? this.#lost("connection closed") : fail(Object.assign(new Error("closed before the welcome"), { code: "ECLOSED" }))));
        // As the real agent, a GOAWAY alone ends nothing: Node closes the session after its open
        // streams, so the session stream still delivers what the server sent (a `refused
        // restarting` of a graceful restart arrives after the GOAWAY: nghttp2 sends control
        // frames first), then closes.

        const stream = h2.request({ ":method": "POST", ":path": edgePaths.session, "content-type": "application/x-ndjson" }, { endStream: false });
        this.#stream = stream;
        stream.on("error", (error) => (this.#open ? this.#lost(describeFailure(error)) : fail(error)));
        stream.on("close", () => (this.#open ? this.#lost(`stream closed (${stream.rstCode ?? "no code"})`) : fail(Object.assign(new Error(`stream closed before the welcome (RST ${stream.rstCode})`), { code: "ECLOSED" }))));
        stream.on("response", (headers) => {
          const status = Number(headers[":status"]);
          if (status !== 200) {
            let body = "";
            stream.setEncoding("utf8");
            stream.on("data", (chunk: string) => (body += chunk));
            stream.on("end", () => fail(Object.assign(new Error(`HTTP ${status}: ${body.slice(0, 200)}`), { code: `HTTP_${status}` })));
            return;
          }
          // The agent's own zod-free validator: what the real agent runs, and cheaper per frame.
          const decoder = new FrameDecoder(serverMessageValidator);
          stream.on("data", (chunk: Buffer) => {
            const now = performance.now();
            let messages;
            try {
              messages = decoder.push(chunk);
            } catch (error) {
              if (this.#open) this.#lost(describeFailure(error));
              else fail(error);
              return;
            }
            for (const message of messages) {
              switch (message.type) {
                case "welcome":
                  if (settled) break;
                  settled = true;
                  clearTimeout(timer);
                  this.#open = true;
                  resolve({ welcome: message, setupMs: now - started, handshakeMs, resumed: socket.isSessionReused() });
                  if (message.desiredStateVersion !== undefined) this.#events.onDesiredStateVersion?.(message.desiredStateVersion);
                  break;
                case "ack": {
                  const sentAt = this.#inFlight.get(message.seq);
                  if (sentAt === undefined) break;
                  this.#inFlight.delete(message.seq);
                  this.#events.onAck(now - sentAt, sentAt);
                  break;
                }
                case "refused": {
                  const refusal: Refusal = { code: message.code, ...(message.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: message.retryAfterSeconds }) };
                  if (this.#open) this.#lost(`refused ${message.code}`, refusal);
                  else fail(Object.assign(new Error(message.message), { code: `REFUSED_${message.code}`, refusal }));
                  return;
                }
                case "tunnel":
                  // Most simulated devices have no Docker Engine to reach; some answer pings.
                  if (this.#answerTunnels && this.#h2) answerTunnelWithPing(this.#h2, message.id);
                  break;
                case "status":
                  if (message.desiredStateVersion !== undefined) this.#events.onDesiredStateVersion?.(message.desiredStateVersion);
                  break;
                case "certificate": // simulated devices bring their certificates
                case "renew": // benchmarks renew when they choose
                  break;
              }
            }
          });
        });
        stream.write(
          encodeFrame({
            type: "hello",
            protocol: protocolVersion,
            environmentId: 0,
            agent: { edgeId: this.identity.edgeId, agentVersion: "bench", platform: "docker", hostname: this.identity.edgeId, os: "linux", arch: "x64" },
          }),
        );
      });
    });
  }

  /** Sends the next heartbeat; false when the session is not open. */
  heartbeat(): boolean {
    const stream = this.#stream;
    if (!this.#open || !stream || stream.writableEnded) return false;
    const seq = ++this.#seq;
    this.#inFlight.set(seq, performance.now());
    stream.write(encodeFrame({ type: "heartbeat", seq }));
    return true;
  }

  /**
   * Posts `body` (JSON) on the session's HTTP/2 connection, as the agent posts its renewal;
   * resolves with the status, the `Retry-After` header and the body text.
   */
  post(path: string, body: string): Promise<{ status: number; retryAfter: number | undefined; body: string }> {
    return this.request("POST", path, body);
  }

  /** `method path` on the session's HTTP/2 connection (a body for POST), as `post`. */
  request(method: "GET" | "POST", path: string, body?: string): Promise<{ status: number; retryAfter: number | undefined; body: string }> {
    const h2 = this.#h2;
    if (!this.#open || !h2 || h2.destroyed) return Promise.reject(Object.assign(new Error("no open session"), { code: "ECLOSED" }));
    return new Promise((resolve, reject) => {
      const stream = h2.request({ ":method": method, ":path": path, ...(body === undefined ? {} : { "content-type": "application/json" }) }, { endStream: body === undefined });
      let status = 0;
      let retryAfter: number | undefined;
      let text = "";
      stream.setEncoding("utf8");
      stream.on("response", (headers) => {
        status = Number(headers[":status"]);
        const header = headers["retry-after"];
        retryAfter = typeof header === "string" ? Number(header) : undefined;
      });
      stream.on("data", (chunk: string) => (text += chunk));
      stream.on("error", (error: unknown) => reject(error instanceof Error ? error : new Error(String(error))));
      stream.on("close", () => (status === 0 ? reject(Object.assign(new Error(`stream closed without an answer (RST ${stream.rstCode})`), { code: "ECLOSED" })) : resolve({ status, retryAfter, body: text })));
      if (body !== undefined) stream.end(body);
    });
  }

  /** Ends the session without reporting it as lost. */
  close(): void {
    this.#open = false;
    this.#teardown();
  }

  #lost(reason: string, refusal?: Refusal): void {
    if (!this.#open) return;
    this.#open = false;
    this.#teardown();
    this.#events.onLost(reason, refusal);
  }

  #teardown(): void {
    this.#inFlight.clear();
    const h2 = this.#h2;
    this.#h2 = undefined;
    this.#stream = undefined;
    h2?.destroy();
  }
}
