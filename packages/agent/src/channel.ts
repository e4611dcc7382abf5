import { connect as http2Connect, type ClientHttp2Session } from "node:http2";
import { request as httpsRequest } from "node:https";
import type { TLSSocket } from "node:tls";
import type { DockerState, Hello, ServerMessage, Welcome } from "@pier/protocol";
import { FrameDecoder, edgePaths, encodeFrame, parseMessage, serverMessageValidator, welcomeValidator } from "@pier/protocol/wire";
import { AgentError } from "./errors.ts";
import { retryAfterMs } from "./identity/retry-after.ts";

// Larger HTTP/2 windows than the default 64 KiB, as on the server (see its tls-front.ts): bytes
// to Docker through a tunnel (`docker load`, an upload) move at the reader's pace.
const streamWindowBytes = 1024 * 1024;
const connectionWindowBytes = 8 * 1024 * 1024;

/** A live edge session, for the activities that ride its HTTP/2 connection (Docker snapshot, tunnels). */
export interface EdgeSession {
  /** The connection the session stream runs on; activities open their own streams on it. */
  readonly http2: ClientHttp2Session;
  /** Aborted when the session ends, whatever the reason. */
  readonly signal: AbortSignal;
  /** Sends a heartbeat now, before its time, carrying the Docker Engine's changed state (`heartbeat.docker`). */
  heartbeatNow(docker: DockerState): void;
}

/** What a session reports while it runs. */
export interface SessionEvents {
  /** A frame from the server (`refused` excepted: it ends the session), with the session it came on. */
  onMessage(message: ServerMessage, session: EdgeSession): void;
  /** The HTTP `Date` of the server's answer to the session request, before any frame (docs/identity.md "Clock skew"). */
  onServerDate?(date: string | undefined): void;
}

/**
 * The server's error answer, `{code, message, details?, field?, fix?}` (docs/protocol.md
 * "Errors"), as the agent's error with its code, message and fix; another body (a proxy's
 * page) is kept as text.
 */
export function refusedError(status: number, body: string, retryAfter?: string): AgentError {
  let message = body.trim() || `HTTP ${status}`;
  let code = `http_${status}`;
  let fix = "Follow the server's message above.";
  try {
    const parsed = JSON.parse(body) as { code?: unknown; message?: unknown; fix?: unknown } | null;
    if (typeof parsed?.message === "string" && parsed.message) message = parsed.message;
    if (typeof parsed?.code === "string" && parsed.code) code = parsed.code;
    if (typeof parsed?.fix === "string" && parsed.fix) fix = parsed.fix;
  } catch {
    // not JSON: keep the text
  }
  // A refused enrollment (429/503) says when to come back: in Retry-After, or in details.
  const wait = status === 429 || status === 503 ? retryAfterMs(retryAfter, body) : undefined;
  return new AgentError("refused", `The server refused the agent (HTTP ${status}): ${message}`, { explained: { code, cause: `The server refused the agent (HTTP ${status}): ${message}`, fix }, ...(wait === undefined ? {} : { retryAfterMs: wait }) });
}

/** Closed before the server answered anything: how a Node server refuses a client certificate. */
export function closedBeforeAnswer(): AgentError {
  return new AgentError("connect_failed", "The server closed the connection before answering.", {
    explained: {
      code: "closed_before_answer",
      cause: "The server closed the connection right after the TLS handshake without answering; that is how it refuses a client certificate it does not accept (or a connection without one).",
      fix: "Check that --mtlscert is issued by the server's mTLS CA, is valid and has extendedKeyUsage clientAuth (pier doctor --role client), and that the agent uses the mTLS address; the server's log names the exact reason.",
    },
  });
}

/** An error before the server answered: a TLS alert explains itself; a bare reset or close does not. */
function beforeAnswer(error: Error): Error {
  const code = (error as NodeJS.ErrnoException).code;
  return code === undefined || code === "ECONNRESET" || code === "ERR_HTTP2_STREAM_CANCEL" || code === "ERR_HTTP2_SESSION_ERROR" ? closedBeforeAnswer() : error;
}

/**
 * Runs one edge session on an already verified TLS socket: HTTP/2, a `POST` stream that stays
 * open, the hello first, then a heartbeat every check-in interval. Each server frame goes to
 * `events.onMessage` with the `EdgeSession`, so activities can open their own streams on the same
 * connection until its signal aborts. Resolves when the server ends the session; rejects with an
 * `AgentError` when it refuses it.
 */
