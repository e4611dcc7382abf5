import http2, { constants, type ClientHttp2Session, type ClientHttp2Stream } from "node:http2";
import { isIP } from "node:net";
import type { Duplex } from "node:stream";
import tls, { type PeerCertificate } from "node:tls";
import { tlsProfile } from "@pier/pki";
import { ServerError, serverErrorStatus, type ServerErrorCode } from "../errors.ts";
import { peerHost, replicaIdOf, type PeerCredentials } from "./peer-ca.ts";
import { keepPeerAlive, peerKeepalive, type PeerKeepalive } from "./peer-keepalive.ts";

/** A replica to reach: its id (its certificate must name it) and its peer address. */
export interface PeerTarget {
  readonly id: string;
  readonly name: string;
  readonly peerAddress: string;
}

/** What the peer client needs. */
export interface PeerClientOptions {
  /** This replica's certificate, read at each new connection (it is re-issued before expiry). */
  readonly credentials: () => PeerCredentials;
  readonly log: (level: "debug" | "info" | "warn" | "error", message: string) => void;
  /** Connections without a stream close after this long (default 60 s). */
  readonly idleMs?: number;
  /** PING and TCP keepalive timing (default `peerKeepalive`: every 10 s, 5 s to answer). */
  readonly keepalive?: PeerKeepalive;
}

/** Largest error answer read from a peer. */
const errorBodyLimit = 16 * 1024;

/** Why a replica could not be used: it did not answer, or it answered with an error. */
export class PeerUnreachable extends Error {
  override readonly name = "PeerUnreachable";
}

/**
 * The calling side of the peer channel: one HTTP/2 session per replica (reused by every tunnel
 * to it, reconnected on the next call after it drops), presenting this replica's peer
 * certificate and accepting only a certificate of the same peer CA that names the replica it
 * meant to reach.
 *
 * @example
 * const peers = new PeerClient({ credentials: () => identity.current, log });
 * const tunnel = await peers.openTunnel(owner, environmentId, { signal });
 */
export class PeerClient {
  readonly #options: PeerClientOptions;
  readonly #sessions = new Map<string, ClientHttp2Session>();

  constructor(options: PeerClientOptions) {
    this.#options = options;
  }

