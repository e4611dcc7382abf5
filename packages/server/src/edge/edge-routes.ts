import type { IncomingMessage } from "node:http";
import { constants, type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from "node:http2";
import type { X509Certificate } from "node:crypto";
import {
  FrameDecoder,
  ProtocolError,
  dockerSnapshotSchema,
  edgePaths,
  encodeFrame,
  helloSchema,
  isReportableSkew,
  maxSnapshotBytes,
  maxWaitingSnapshotBytes,
  parseMessage,
  protocolVersion,
  refusedCodes,
  renewRequestSchema,
  retryAfterLimits,
  type DockerSnapshot,
  type Hello,
  type ServerMessage,
} from "@pier/protocol";
import { explainServerSideTlsError, type TlsFailure } from "@pier/pki";
import { ServerError } from "../errors.ts";
import { errorBody, type ErrorAnswer } from "../http/error-response.ts";
import { isDatabaseUnreachable } from "../store/store-errors.ts";
import { isDiskFull } from "../store/disk-full.ts";
import type { CertificateRenewal } from "../identity/renewal.ts";
import { agentFrames } from "./agent-frames.ts";
import { clockSkewLogLine } from "./clock-skews.ts";
import type { EdgeConnection, EdgeService, HelloOutcome } from "./edge-service.ts";
import { HelloGate, defaultHelloGate } from "./hello-gate.ts";
import { SessionTally } from "./session-tally.ts";
import { createFleetRoutes, type FleetEdgeServices } from "./fleet-routes.ts";
import { type ClockedSession, SessionClock } from "./session-clock.ts";
import type { TunnelBroker } from "./tunnel-broker.ts";

type Request = IncomingMessage | Http2ServerRequest;
/** The part of an HTTP/1.1 or HTTP/2 compat response the edge routes use. */
export interface EdgeResponse {
  writeHead(status: number, headers: Record<string, string | number>): unknown;
  write(chunk: string): unknown;
  end(chunk?: string): unknown;
  readonly writableEnded: boolean;
  /** Bytes written but not yet taken by the connection (an agent that does not read). */
  readonly writableLength: number;
}

/** How the edge routes learn who is on the other end of a request. */
export interface EdgeRouteOptions {
  readonly edge: EdgeService;
  /** True when mTLS is configured: edge endpoints then answer only over verified mTLS. */
  readonly mtlsRequired: () => boolean;
  /**
   * Who is on the other end. `peerCertificateError`: a certificate was presented but not
   * verified (the tunnel listener's `optional` mode lets it through to be refused here, with its reason).
   */
  readonly identify: (req: Request) => { authorized: boolean; peerCertificate?: X509Certificate; peerCertificateError?: string; remoteAddress: string };
  /**
   * Whether an unverified certificate may reach the hello anyway (`CERT_HAS_EXPIRED` from the
   * built-in CA, for re-enrollment); every other one is refused with its reason. None without it.
   */
  readonly acceptsUnverified?: (certificate: X509Certificate, error: string) => boolean;
  /**
   * Why an unverified certificate is refused, when the server knows better than OpenSSL's reason
   * (a certificate from a CA a rotation retired); `undefined`: OpenSSL's reason, explained.
   */
  readonly explainUnverified?: (certificate: X509Certificate, error: string) => TlsFailure | undefined;
  /** Told of every unverified certificate refused, for the audit (`refused_tls` with serial and subject). */
  readonly onCertificateRefused?: (refusal: { remoteAddress: string; certificate: X509Certificate; failure: TlsFailure }) => void;
  /** Hands tunnel streams to whoever asked for them. */
  readonly tunnels: Pick<TunnelBroker, "accept">;
  readonly log: (level: "debug" | "info" | "warn", message: string) => void;
  /** Certificate renewal (`edgePaths.renew`); without it the route answers 404 (no built-in CA). */
  readonly renewal?: Pick<CertificateRenewal, "renew">;
  /** Desired state and reports (edge/fleet-routes.ts); without it those paths answer 404. */
  readonly fleet?: FleetEdgeServices;
  /** Hellos handled at once and waiting (session and check-in alike); a `HelloGate` with `defaultHelloGate` without one. */
  readonly hellos?: HelloGate;
  /** How often the count of sessions opened and closed is logged at info (ms, default 60,000). */
  readonly sessionSummaryMs?: number;
  /** Told of each hello answered (session or check-in): `undefined` when accepted, else the error code it was refused with (metrics). */
  readonly onHello?: (refusedCode: string | undefined) => void;
}

/** The session stream an HTTP/2 connection carries, once its hello was accepted. */
interface Carrier {
  readonly environmentId: number;
  /** The session's response, so a closing older stream does not unbind a newer one. */
  readonly stream: object;
}

/**
 * Seconds an agent has to send its hello after opening a session. Only the sending: the timer
 * stops when the hello arrives, however long the server (and its database, in a connect storm)
 * then takes to answer it; the agent's own welcome timeout bounds that wait.
 */
const helloTimeoutMs = 10_000;
/** The check-in's body is one hello; frames are capped at 64 KiB, so is it. */
const maxBodyBytes = 64 * 1024;
/** A renewal body is one PEM CSR (at most 8 KiB) in JSON; twice that leaves room for escaping. */
export const maxRenewalBodyBytes = 16 * 1024;
/**
 * Frames queued on a session stream that its agent does not read: past this, the session is
 * closed rather than queueing forever. The server sends small frames (acks, status, tunnel
 * requests); 1 MiB is thousands of them.
 */
export const maxSessionBacklogBytes = 1024 * 1024;

/**
 * Reads a request body of at most `maxBytes`, refusing it with 413 (`tooLarge`) before
 * buffering it: at once when Content-Length says so, else as soon as the bytes read pass it.
 * Resolves with the body, `"refused"` once refused, or `"aborted"` when the client went away.
 */
function readBody(req: Request, res: EdgeResponse, maxBytes: number, tooLarge: ServerError): Promise<Buffer | "refused" | "aborted"> {
  return new Promise((resolve) => {
    if (Number(req.headers["content-length"] ?? 0) > maxBytes) {
      refuseBody(req, res, tooLarge);
      resolve("refused");
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      req.off("data", onData);
      chunks.length = 0;
      refuseBody(req, res, tooLarge);
      resolve("refused");
    };
    req.on("data", onData);
    req.on("end", () => {
      if (size <= maxBytes) resolve(Buffer.concat(chunks));
    });
    req.on("error", () => resolve("aborted"));
  });
}

function sendJson(res: EdgeResponse, status: number, body: unknown, headers: Record<string, string | number> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Answers an error in the one error shape (http/error-response.ts); returns it for the log. */
function sendEdgeError(res: EdgeResponse, error: unknown): ErrorAnswer {
  const answer = errorBody(error);
  // Refused enrollments (429, 503) say when a retry may work.
  const retryAfter = answer.body.details?.["retryAfterSeconds"];
  sendJson(res, answer.status, answer.body, typeof retryAfter === "number" ? { "retry-after": retryAfter } : {});
  return answer;
}

/** What the server log says of an error: the client's message, or all of an internal error. */
function logged(error: unknown, answer: ErrorAnswer = errorBody(error)): string {
  return answer.internal ? `${answer.body.message} (${error instanceof Error ? (error.stack ?? error.message) : String(error)})` : answer.body.message;
}

/** The HTTP/2 connection a request arrived on; `undefined` over HTTP/1.1. */
function connectionOf(req: Request): Http2Session | undefined {
  return "stream" in req ? req.stream.session : undefined;
}

/**
 * Answers the error and stops the body: HTTP/2 resets the stream, so a client still sending
 * stops; HTTP/1.1 discards what still arrives for a second, then closes the connection
 * (closing at once, or `Connection: close`, resets a client still writing before it reads the
 * answer).
 */
function refuseBody(req: Request, res: EdgeResponse, error: unknown): void {
  if ("stream" in req) {
    sendEdgeError(res, error);
    if (!req.stream.closed) req.stream.close(constants.NGHTTP2_NO_ERROR);
    return;
  }
  sendEdgeError(res, error);
  req.resume();
  const socket = req.socket;
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** Validates a snapshot body, naming the first invalid field (answered as `bad_request`). */
function parseSnapshot(text: string): DockerSnapshot {
  try {
    return parseMessage(dockerSnapshotSchema, text, "snapshot");
  } catch (error) {
    if (error instanceof ProtocolError) throw new ServerError("bad_request", error.message, { cause: error });
    throw error;
  }
}

/**
 * `refused.retryAfterSeconds` from an error's `details.retryAfterSeconds` (a busy server, an
 * enrollment limit): whole seconds within the protocol's 1 s … 1 h.
 */
function retryAfterOf(details: Record<string, unknown> | undefined): { retryAfterSeconds?: number } {
  const seconds = details?.["retryAfterSeconds"];
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return {};
  return { retryAfterSeconds: Math.min(retryAfterLimits.maxSeconds, Math.max(retryAfterLimits.minSeconds, Math.ceil(seconds))) };
}

function checkProtocol(hello: Hello): void {
  if (hello.protocol !== protocolVersion) throw new ServerError("bad_request", `This server speaks edge protocol ${protocolVersion}, the agent ${hello.protocol}; upgrade the older of the two.`);
}

/**
 * The edge endpoints: the long-lived session (HTTP/2, NDJSON both ways), the polling check-in,
 * and, on a session's HTTP/2 connection, the Docker snapshot and the tunnel streams. Returns a
 * handler that answers edge paths and returns false for anything else.
 */
export function createEdgeRoutes(options: EdgeRouteOptions): (req: Request, res: EdgeResponse) => boolean {
  const { edge } = options;
  const hellos = options.hellos ?? new HelloGate(defaultHelloGate);
  // One timer for every session's deadlines (hello, silence, certificate expiry), not three each.
  const clock = new SessionClock();
  // Sessions opened and closed, summed up at info once a minute (each one's own lines are debug).
  const tally = new SessionTally({ log: options.log, ...(options.sessionSummaryMs === undefined ? {} : { periodMs: options.sessionSummaryMs }) });
  // Snapshots and tunnel streams name no environment: they belong to the session whose stream
  // lives on the same HTTP/2 connection, which its TLS handshake (and hello) authenticated.
  const carriers = new WeakMap<Http2Session, Carrier>();
  const carriedEnvironment = (req: Request): number | undefined => {
    const connection = connectionOf(req);
    return connection ? carriers.get(connection)?.environmentId : undefined;
  };

  /** A hello through the gate to the edge service, its outcome told to `onHello`. */
  async function answerHello(hello: Hello, who: ReturnType<EdgeRouteOptions["identify"]>, signal?: AbortSignal): Promise<HelloOutcome> {
    // The device's clock is compared with ours when its hello arrived, not after the hello gate's queue.
    const arrived = new Date();
    try {
      const outcome = await hellos.run(() => edge.hello(hello, connectionFacts(who)), signal);
      options.onHello?.(undefined);
      if (hello.clock !== undefined) edge.clockReported(outcome.environment.id, `environment ${outcome.environment.id} (${hello.agent.edgeId})`, hello.clock, arrived, true);
      return outcome;
    } catch (error) {
      options.onHello?.(errorBody(error).body.code);
      // A refused device whose clock is off: say so beside the refusal, which may be its consequence.
      if (hello.clock !== undefined && isReportableSkew(hello.clock - arrived.getTime())) options.log("warn", clockSkewLogLine(`device ${hello.agent.edgeId} from ${who.remoteAddress} (hello refused)`, hello.clock - arrived.getTime(), "skewed"));
      throw error;
    }
  }

  const fleetRoutes = options.fleet && createFleetRoutes({ fleet: options.fleet, admit, carriedEnvironment, readBody, sendJson, refuse: refuseBody, log: options.log });

  function admit(req: Request, res: EdgeResponse): ReturnType<EdgeRouteOptions["identify"]> | undefined {
    const who = options.identify(req);
    if (options.mtlsRequired() && !who.authorized) {
      sendEdgeError(res, new ServerError("forbidden", "Edge endpoints answer only over mutual TLS with a client certificate from the mTLS CA.", { fix: "Connect to the mTLS address with a client certificate from the mTLS CA." }));
      return undefined;
    }
    const unverified = who.peerCertificate && who.peerCertificateError !== undefined ? { certificate: who.peerCertificate, error: who.peerCertificateError } : undefined;
    if (unverified && !options.acceptsUnverified?.(unverified.certificate, unverified.error)) {
      const failure = options.explainUnverified?.(unverified.certificate, unverified.error) ?? explainServerSideTlsError(unverified.error);
      const serial = unverified.certificate.serialNumber.toLowerCase();
      options.log("warn", `edge request from ${who.remoteAddress} refused: its client certificate ${serial} (${unverified.certificate.subject.replace(/\n/g, ", ")}) is not valid: ${failure.cause}`);
      options.onCertificateRefused?.({ remoteAddress: who.remoteAddress, certificate: unverified.certificate, failure });
      refuseBody(req, res, new ServerError("forbidden", `Your client certificate (serial ${serial}) was refused: ${failure.cause}`, { fix: failure.fix }));
      return undefined;
    }
    return who;
  }

  /** What the hello learns of the connection: address, the certificate presented, and whether it was verified. */
  function connectionFacts(who: ReturnType<EdgeRouteOptions["identify"]>): EdgeConnection {
    return {
      sourceAddress: who.remoteAddress,
      ...(who.peerCertificate ? { peerCertificate: who.peerCertificate } : {}),
      ...(who.peerCertificate && who.peerCertificateError !== undefined ? { peerCertificateError: who.peerCertificateError } : {}),
    };
  }

  function checkin(req: Request, res: EdgeResponse): void {
    const who = admit(req, res);
    if (!who) return;
    const tooLarge = new ServerError("payload_too_large", `A check-in body exceeds ${maxBodyBytes} bytes.`, { fix: "Send one hello frame per check-in." });
    void readBody(req, res, maxBodyBytes, tooLarge).then((body) => {
      if (typeof body === "string") return;
      void (async () => {
        try {
          const hello = parseMessage(helloSchema, body.toString("utf8"));
          checkProtocol(hello);
          const { welcome } = await answerHello(hello, who);
          sendJson(res, 200, { ...welcome, time: Date.now() });
        } catch (error) {
          // An unreachable database is said once per outage by the store, not once per device.
          options.log(isDatabaseUnreachable(error) || isDiskFull(error) ? "debug" : "warn", `check-in from ${who.remoteAddress} refused: ${logged(error, sendEdgeError(res, error))}`);
        }
      })();
    });
  }

  function session(req: Request, res: EdgeResponse): void {
    if (req.httpVersion !== "2.0") {
      sendEdgeError(res, new ServerError("http_version_not_supported", "The edge session needs HTTP/2.", { fix: "Open the session over HTTP/2, or use the polling check-in over HTTP/1.1." }));
      return;
    }
    const who = admit(req, res);
    if (!who) return;
    res.writeHead(200, { "content-type": "application/x-ndjson", "cache-control": "no-store" });
    const watched: ClockedSession = {
      lastFrameAt: Date.now(),
      intervalSeconds: 5,
      helloDeadline: Date.now() + helloTimeoutMs,
      expiresAt: undefined,
      due: (reason) => {
        if (reason === "hello") end({ code: "timeout", message: "No hello within 10 s." });
        // A device that vanishes without closing its connection (power cut, NAT drop) would hold
        // its session forever: after three silent intervals the server lets it go.
        else if (reason === "silence") {
          end({ code: "timeout", message: "No heartbeat for three check-in intervals." });
          // Nothing comes through a connection this silent (a cut link): its tunnels would wait
          // for Docker's answers as long as TCP keeps it (for ever, with nothing left to send).
          // Destroying it ends each proxied request now, with a 503 (chaos suite, partition).
          connectionOf(req)?.destroy();
        }
        else if (who.peerCertificate) expired(who.peerCertificate);
      },
    };
    const push = (message: ServerMessage) => {
      if (message.type === "status") watched.intervalSeconds = message.checkinIntervalSeconds;
      if (res.writableEnded) return;
      res.write(encodeFrame(message));
      // HTTP/2 flow control holds back what the agent does not read; the rest waits here.
      if (res.writableLength > maxSessionBacklogBytes) overflowed();
    };
    // An agent that sends (heartbeats, tunnel requests made for it) but never reads would make
    // every frame wait in memory: close its session instead, and reset the stream so the
    // queued frames are dropped now, not when the agent reads them.
    const overflowed = () => {
      options.log("warn", `edge session${environmentId === undefined ? "" : ` of environment ${environmentId}`} from ${who.remoteAddress} closed: the agent is not reading (${res.writableLength} bytes queued, the cap is ${maxSessionBacklogBytes})`);
      end();
      if ("stream" in req && !req.stream.destroyed) req.stream.close(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    };
    const decoder = new FrameDecoder(agentFrames);
    const connection = connectionOf(req);
    let environmentId: number | undefined;
    let detach: (() => void) | undefined;
    /** The session stream closed (the device left, or the server ended it). */
    let streamClosed = false;
    let pending = Promise.resolve();
    // Aborted when the stream closes: a hello still waiting at the hello gate leaves the queue.
    const gone = new AbortController();
    const unbind = () => {
      if (connection && carriers.get(connection)?.stream === res) carriers.delete(connection);
    };
    const end = (refusal?: { code: string; message: string; retryAfterSeconds?: number }) => {
      unwatch();
      if (refusal) push({ type: "refused", ...refusal });
      detach?.();
      unbind();
      if (!res.writableEnded) res.end();
    };
    const unwatch = clock.watch(watched);
    // The session's own callbacks are made here, not where the hello is handled: a closure made
    // there keeps that scope, the hello's chunk of bytes included, for the session's life (287 B
    // and a Buffer per session in the 15,000-agent heap snapshot).
    // Healthy: heard from within one check-in interval (plus slack), not a link that died unnoticed.
    const healthy = () => Date.now() - watched.lastFrameAt <= (watched.intervalSeconds + 5) * 1000;
    const closeSession = () => end();

    req.on("data", (chunk: Buffer) => {
      watched.lastFrameAt = Date.now();
      // Frames are handled in order: a heartbeat never overtakes the hello it follows.
      pending = pending.then(async () => {
        if (res.writableEnded) return;
        try {
          for (const message of decoder.push(chunk)) {
            if (message.type === "hello") {
              if (environmentId !== undefined) continue;
              checkProtocol(message);
              // The hello arrived in time. Ending the stream now while the hello is being handled
              // would throw its work away and have the device connect again: a retry storm when
              // the server is slow because many devices connect at once.
              watched.helloDeadline = undefined;
              const { welcome, deliverOnly } = await answerHello(message, who, gone.signal);
              if (streamClosed || res.writableEnded) {
                // The device gave up while its hello was handled: a session attached now would
                // never be detached (the close already happened) and its directory row never released.
                options.log("debug", `edge session from ${who.remoteAddress}: the stream closed while its hello was handled; no session opened`);
                return;
              }
              if (deliverOnly) {
                // A certificate delivered again to a device its token no longer admits: no session.
                watched.helloDeadline = undefined;
                push({ ...welcome, time: Date.now() });
                end();
                return;
              }
              const carried = connection ? carriers.get(connection) : undefined;
              if (carried && carried.environmentId !== welcome.environmentId) {
                throw new ServerError("conflict", `This connection already carries the session of environment ${carried.environmentId}; open one connection per device.`);
              }
              watched.helloDeadline = undefined;
              environmentId = welcome.environmentId;
              watched.intervalSeconds = welcome.checkinIntervalSeconds;
              push({ ...welcome, time: Date.now() });
              // Replaces (and closes) an older session of this device, which unbinds it first.
              detach = edge.attachSession(environmentId, { push, close: closeSession, sourceAddress: who.remoteAddress, healthy, presentedCertificate: who.peerCertificate !== undefined });
              if (connection) carriers.set(connection, { environmentId, stream: res });
              // A session outlives no certificate: it ends when the one it was opened with expires
              // (a session opened with an expired one, to re-enroll, waits in the waiting room).
              const presented = who.peerCertificate;
              if (who.authorized && presented) {
                watched.expiresAt = presented.validToDate.getTime();
                if (watched.expiresAt <= Date.now()) expired(presented);
              }
              // Per session at debug; the tally says how many opened at info, once a minute.
              options.log("debug", `edge session open: environment ${environmentId} (${message.agent.edgeId}) from ${who.remoteAddress}, ${welcome.status}`);
              tally.opened();
            } else if (environmentId !== undefined) {
              // mTLS may have been turned on since the session opened (an upload through the
              // API): a session that never showed a client certificate ends at its next heartbeat.
              if (options.mtlsRequired() && !who.authorized) {
                throw new ServerError("forbidden", "This server now requires mutual TLS: reconnect to the mTLS address with a client certificate from the mTLS CA.");
              }
              edge.heartbeat(environmentId, new Date(), message.docker, message.clock);
              push({ type: "ack", seq: message.seq, time: Date.now() });
            } else {
              throw new ServerError("bad_request", "The first frame of a session must be a hello.");
            }
          }
        } catch (error) {
          const { body } = errorBody(error);
          if (streamClosed) {
            options.log("debug", `edge session from ${who.remoteAddress}: the stream closed before its hello was answered (${logged(error)})`);
            return;
          }
          // An unreachable database is said once per outage by the store, not once per device.
          options.log(isDatabaseUnreachable(error) || isDiskFull(error) ? "debug" : "warn", `edge session from ${who.remoteAddress} refused: ${logged(error)}`);
          watched.helloDeadline = undefined;
          end({ code: body.code, message: body.message, ...retryAfterOf(body.details) });
        }
      });
    });
    const expired = (certificate: X509Certificate) => {
      const serial = certificate.serialNumber.toLowerCase();
      options.log("info", `edge session of environment ${environmentId} from ${who.remoteAddress} closed: its client certificate ${serial} expired at ${certificate.validToDate.toISOString()}`);
      end({ code: refusedCodes.expired, message: `The client certificate this session was opened with (serial ${serial}) expired; reconnect with a newer certificate, or with this one and a CSR to re-enroll through the waiting room.` });
    };
    const closed = () => {
      const first = !streamClosed;
      streamClosed = true;
      gone.abort();
      watched.helloDeadline = undefined;
      unwatch();
      detach?.();
      unbind();
      if (environmentId === undefined || !first) return;
      options.log("debug", `edge session closed: environment ${environmentId}`);
      tally.closed();
    };
    req.on("close", closed);
    req.on("error", closed);
  }

  function snapshot(req: Request, res: EdgeResponse): void {
    if (req.httpVersion !== "2.0") {
      sendEdgeError(res, new ServerError("http_version_not_supported", "Snapshots are posted over HTTP/2.", { fix: "Post the snapshot over HTTP/2, on the connection that carries the device's session." }));
      return;
    }
    const who = admit(req, res);
    if (!who) return;
    const environmentId = carriedEnvironment(req);
    if (environmentId === undefined) {
      refuseBody(req, res, new ServerError("conflict", "This connection carries no edge session.", { fix: "Post the snapshot on the HTTP/2 connection of the device's session, after its welcome." }));
      return;
    }
    void (async () => {
      // The body waits unread (bounded by the stream's flow-control window) while the cap is looked up.
      const waiting = await edge.isWaiting(environmentId).catch(() => true);
      const cap = waiting ? maxWaitingSnapshotBytes : maxSnapshotBytes;
      const tooLarge = waiting
        ? new ServerError("payload_too_large", `This device waits in the waiting room: its snapshots may not exceed ${maxWaitingSnapshotBytes} bytes until an administrator associates it.`, { fix: "Associate the device in Pier (Environments → Waiting Room); then snapshots up to 4 MiB are kept." })
        : new ServerError("payload_too_large", `The snapshot exceeds ${maxSnapshotBytes} bytes.`);
      const body = await readBody(req, res, cap, tooLarge);
      if (body === "refused") options.log("warn", `snapshot of environment ${environmentId} from ${who.remoteAddress} refused: ${tooLarge.message}`);
      if (typeof body === "string") return;
      try {
        await edge.recordSnapshot(environmentId, parseSnapshot(body.toString("utf8")));
        options.log("debug", `snapshot of environment ${environmentId} stored (${body.length} bytes)`);
        res.writeHead(204, {});
        res.end();
      } catch (error) {
        // A full disk is said once by the store (store/disk-full.ts), not once per device and snapshot.
        options.log(isDatabaseUnreachable(error) || isDiskFull(error) ? "debug" : "warn", `snapshot of environment ${environmentId} refused: ${logged(error, sendEdgeError(res, error))}`);
      }
    })();
  }

  function renew(req: Request, res: EdgeResponse): void {
    const who = admit(req, res);
    if (!who) return;
    const renewal = options.renewal;
    if (!renewal) {
      refuseBody(req, res, new ServerError("not_found", "This server issues no device certificates: it does not use its built-in CA for devices.", { fix: "Renew the certificate with the CA that issued it." }));
      return;
    }
    const tooLarge = new ServerError("payload_too_large", `A renewal body exceeds ${maxRenewalBodyBytes} bytes.`, { fix: "Send one PEM CSR as {\"csr\": \"…\"}." });
    void readBody(req, res, maxRenewalBodyBytes, tooLarge).then((body) => {
      if (body === "refused") options.log("warn", `renewal from ${who.remoteAddress} refused: ${tooLarge.message}`);
      if (typeof body === "string") return;
      void (async () => {
        try {
          const { csr } = parseMessage(renewRequestSchema, body.toString("utf8"), "renewal request");
          sendJson(res, 200, await renewal.renew(who, csr), { "cache-control": "no-store" });
        } catch (error) {
          const answer = sendEdgeError(res, error);
          // The renewal service logs (and audits) its own refusals; this is what it never saw.
          if (!(error instanceof ServerError)) options.log("warn", `renewal from ${who.remoteAddress} refused: ${logged(error, answer)}`);
        }
      })();
    });
  }

  function tunnel(req: Request, res: EdgeResponse, id: string): void {
    const who = admit(req, res);
    if (!who) return;
    try {
      // An HTTP/2 request always comes with an HTTP/2 response.
      options.tunnels.accept(id, carriedEnvironment(req), "stream" in req ? { req, res: res as unknown as Http2ServerResponse } : undefined);
    } catch (error) {
      options.log("warn", `tunnel stream from ${who.remoteAddress} refused: ${logged(error)}`);
      refuseBody(req, res, error);
    }
  }

  return (req, res) => {
    const path = (req.url ?? "").split("?")[0] ?? "";
    if (path === edgePaths.session && req.method === "POST") session(req, res);
    else if (path === edgePaths.checkin && req.method === "POST") checkin(req, res);
    else if (path === edgePaths.snapshot && req.method === "POST") snapshot(req, res);
    else if (path === edgePaths.renew && req.method === "POST") renew(req, res);
    else if (path.startsWith(edgePaths.tunnel) && req.method === "POST") tunnel(req, res, path.slice(edgePaths.tunnel.length));
    else if (!fleetRoutes?.(req, res, path)) return false;
    return true;
  };
}
