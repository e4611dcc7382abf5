import http2, { constants, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import { tlsProfile } from "@pier/pki";
import type { OpenTunnelOptions } from "../edge/tunnel-broker.ts";
import { ServerError } from "../errors.ts";
import { errorBody, errorText } from "../http/error-response.ts";
import { replicaIdOf, type PeerCredentials } from "./peer-ca.ts";
import { keepPeerAlive, peerKeepalive, type PeerKeepalive } from "./peer-keepalive.ts";

/** The peer route: `POST /peer/v1/environments/{id}/tunnel`. */
const tunnelRoute = /^\/peer\/v1\/environments\/([0-9]{1,15})\/tunnel$/;

/** Limits of the peer listener; each has a test that exceeds it. */
export const peerLimits = {
  /** Open tunnels per peer connection (one replica's proxied Docker calls to this one). */
  tunnelsPerSession: 256,
  /** Longest `:path` accepted. */
  pathLength: 256,
  /** Header block per request (HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE). */
  headerBytes: 8192,
  /** Absolute deadline of a TLS handshake. */
  handshakeTimeoutMs: 10_000,
  /** Open connections, handshakes included (replicas need one each; the rest are strangers). */
  connections: 1024,
} as const;

/** The limits, as numbers. */
export type PeerLimits = { readonly [K in keyof typeof peerLimits]: number };

/** What the peer listener needs from this replica. */
export interface PeerServerOptions {
  readonly credentials: PeerCredentials;
  /** True while this replica holds the environment's session. */
  readonly isLocal: (environmentId: number) => boolean;
  /** Opens a tunnel to a device through this replica's own session (`TunnelBroker.open`). */
  readonly openLocal: (environmentId: number, options: OpenTunnelOptions) => Promise<Duplex>;
  readonly log: (level: "debug" | "info" | "warn" | "error", message: string) => void;
  readonly limits?: Partial<PeerLimits>;
  /** PING and TCP keepalive timing (default `peerKeepalive`: every 10 s, 5 s to answer). */
  readonly keepalive?: PeerKeepalive;
}

/**
 * The peer listener (docs/architecture.md "Reaching a device on another replica"): HTTP/2 over
 * mutual TLS where only certificates of the cluster's peer CA that name a replica get in. Its one
 * route opens a tunnel to a device whose session this replica holds and splices it to the
 * HTTP/2 stream, so the calling replica uses the stream as it would a local tunnel.
 *
 * @example
 * const peers = new PeerServer({ credentials, isLocal: (id) => edge.isConnected(id), openLocal: (id, o) => tunnels.open(id, o), log });
 * const address = await peers.listen(9445, "0.0.0.0");
 */
export class PeerServer {
  readonly #server: http2.Http2SecureServer;
  readonly #options: PeerServerOptions;
  readonly #limits: PeerLimits;
  readonly #tunnels = new WeakMap<Http2Session, number>();
  readonly #sessions = new Set<Http2Session>();

  constructor(options: PeerServerOptions) {
    this.#options = options;
    this.#limits = { ...peerLimits, ...options.limits };
    this.#server = http2.createSecureServer({
      ...tlsProfile,
      ...PeerServer.#material(options.credentials),
      requestCert: true,
      rejectUnauthorized: true,
      allowHTTP1: false,
      handshakeTimeout: this.#limits.handshakeTimeoutMs,
      // The HTTP/2 ceiling sits above the tunnel limit, so a peer over it gets a 429 that says
      // why rather than a stream refused by the protocol.
      settings: { maxConcurrentStreams: this.#limits.tunnelsPerSession + 8, maxHeaderListSize: this.#limits.headerBytes },
      maxSessionInvalidFrames: 100,
    });
    this.#server.maxConnections = this.#limits.connections;
    this.#server.on("drop", (data?: { remoteAddress?: string }) => {
      this.#options.log("warn", `peer listener: dropped a connection from ${data?.remoteAddress ?? "unknown"}: ${this.#limits.connections} are open, the limit`);
    });
    // TCP keepalive on the raw socket (HTTP/2 hides it once the session exists).
    this.#server.on("connection", (socket: Socket) => socket.setKeepAlive(true, (options.keepalive ?? peerKeepalive).intervalMs));
    this.#server.on("session", (session) => this.#admit(session));
    this.#server.on("stream", (stream, headers) => this.#route(stream, headers));
    this.#server.on("tlsClientError", (error: Error, socket: TLSSocket) => {
      this.#options.log("warn", `peer listener: refused a TLS client from ${socket.remoteAddress ?? "unknown"}: ${error.message}`);
    });
  }

  static #material(credentials: PeerCredentials): { ca: string; cert: string; key: string } {
    return { ca: credentials.ca, cert: credentials.cert, key: credentials.key };
  }

  /** Binds; resolves with the bound address. */
  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(port, host, () => {
        this.#server.off("error", reject);
        resolve(this.#server.address() as AddressInfo);
      });
    });
  }

  /** Takes a re-issued certificate for new connections. */
  setCredentials(credentials: PeerCredentials): void {
    this.#server.setSecureContext({ ...tlsProfile, ...PeerServer.#material(credentials) });
  }

  /** Stops listening and closes every peer connection (their tunnels end). */
  close(): Promise<void> {
    for (const session of this.#sessions) session.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  /** A verified certificate of the peer CA is not enough: it must name a replica. */
  #admit(session: Http2Session): void {
    const socket = session.socket as TLSSocket;
    const replica = replicaIdOf(socket.getPeerCertificate().subjectaltname);
    if (!socket.authorized || replica === undefined) {
      this.#options.log("warn", `peer listener: refused ${socket.remoteAddress ?? "unknown"}: its certificate names no replica (spiffe://…/replica/<id>); only replicas of this cluster may connect`);
      session.destroy();
      return;
    }
    this.#sessions.add(session);
    session.on("error", () => undefined);
    session.once("close", () => this.#sessions.delete(session));
    keepPeerAlive(session, `peer listener: replica ${replica} (${socket.remoteAddress ?? "unknown"})`, this.#options.keepalive ?? peerKeepalive, this.#options.log);
  }

  #route(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on("error", () => undefined);
    const session = stream.session;
    if (!session || !this.#sessions.has(session)) {
      stream.close(constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    const path = headers[":path"] ?? "";
    if (path.length > this.#limits.pathLength) {
      this.#answer(stream, new ServerError("bad_request", `The path is longer than ${this.#limits.pathLength} characters.`));
      return;
    }
    const match = tunnelRoute.exec(path);
    if (!match) {
      this.#answer(stream, new ServerError("not_found", `Nothing at ${path} on the peer listener: it serves POST /peer/v1/environments/{id}/tunnel only.`));
      return;
    }
    if (headers[":method"] !== "POST") {
      this.#answer(stream, new ServerError("bad_request", `${headers[":method"]} is not allowed here: open a tunnel with POST.`));
      return;
    }
    // The stream is a byte pipe once answered: a request announcing a body is no tunnel request.
    if (headers["content-length"] !== undefined) {
      this.#answer(stream, new ServerError("bad_request", "A tunnel request has no body: send the bytes after the 200."));
      return;
    }
    const open = this.#tunnels.get(session) ?? 0;
    if (open >= this.#limits.tunnelsPerSession) {
      this.#answer(stream, new ServerError("too_many_requests", `This peer connection already carries ${open} tunnels, the limit; retry when one ends.`));
      return;
    }
    this.#tunnels.set(session, open + 1);
    stream.once("close", () => this.#tunnels.set(session, (this.#tunnels.get(session) ?? 1) - 1));
    void this.#tunnel(stream, Number(match[1]));
  }

  async #tunnel(stream: ServerHttp2Stream, environmentId: number): Promise<void> {
    if (!this.#options.isLocal(environmentId)) {
      this.#answer(stream, new ServerError("not_found", `Environment ${environmentId} has no session on this replica.`));
      return;
    }
    const gone = new AbortController();
    const abort = () => gone.abort(new ServerError("unavailable", "The calling replica went away."));
    stream.once("close", abort);
    let tunnel: Duplex;
    try {
      tunnel = await this.#options.openLocal(environmentId, { signal: gone.signal });
    } catch (error) {
      if (!gone.signal.aborted) this.#answer(stream, error instanceof ServerError ? error : new ServerError("unavailable", `The tunnel to environment ${environmentId} could not be opened: ${(error as Error).message}`));
      return;
    } finally {
      stream.off("close", abort);
    }
    if (stream.closed || stream.destroyed) {
      tunnel.destroy(new ServerError("unavailable", "The calling replica went away."));
      return;
    }
    stream.respond({ ":status": 200, "content-type": "application/octet-stream", "cache-control": "no-store" });
    splice(stream, tunnel);
  }

  #answer(stream: ServerHttp2Stream, error: ServerError): void {
    if (stream.closed || stream.destroyed) return;
    const answer = errorBody(error);
    const text = errorText(answer);
    stream.respond({ ":status": answer.status, "content-type": "application/json", "content-length": Buffer.byteLength(text), "cache-control": "no-store" });
    stream.end(text);
  }
}

/**
 * Joins the peer's HTTP/2 stream and the device's tunnel both ways: each side's end half-closes
 * the other (`pipe` ends its destination), flow control paces both; a reset on one side ends the
 * other — gracefully for NO_ERROR, with CANCEL otherwise.
 */
function splice(stream: ServerHttp2Stream, tunnel: Duplex): void {
  stream.pipe(tunnel);
  tunnel.pipe(stream);
  tunnel.once("error", () => {
    if (!stream.closed) stream.close(constants.NGHTTP2_CANCEL);
  });
  stream.once("close", () => {
    if (tunnel.destroyed) return;
    if (stream.rstCode === constants.NGHTTP2_NO_ERROR) tunnel.destroy();
    else tunnel.destroy(new ServerError("unavailable", `The calling replica reset the tunnel (HTTP/2 code ${stream.rstCode}).`));
  });
}