  /** Open connections (for tests and diagnostics). */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /**
   * Asks `peer` to open a tunnel to the device of `environmentId` and resolves with the stream
   * once it answered 200. Rejects with the peer's own error (`not_found` when the session is no
   * longer there) or `PeerUnreachable` when the replica cannot be reached within `timeoutMs`.
   */
  openTunnel(peer: PeerTarget, environmentId: number, options: { readonly signal?: AbortSignal; readonly timeoutMs?: number } = {}): Promise<Duplex> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    const session = this.#session(peer);
    return new Promise<Duplex>((resolve, reject) => {
      let stream: ClientHttp2Stream | undefined;
      let settled = false;
      const finish = (outcome: { stream: ClientHttp2Stream } | { error: Error }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        if ("stream" in outcome) resolve(outcome.stream);
        else {
          stream?.close(constants.NGHTTP2_CANCEL);
          reject(outcome.error);
        }
      };
      const onAbort = () => finish({ error: signal?.reason instanceof Error ? signal.reason : new ServerError("unavailable", "The tunnel request was cancelled.") });
      const timer = setTimeout(() => {
        // A connection that never came up is dropped, so the next call tries afresh.
        if (!session.connecting && session.socket) finish({ error: new PeerUnreachable(`no answer within ${(options.timeoutMs ?? 10_000) / 1000} s`) });
        else {
          this.#forget(peer, session);
          session.destroy();
          finish({ error: new PeerUnreachable(`no connection within ${(options.timeoutMs ?? 10_000) / 1000} s`) });
        }
      }, options.timeoutMs ?? 10_000);
      signal?.addEventListener("abort", onAbort, { once: true });
      try {
        stream = session.request({ ":method": "POST", ":path": `/peer/v1/environments/${environmentId}/tunnel` }, { endStream: false });
      } catch (error) {
        finish({ error: new PeerUnreachable((error as Error).message) });
        return;
      }
      const opened = stream;
      opened.on("error", (error: Error) => finish({ error: new PeerUnreachable(error.message) }));
      let answered = false;
      opened.once("close", () => {
        if (!answered) finish({ error: new PeerUnreachable(`the stream closed before an answer (HTTP/2 code ${opened.rstCode})`) });
      });
      opened.once("response", (headers) => {
        answered = true;
        const status = Number(headers[":status"]);
        if (status === 200) {
          finish({ stream: opened });
          return;
        }
        readErrorAnswer(opened, status).then((error) => finish({ error }), (error: unknown) => finish({ error: error as Error }));
      });
    });
  }

  /** Closes every peer connection (shutdown). */
  close(): void {
    for (const session of this.#sessions.values()) session.destroy();
    this.#sessions.clear();
  }

  #session(peer: PeerTarget): ClientHttp2Session {
    const key = `${peer.id}@${peer.peerAddress}`;
    const existing = this.#sessions.get(key);
    if (existing && !existing.closed && !existing.destroyed) return existing;
    const credentials = this.#options.credentials();
    const host = peerHost(peer.peerAddress);
    const keepalive = this.#options.keepalive ?? peerKeepalive;
    const session = http2.connect(`https://${peer.peerAddress}`, {
      // Node's own connection, with TCP keepalive set (the session's socket refuses it later).
      // (`options` are these connect options: CA, certificate, key, server name, identity check.)
      createConnection: (_authority: URL, options: http2.SessionOptions) => {
        const socket = tls.connect({ ...(options as tls.ConnectionOptions), host, port: peerPort(peer.peerAddress), ALPNProtocols: ["h2"] });
        socket.setKeepAlive(true, keepalive.intervalMs);
        return socket;
      },
      ...tlsProfile,
      ca: credentials.ca,
      cert: credentials.cert,
      key: credentials.key,
      // An IP is no server name (RFC 6066 §3); the replica is checked by its URI SAN below anyway.
      ...(isIP(host) ? { servername: "" } : { servername: host }),
      // The chain is verified against the peer CA alone; the name that matters is the replica's.
      checkServerIdentity: (_host: string, certificate: PeerCertificate) => {
        const named = replicaIdOf(certificate.subjectaltname);
        return named === peer.id ? undefined : new Error(`the certificate at ${peer.peerAddress} names ${named === undefined ? "no replica" : `replica ${named}`}, not ${peer.id} ("${peer.name}")`);
      },
    });
    session.on("error", (error: Error) => this.#options.log("warn", `peer channel to replica ${peer.name} (${peer.peerAddress}): ${error.message}`));
    session.once("close", () => this.#forget(peer, session));
    session.once("goaway", () => this.#forget(peer, session));
    keepPeerAlive(session, `peer channel to replica ${peer.name} (${peer.peerAddress})`, keepalive, this.#options.log);
    session.setTimeout(this.#options.idleMs ?? 60_000, () => {
      this.#forget(peer, session);
      session.close();
    });
    this.#sessions.set(key, session);
    return session;
  }

  #forget(peer: PeerTarget, session: ClientHttp2Session): void {
    const key = `${peer.id}@${peer.peerAddress}`;
    if (this.#sessions.get(key) === session) this.#sessions.delete(key);
  }
}

/** The port of a `host:port` peer address. */
function peerPort(peerAddress: string): number {
  return Number(peerAddress.slice(peerAddress.lastIndexOf(":") + 1));
}

/** The peer's error answer in the one error shape, as the `ServerError` it stands for. */
function readErrorAnswer(stream: ClientHttp2Stream, status: number): Promise<Error> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= errorBodyLimit) chunks.push(chunk);
      else stream.close(constants.NGHTTP2_CANCEL);
    });
    stream.once("close", () => {
      let body: { code?: unknown; message?: unknown } = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as typeof body;
      } catch {
        // Not the error shape: the status alone says it.
      }
      const code = typeof body.code === "string" && body.code in serverErrorStatus ? (body.code as ServerErrorCode) : status === 404 ? "not_found" : "unavailable";
      resolve(new ServerError(code, typeof body.message === "string" ? body.message.slice(0, 1000) : `The replica answered ${status}.`));
    });
  });
}