export function runSession(socket: TLSSocket, authority: string, hello: Hello, events: SessionEvents, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const session = http2Connect(authority, { createConnection: () => socket, settings: { initialWindowSize: streamWindowBytes } });
    session.once("connect", () => session.setLocalWindowSize(connectionWindowBytes));
    const ended = new AbortController();
    let answered = false;
    let refusing = false;
    let heartbeat: NodeJS.Timeout | undefined;
    let seq = 0;
    const live: EdgeSession = {
      http2: session,
      signal: ended.signal,
      heartbeatNow: (docker) => {
        if (!settled && !stream.writableEnded) stream.write(encodeFrame({ type: "heartbeat", seq: ++seq, docker, clock: Date.now() }));
      },
    };
    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearInterval(heartbeat);
      signal.removeEventListener("abort", abort);
      ended.abort();
      session.destroy();
      if (error) reject(error);
      else resolve();
    };
    const abort = () => finish();
    signal.addEventListener("abort", abort, { once: true });
    session.on("error", (error: Error) => finish(answered ? error : beforeAnswer(error)));
    session.on("close", () => finish(answered ? undefined : closedBeforeAnswer()));

    const stream = session.request({ ":method": "POST", ":path": edgePaths.session, "content-type": "application/x-ndjson" }, { endStream: false });
    // A connection can die without a FIN (NAT timeout, unplugged link): when the server has not
    // answered for three intervals, give up on this session and reconnect.
    let lastHeard = Date.now();
    const setInterval_ = (seconds: number) => {
      clearInterval(heartbeat);
      heartbeat = setInterval(() => {
        if (Date.now() - lastHeard > 3 * seconds * 1000 + 5000) {
          finish(new AgentError("connect_failed", "The server stopped answering heartbeats.", { explained: { code: "server_silent", cause: "The server stopped answering heartbeats (connection lost without being closed).", fix: "Nothing to do if it comes back; otherwise check the network path to the server." } }));
          return;
        }
        if (!stream.writableEnded) stream.write(encodeFrame({ type: "heartbeat", seq: ++seq, clock: Date.now() }));
      }, seconds * 1000);
    };
    stream.on("response", (headers) => {
      answered = true;
      events.onServerDate?.(typeof headers.date === "string" ? headers.date : undefined);
      const status = Number(headers[":status"]);
      if (status !== 200) {
        refusing = true;
        let body = "";
        stream.setEncoding("utf8");
        stream.on("data", (chunk: string) => (body += chunk));
        const retryAfter = headers["retry-after"];
        stream.on("end", () => finish(refusedError(status, body, typeof retryAfter === "string" ? retryAfter : undefined)));
        return;
      }
      const decoder = new FrameDecoder(serverMessageValidator);
      stream.on("data", (chunk: Buffer) => {
        lastHeard = Date.now();
        try {
          for (const message of decoder.push(chunk)) {
            if (message.type === "refused") {
              // A busy or restarting server (or an enrollment limit) says when to come back.
              const wait = message.retryAfterSeconds === undefined ? {} : { retryAfterMs: message.retryAfterSeconds * 1000 };
              finish(new AgentError("refused", `The server ended the session: ${message.message}`, { explained: { code: message.code, cause: `The server ended the session: ${message.message}`, fix: "Follow the server's message." }, ...wait }));
              return;
            }
            if (message.type === "welcome" || message.type === "status") setInterval_(message.checkinIntervalSeconds);
            events.onMessage(message, live);
          }
        } catch (error) {
          finish(error as Error);
        }
      });
    });
    // A refusal's body is read above, and its end reports it (this listener runs first).
    stream.on("end", () => {
      if (!refusing) finish();
    });
    stream.on("error", (error: Error) => finish(answered ? error : beforeAnswer(error)));
    stream.write(encodeFrame(hello));
  });
}

/** One polling check-in over an already verified TLS socket (HTTP/1.1); `onServerDate` gets the answer's HTTP `Date`. */
export function checkIn(socket: TLSSocket, host: string, hello: Hello, onServerDate?: (date: string | undefined) => void): Promise<Welcome> {
  return new Promise<Welcome>((resolve, reject) => {
    const body = JSON.stringify(hello);
    const request = httpsRequest(
      { createConnection: () => socket, host, method: "POST", path: edgePaths.checkin, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (response) => {
        onServerDate?.(response.headers.date);
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (text += chunk));
        response.on("end", () => {
          socket.end();
          if (response.statusCode !== 200) return reject(refusedError(response.statusCode ?? 0, text, response.headers["retry-after"]));
          try {
            resolve(parseMessage(welcomeValidator, text));
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        });
      },
    );
    request.on("error", (error) => reject(beforeAnswer(error)));
    request.end(body);
  });
}
