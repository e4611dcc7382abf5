import { X509Certificate, createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import http2, { type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from "node:http2";
import net, { type AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import tls, { type SecureContextOptions, type TLSSocket } from "node:tls";
import { type TlsFailure, explainServerSideTlsError, parsePem, tlsProfile } from "@pier/pki";
import { ServerError } from "../errors.ts";
import { rawErrorResponse, sendError } from "../http/error-response.ts";
import { copyAlpnPerConnection } from "./alpn-copy.ts";
import { readServerName } from "./client-hello.ts";
import { clientAddress, setProxiedClientAddress } from "../net/client-address.ts";
import type { ConnectionBudget, ConnectionShed } from "./connection-budget.ts";
import type { CrlMaterial } from "./crl-material.ts";
import { HandshakeGate, defaultHandshakeGate, type HandshakeGateOptions, type HandshakeTicket } from "./handshake-gate.ts";
import { type ProxyHeaderScan, type ProxySources, looksLikeProxyHeader, readProxyHeader } from "./proxy-protocol.ts";
import { outsideValidityFailure, revokedFailure } from "./peer-refusals.ts";
import { SessionTicketKeys, ticketLifetimeSeconds } from "./session-tickets.ts";
import type { TlsMaterial } from "./tls-material.ts";

/**
 * Which connections must present a client certificate:
 * - `none`: nobody (everything goes to the UI server);
 * - `whole-listener`: everybody (blog mode `--sslcacert`, or a tunnel listener with mTLS);
 * - `separate`: clients whose SNI is one of `mtlsNames` (exact, or a `*.` wildcard covering one
 *   label, case-insensitive); everyone else gets the UI server;
 * - `optional`: everybody is asked for a certificate from the client CA, nobody must present
 *   one (the tunnel listener with the built-in CA: devices wait in the Waiting Room without one,
 *   then connect with the one Pier issued). `connectionIdentity` says whether it verified.
 */
export type RoutingPolicy =
  | { readonly mode: "none" }
  | { readonly mode: "whole-listener" }
  | { readonly mode: "optional" }
  | { readonly mode: "separate"; readonly mtlsNames: readonly string[] };

/** The certificates a front serves. */
export interface FrontMaterial {
  /** The normal certificate; its `ca` (blog mode) is the client CA when there is no `mtls`. */
  readonly server: TlsMaterial;
  /** Certificate, key and client CA of the mTLS server; `server` is used when absent. */
  readonly mtls?: TlsMaterial;
}

/** A request as the two HTTP/2 servers (with HTTP/1.1 fallback) deliver it. */
export type TlsRequest = Http2ServerRequest | IncomingMessage;
/** The response that goes with a `TlsRequest`. */
export type TlsResponse = Http2ServerResponse | ServerResponse;
/** Serves every request of a front, from both servers; a rejected promise aborts the response. */
export type RequestHandler = (req: TlsRequest, res: TlsResponse) => void | Promise<void>;
/**
 * Takes over an HTTP/1.1 connection that asked for `Upgrade` (HTTP/2 has no upgrade): the
 * request, the raw socket and the bytes already read past the request head. A rejected promise
 * destroys the socket.
 */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void | Promise<void>;

/** A client the mTLS server turned away, and why. */
export interface TlsRefusal {
  readonly remoteAddress: string | undefined;
  readonly serverName: string | undefined;
  readonly failure: TlsFailure;
  /** Only when Node still has it: a certificate that fails verification is dropped with the socket. */
  readonly peerCertificate?: X509Certificate;
}

/**
 * Says whether a client certificate is revoked; asked at every handshake, so it must answer
 * from memory (`RevocationRegistry` in identity/revocations.ts).
 */
export interface RevocationCheck {
  isRevoked(certificate: X509Certificate): boolean;
}

/** How to build a `TlsFront`. */
export interface TlsFrontOptions {
  readonly material: FrontMaterial;
  readonly policy: RoutingPolicy;
  readonly handler: RequestHandler;
  /** Upgrade requests (Docker's attach and exec); without one they are answered 501. */
  readonly upgradeHandler?: UpgradeHandler;
  /** Called for every client the mTLS server refuses, with the reason for log and audit. */
  readonly onRefusal?: (refusal: TlsRefusal) => void;
  /** Called for failures no client caused: listener errors, handlers that throw. */
  readonly onError?: (error: unknown) => void;
  /**
   * Called when a reload's client CA file trusts open connections no more and they were closed
   * (log it: nothing else tells the operator why those sessions ended).
   */
  readonly onTrustWithdrawn?: (withdrawn: WithdrawnTrust) => void;
  /**
   * The absolute deadline, from accept to the end of the TLS handshake (ClientHello included),
   * after which a connection is closed; bytes trickling in do not extend it. Default 10 s.
   */
  readonly handshakeTimeoutMs?: number;
  /** Open connections per source and in total, shared with the other front; unbounded without one. */
  readonly connections?: ConnectionBudget;
  /** Called for every connection closed at accept because the budget is spent (log it, rate-limited). */
  readonly onShed?: (shed: ConnectionShed) => void;
  /**
   * TLS handshakes this front runs at once and connections that may wait for one
   * (`defaultHandshakeGate`: 64 and 20,000). Each front has its own gate, so a device storm on
   * the tunnel listener does not lock administrators out of the HTTPS one. A connection that
   * finds the queue full is closed at accept and reported to `onShed` (`handshake-queue`).
   */
  readonly handshakes?: Partial<HandshakeGateOptions>;
  /** Header, timeout and stream limits of both servers; see `defaultHttpLimits`. */
  readonly httpLimits?: Partial<HttpLimits>;
  /**
   * Revoked client certificates: a connection presenting one is closed as soon as its handshake
   * ends (reported to `onRefusal` with `client_certificate_revoked`), resumed sessions included.
   */
  readonly revocations?: RevocationCheck;
  /**
   * Load balancers whose connections must begin with a PROXY header (v1 or v2) naming the
   * client (`--proxy-protocol-from`); nobody else may set a client address. Off without one.
   */
  readonly proxySources?: ProxySources;
  /** Called for every connection closed for its PROXY header (log it, rate-limited). */
  readonly onProxyRefusal?: (refusal: ProxyRefusal) => void;
  /**
   * The key of the servers' TLS session tickets, shared with the other front and kept across
   * restarts (`SessionTicketKeys.load`); a key of this front alone, in memory, without one.
   */
  readonly sessionTickets?: SessionTicketKeys;
}

/**
 * Open connections a reload closed because the new client CA file trusts none of the CAs their
 * client certificates chain to (a CA withdrawn from the bundle).
 */
export interface WithdrawnTrust {
  readonly closed: number;
  /** The closed certificates' issuers (one line, `, ` between attributes) and how many of each, most first. */
  readonly issuers: readonly (readonly [string, number])[];
}

/**
 * The log line for `onTrustWithdrawn`: the listener, how many sessions ended and whose.
 *
 * @example
 * describeWithdrawnTrust("tunnel", { closed: 100, issuers: [["CN=Old CA", 100]] });
 */
export function describeWithdrawnTrust(listener: string, withdrawn: WithdrawnTrust): string {
  const issuers = withdrawn.issuers.slice(0, 5).map(([issuer, count]) => `${count} issued by ${issuer}`);
  const more = withdrawn.issuers.length > 5 ? `, and ${withdrawn.issuers.length - 5} more issuers` : "";
  return `${listener}: the new client CA file trusts none of the CAs of ${withdrawn.closed} open connection(s), which were closed (${issuers.join("; ")}${more}); those devices are refused until the file holds their CA again or they get a certificate of a CA it holds`;
}

/** A connection closed because of its PROXY header, or the lack of one. */
export interface ProxyRefusal {
  /** The TCP peer: a listed balancer, or a client that sent a header it may not send. */
  readonly remoteAddress: string | undefined;
  readonly reason: string;
}

/** What one request and one connection may hold, on HTTP/1.1 and HTTP/2. */
export interface HttpLimits {
  /** Request head (HTTP/1.1) or decoded header list (HTTP/2), bytes; over it → 431 or a reset stream. */
  readonly maxHeaderBytes: number;
  /** Header fields per request; over it → 431 (HTTP/1.1) or a reset stream (HTTP/2). */
  readonly maxHeaderCount: number;
  /** HTTP/1.1: time to receive a request's head. */
  readonly headersTimeoutMs: number;
  /** HTTP/1.1: time to receive a whole request, body included (not upgraded connections). */
  readonly requestTimeoutMs: number;
  /** HTTP/2: streams a client may have open on one connection; more are refused (REFUSED_STREAM). */
  readonly maxConcurrentStreams: number;
  /** HTTP/2: megabytes of buffers, header tables and queued data per session before new streams are refused. */
  readonly maxSessionMemoryMb: number;
}

/**
 * The limits a front applies unless told otherwise. Streams: an agent carries its session,
 * snapshots and up to 64 Docker tunnels (`packages/agent/src/docker/tunnel.ts`) on one
 * connection, browsers open ~100; 128 leaves room for both. Request time: Docker clients
 * upload images and build contexts over HTTP/1.1 through the proxy, so a whole request may take
 * long; the head may not.
 */
export const defaultHttpLimits: HttpLimits = Object.freeze({
  maxHeaderBytes: 16 * 1024,
  maxHeaderCount: 100,
  headersTimeoutMs: 20_000,
  requestTimeoutMs: 30 * 60_000,
  maxConcurrentStreams: 128,
  maxSessionMemoryMb: 32,
});

/** Who is on the other end of a request's connection. */
export interface ConnectionIdentity {
  /** The connection's client certificate was verified (by the mTLS server, or the `optional` one). */
  readonly mtls: boolean;
  readonly authorized: boolean;
  /** The client certificate presented, verified or not (`optional` mode lets unverified ones through). */
  readonly peerCertificate?: X509Certificate;
  /** Why OpenSSL did not verify the presented certificate (`CERT_HAS_EXPIRED`…), in `optional` mode. */
  readonly authorizationError?: string;
  readonly remoteAddress: string | undefined;
  readonly serverName?: string;
}

type Route = "mtls" | "optional" | "ui";

// Which server accepted a TLS socket (HTTP/1.1) or an HTTP/2 session, for connectionIdentity.
const routes = new WeakMap<object, Route>();
const maxClientHelloBytes = 16 * 1024;
const noBytes = Buffer.alloc(0);
// HTTP/2's default windows (64 KiB per stream and per connection) cap a tunnel at one window
// per round trip: an image export through the tunnel ran at 63 MiB/s against 149 MiB/s direct,
// 90 MiB/s with these (bench/docker-proxy.ts). Node grants window only as a stream's consumer
// reads, so a stalled tunnel buffers at most one stream window.
const streamWindowBytes = 1024 * 1024;
const connectionWindowBytes = 8 * 1024 * 1024;
const defaultHandshakeTimeoutMs = 10_000;
// The kernel's queue of connections not yet accepted (Node's default is 511): a reconnect storm
// arrives faster than one event loop accepts. The kernel caps it at net.core.somaxconn.
const listenBacklog = 4096;
const notImplementedAnswer = rawErrorResponse(new ServerError("not_implemented", "This server does not upgrade connections on this path."));
const plaintextAnswer = rawErrorResponse(new ServerError("bad_request", "This port speaks TLS only: use https://.", { fix: "Connect with https://, not http://." }));

// The client certificate of each TLS socket, read once (null: none) and kept on the socket.
// `getPeerX509Certificate` makes a new object at every call, whose facts (subject, fingerprint…)
// are then read again; a connection's certificate never changes (no renegotiation, tlsProfile).
// On the socket, not in a map keyed by it: an HTTP/2 request reaches its session's socket only
// through Node's proxies, which pass this property through, so the front's bookkeeping and every
// request of the connection share one object (a map keyed by the session held a second copy).
const peerCertificateKey = Symbol("pier.peerCertificate");

function peerCertificateOf(socket: Partial<TLSSocket> & { [peerCertificateKey]?: X509Certificate | null }): X509Certificate | undefined {
  let peer = socket[peerCertificateKey];
  if (peer === undefined) {
    peer = (typeof socket.getPeerX509Certificate === "function" ? socket.getPeerX509Certificate() : undefined) ?? null;
    socket[peerCertificateKey] = peer;
  }
  return peer ?? undefined;
}

/**
 * Tells a request handler whether the request came over a verified mTLS connection, and from
 * whom. Works for HTTP/1.1 requests and HTTP/2 compat requests alike. Decide on this, never on
 * the Host header: browsers reuse one HTTP/2 connection for every name its certificate covers.
 *
 * @example
 * const { mtls, peerCertificate } = connectionIdentity(req);
 * if (!mtls) return res.writeHead(403).end();
 */
export function connectionIdentity(req: TlsRequest): ConnectionIdentity {
  // An HTTP/2 request's socket is a proxy over its session's TLS socket, so the route is
  // recorded on the session; reads through the proxy reach the real socket.
  const connection = "stream" in req ? req.stream.session : req.socket;
  const route = connection ? routes.get(connection) : undefined;
  const socket = req.socket as Partial<TLSSocket>;
  const peerCertificate = connection && (route === "mtls" || route === "optional") ? peerCertificateOf(socket) : undefined;
  const serverName = typeof socket.servername === "string" ? socket.servername : undefined;
  const authorizationError = route === "optional" && peerCertificate && socket.authorizationError ? String(socket.authorizationError) : undefined;
  return {
    mtls: route === "mtls" || (route === "optional" && socket.authorized === true),
    authorized: socket.authorized === true,
    ...(peerCertificate ? { peerCertificate } : {}),
    ...(authorizationError === undefined ? {} : { authorizationError }),
    remoteAddress: clientAddress(socket),
    ...(serverName ? { serverName } : {}),
  };
}

/** True when `pattern` (a SAN: exact, or `*.` covering exactly one label) covers `serverName`. */
export function serverNameMatches(serverName: string, pattern: string): boolean {
  const name = serverName.toLowerCase().replace(/\.$/, "");
  const wanted = pattern.toLowerCase().replace(/\.$/, "");
  if (!wanted.startsWith("*.")) return name === wanted;
  const suffix = wanted.slice(1);
  const label = name.slice(0, -suffix.length);
  return name.endsWith(suffix) && label.length > 0 && !label.includes(".");
}

/** Walks the peer's chain (as the client sent it) up to a certificate of the bundle. */
function chainsTo(certificate: X509Certificate, anchors: readonly X509Certificate[]): boolean {
  let current = certificate;
  for (let depth = 0; depth < 8; depth++) {
    if (anchors.some((anchor) => current.checkIssued(anchor) && current.verify(anchor.publicKey))) return true;
    const next = current.issuerCertificate;
    if (!next || next.fingerprint256 === current.fingerprint256 || !current.checkIssued(next) || !current.verify(next.publicKey)) return false;
    current = next;
  }
  return false;
}

function certificatesOf(bundle: Buffer | undefined): X509Certificate[] {
  return bundle ? parsePem(bundle).filter((block) => block.label === "CERTIFICATE").map((block) => new X509Certificate(block.der)) : [];
}

function sameBytes(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.equals(b));
}

/**
 * The TLS front of one listener kind (HTTPS, or the tunnel): plain TCP listeners that read each
 * client's SNI and hand the socket to one of two HTTP/2 servers (HTTP/1.1 fallback) that never
 * listen themselves. Node applies `requestCert` per `tls.Server`, not per SNI context, hence two.
 *
 * - `servers.mtls` requires a client certificate from the client CA and presents the mTLS
 *   certificate; refusals go to `onRefusal`.
 * - `servers.ui` asks for no certificate and presents the normal one.
 *
 * Both deliver requests to one handler; `connectionIdentity(req)` says which accepted it.
 *
 * @example
 * await using front = new TlsFront({ material: { server, mtls }, policy: { mode: "separate", mtlsNames: mtls.names }, handler });
 * const address = await front.listen(9443, "0.0.0.0");
 */
export class TlsFront implements AsyncDisposable {
  /** The two servers, for features that need their events (`session`, `stream`…). */
  readonly servers: { readonly mtls: Http2SecureServer; readonly optional: Http2SecureServer; readonly ui: Http2SecureServer };
  readonly #listeners: net.Server[] = [];
  // Listeners `stopAccepting` closed: `close()` waits for them too.
  readonly #listenersClosed: Promise<void>[] = [];
  readonly #tcpSockets = new Set<net.Socket>();
  readonly #tlsSockets = new Set<TLSSocket>();
  readonly #mtlsSockets = new Set<TLSSocket>();
  // What we learnt from each TCP socket before the handoff; Node forgets the address of a
  // TLS socket it destroys, and refusals still need it.
  readonly #hellos = new WeakMap<net.Socket, { remoteAddress: string | undefined; serverName: string | undefined }>();
  readonly #onRefusal: ((refusal: TlsRefusal) => void) | undefined;
  readonly #onError: (error: unknown) => void;
  readonly #onTrustWithdrawn: ((withdrawn: WithdrawnTrust) => void) | undefined;
  readonly #handshakeTimeoutMs: number;
  readonly #budget: ConnectionBudget | undefined;
  readonly #onShed: ((shed: ConnectionShed) => void) | undefined;
  readonly #maxHeaderCount: number;
  // Each accepted TCP socket's handshake deadline, cleared once its TLS socket is secure.
  readonly #deadlines = new WeakMap<net.Socket, NodeJS.Timeout>();
  readonly #revocations: RevocationCheck | undefined;
  readonly #proxySources: ProxySources | undefined;
  readonly #onProxyRefusal: ((refusal: ProxyRefusal) => void) | undefined;
  readonly #sessionTickets: SessionTicketKeys;
  readonly #ownsSessionTickets: boolean;
  // The client certificate of each open connection that presented one, read once at its handshake.
  readonly #peers = new Map<TLSSocket, X509Certificate>();
  // The client certificate each mTLS handshake presented, read before Node's own check (see 'keylog').
  readonly #handshakePeers = new WeakMap<TLSSocket, X509Certificate>();
  readonly #capturing = new WeakSet<TLSSocket>();
  readonly #handshakes: HandshakeGate;
  // Each TCP socket's place at the handshake gate, released when its TLS handshake ends.
  readonly #tickets = new WeakMap<net.Socket, HandshakeTicket>();
  // TCP sockets not yet handed to TLS (reading their ClientHello, or waiting at the gate).
  readonly #notHandedOff = new Set<net.Socket>();
  #policy: RoutingPolicy;
  #material: FrontMaterial;

  constructor(options: TlsFrontOptions) {
    checkMaterialFits(options.policy, options.material);
    this.#policy = options.policy;
    this.#material = options.material;
    this.#onRefusal = options.onRefusal;
    this.#onError = options.onError ?? (() => undefined);
    this.#onTrustWithdrawn = options.onTrustWithdrawn;
    this.#handshakeTimeoutMs = options.handshakeTimeoutMs ?? defaultHandshakeTimeoutMs;
    this.#budget = options.connections;
    this.#onShed = options.onShed;
    this.#handshakes = new HandshakeGate({ ...defaultHandshakeGate, ...options.handshakes });
    this.#revocations = options.revocations;
    this.#proxySources = options.proxySources;
    this.#onProxyRefusal = options.onProxyRefusal;
    this.#sessionTickets = options.sessionTickets ?? SessionTicketKeys.inMemory();
    this.#ownsSessionTickets = options.sessionTickets === undefined;
    const limits = { ...defaultHttpLimits, ...options.httpLimits };
    this.#maxHeaderCount = limits.maxHeaderCount;
    const common = {
      allowHTTP1: true,
      handshakeTimeout: this.#handshakeTimeoutMs,
      maxHeaderListPairs: limits.maxHeaderCount,
      maxSessionMemory: limits.maxSessionMemoryMb,
      // This server opens no streams to its clients (no push); a client announcing room for
      // more does not make it open more.
      peerMaxConcurrentStreams: 100,
      settings: { initialWindowSize: streamWindowBytes, maxConcurrentStreams: limits.maxConcurrentStreams, maxHeaderListSize: limits.maxHeaderBytes },
      // The HTTP/1.1 fallback's parser reads these from the server (storeHTTPOptions).
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // How often Node looks for requests past those timeouts (its default, 30 s, would let a
      // 20 s headersTimeout stretch to 50 s).
      connectionsCheckingInterval: Math.max(250, Math.min(5000, Math.floor(limits.headersTimeoutMs / 4))),
    };
    const contexts = contextOptions(options.material);
    this.servers = {
      mtls: http2.createSecureServer({ ...common, requestCert: true, rejectUnauthorized: true, ...contexts.mtls }),
      // Asks for a certificate without requiring one; the request handler decides (connectionIdentity).
      optional: http2.createSecureServer({ ...common, requestCert: true, rejectUnauthorized: false, ...contexts.optional }),
      ui: http2.createSecureServer({ ...common, ...contexts.ui }),
    };
    const onRequest = this.#requestListener(options.handler);
    const onUpgrade = this.#upgradeListener(options.upgradeHandler);
    for (const route of ["mtls", "optional", "ui"] as const) {
      const server = this.servers[route];
      // Each connection's copy of the ALPN list pinned a 64 KiB slab of Node's Buffer pool.
      copyAlpnPerConnection(server);
      this.#sessionTickets.attach(server, ticketContext(contexts[route]));
      server.on("request", onRequest);
      server.on("upgrade", onUpgrade);
      server.on("session", (session: ServerHttp2Session) => {
        routes.set(session, route);
        session.setLocalWindowSize(connectionWindowBytes);
      });
      server.on("secureConnection", (socket: TLSSocket) => this.#track(socket, route));
      server.on("clientError", answerClientError);
      // One more than allowed, so a request that has too many is told so (431) rather than
      // served with its extra headers silently dropped, which is what the parser does.
      (server as unknown as { maxHeadersCount: number }).maxHeadersCount = limits.maxHeaderCount + 1;
      // These servers never listen (the fronts' listeners hand them sockets), so Node never
      // starts the timer that enforces HTTP/1.1's headersTimeout and requestTimeout: start it.
      server.emit("listening");
    }
    this.servers.mtls.on("tlsClientError", (error: Error, socket: TLSSocket) => this.#refused(error, socket));
    // Node destroys a socket whose client certificate fails verification (revoked, unknown CA)
    // at its 'secure' event, and the certificate goes with it; the audit wants its serial and
    // subject. 'keylog' is the one server event that hands over the TLS socket during the
    // handshake, so a 'secure' listener can run before Node's. The key lines are not kept.
    this.servers.mtls.on("keylog", (_line: Buffer, socket: TLSSocket) => this.#capturePeerAtHandshake(socket));
  }

  /** The routing policy in force. */
  get policy(): RoutingPolicy {
    return this.#policy;
  }

  /**
   * Changes which connections go to the mTLS server. New connections follow it at once; open
   * connections the UI server accepted for names that now need a client certificate are closed,
   * so their clients reconnect and present one (or are refused).
   */
  setPolicy(policy: RoutingPolicy): void {
    checkMaterialFits(policy, this.#material);
    this.#policy = policy;
    this.#closeConnectionsNowRoutedToMtls();
  }

  /**
   * Listens on one more address (port 0 picks a free one) and resolves with the bound address.
   *
   * @example
   * const { port } = await front.listen(0, "127.0.0.1");
   */
  async listen(port: number, host: string): Promise<AddressInfo> {
    const listener = net.createServer({ noDelay: true }, (socket) => this.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      listener.once("error", reject);
      listener.listen({ port, host, backlog: listenBacklog }, () => {
        listener.off("error", reject);
        resolve();
      });
    });
    // After binding, errors are the kernel refusing an accept (EMFILE…): report, keep serving.
    listener.on("error", (error) => this.#onError(error));
    this.#listeners.push(listener);
    return listener.address() as AddressInfo;
  }

  /**
   * Swaps in new certificates: new handshakes use them at once, open connections stay, except
   * mTLS connections whose client certificate does not chain to a changed client CA, and UI
   * connections for names the new mTLS certificate covers (see `setPolicy`).
   * Throws `tls_material_invalid` (and changes nothing) when Node refuses the material.
   */
  reload(material: FrontMaterial): void {
    const policy = this.#policy.mode === "separate" && material.mtls ? { mode: "separate" as const, mtlsNames: material.mtls.names } : this.#policy;
    checkMaterialFits(policy, material);
    const contexts = contextOptions(material);
    // setSecureContext assigns the server's fields before building the context, so a refused
    // file would leave one server half-updated: build both first.
    for (const options of Object.values(contexts)) {
      try {
        tls.createSecureContext(options);
      } catch (error) {
        throw new ServerError("tls_material_invalid", `Node's TLS refuses the new material: ${(error as Error).message}`, { cause: error });
      }
    }
    const caChanged = !sameBytes(clientCaOf(this.#material), clientCaOf(material));
    const crl = crlOf(material);
    const crlChanged = crlOf(this.#material)?.sha256 !== crl?.sha256;
    for (const route of ["mtls", "optional", "ui"] as const) {
      this.servers[route].setSecureContext(contexts[route]);
      // A new context comes with ticket keys of its own; and tickets issued under the old
      // certificates, CAs or CRLs must not resume under new ones (the context changes the key).
      this.#sessionTickets.attach(this.servers[route], ticketContext(contexts[route]));
    }
    this.#material = material;
    this.#policy = policy;
    if (caChanged) {
      const withdrawn = this.#closeConnectionsNotTrustedBy(certificatesOf(clientCaOf(material)));
      if (withdrawn.closed > 0) this.#report(() => this.#onTrustWithdrawn?.(withdrawn));
    }
    // OpenSSL checks a CRL at the handshake only: connections made before it listed them stay
    // open unless closed here (docs/security.md "Operator CRLs").
    if (crl && crlChanged) this.#closeConnectionsRevokedBy(crl);
    this.#closeConnectionsNowRoutedToMtls();
  }

  /**
   * Closes every open connection whose client certificate `predicate` accepts (a revocation, a
   * new CRL); returns how many. Connections without a client certificate are left alone.
   *
   * @example
   * front.closeConnections((certificate) => revocations.isRevoked(certificate));
   */
  closeConnections(predicate: (certificate: X509Certificate) => boolean): number {
    let closed = 0;
    for (const [socket, certificate] of this.#peers) {
      if (!predicate(certificate)) continue;
      socket.destroy();
      closed++;
    }
    return closed;
  }

  /**
   * Replaces the key that encrypts TLS session tickets (on every server sharing it): tickets
   * issued before no longer resume, so a client must make a full handshake and show its
   * certificate again. Called at every revocation (the check at handshake end covers resumption
   * too; this keeps a ticket from outliving the revocation by design rather than by that check
   * alone).
   */
  rotateTicketKeys(): void {
    try {
      this.#sessionTickets.rotate();
    } catch (error) {
      // The new key is in use; only the file could not be written (a revocation must not fail on it).
      this.#onError(error);
    }
  }

  /**
   * The first step of a graceful restart: stops listening, and closes the connections not yet
   * handed to TLS (reading their ClientHello, or waiting at the handshake gate): those clients
   * were never served and reconnect with their backoff. Open connections stay.
   */
  stopAccepting(): void {
    for (const listener of this.#listeners) this.#listenersClosed.push(new Promise<void>((resolve) => listener.close(() => resolve())));
    this.#listeners.length = 0;
    for (const socket of this.#notHandedOff) socket.destroy();
  }

  /**
   * Asks every HTTP/2 client to go away (GOAWAY: streams under way finish, no new ones start)
   * and closes idle HTTP/1.1 connections, then waits until every connection closed, at most
   * `timeoutMs`. Resolves with the number still open; `close()` ends them.
   */
  async goAway(timeoutMs: number): Promise<number> {
    for (const server of [this.servers.mtls, this.servers.optional, this.servers.ui]) server.close();
    const deadline = Date.now() + timeoutMs;
    while (this.#tcpSockets.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    return this.#tcpSockets.size;
  }

  /** Stops listening and destroys every connection, open or half-handshaken. */
  async close(): Promise<void> {
    const closed = [...this.#listenersClosed, ...this.#listeners.map((listener) => new Promise<void>((resolve) => listener.close(() => resolve())))];
    this.#listeners.length = 0;
    for (const socket of this.#tlsSockets) socket.destroy();
    for (const socket of this.#tcpSockets) socket.destroy();
    // Stops the HTTP/1.1 timeout checker started in the constructor.
    for (const server of [this.servers.mtls, this.servers.optional, this.servers.ui]) {
      server.close();
      this.#sessionTickets.detach(server);
    }
    if (this.#ownsSessionTickets) this.#sessionTickets.close();
    await Promise.all(closed);
  }

  /** `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #route(serverName: string | undefined): Route {
    const policy = this.#policy;
    switch (policy.mode) {
      case "none":
        return "ui";
      case "whole-listener":
        return "mtls";
      case "optional":
        return "optional";
      case "separate":
        return serverName !== undefined && policy.mtlsNames.some((pattern) => serverNameMatches(serverName, pattern)) ? "mtls" : "ui";
    }
  }

  #accept(socket: net.Socket): void {
    // After the handoff the TLS socket re-emits these errors itself; before it, there is
    // nobody to tell about a peer that reset a connection it never used.
    socket.on("error", () => undefined);
    // The peer reset the connection while it waited to be accepted (a balancer closing what its
    // client gave up on), so the kernel no longer knows its address: nobody to serve or report.
    // The source check would fail and its PROXY header read as a misconfiguration (issue 20).
    if (socket.remoteAddress === undefined) {
      socket.destroy();
      return;
    }
    // Closed before reading a byte: it would only wait behind a full queue and miss its deadline.
    if (this.#handshakes.full) {
      this.#shedAtGate(socket);
      return;
    }
    const proxied = this.#proxySources?.includes(socket.remoteAddress) === true;
    // A listed balancer's connection is budgeted once its header names the client.
    let admission = proxied ? undefined : this.#admit(socket, socket.remoteAddress);
    if (admission === false) return;
    this.#tcpSockets.add(socket);
    // An absolute deadline, not socket.setTimeout: an idle timer restarts with every byte, so
    // a client trickling one byte a second would hold the connection (and its buffers) forever.
    // It covers the PROXY header too.
    const deadline = setTimeout(() => socket.destroy(), this.#handshakeTimeoutMs);
    deadline.unref();
    this.#deadlines.set(socket, deadline);
    this.#notHandedOff.add(socket);
    // No closure may capture `deadline`: this one lives as long as the connection, and kept the
    // cleared Timeout with it (issue 20, one per session); the map forgets it at the handshake.
    socket.once("close", () => {
      this.#handshakeEnded(socket);
      this.#tcpSockets.delete(socket);
      this.#notHandedOff.delete(socket);
      if (admission) admission.release();
    });
    let buffered = noBytes;
    let length = 0;
    let awaitingHeader = proxied;
    // Past the ClientHello, waiting at the handshake gate: still reading, so a client that gives
    // up is seen to close (and leaves the queue) rather than being handshaken for nothing.
    let queued = false;
    const handOff = (serverName: string | undefined) => {
      if (socket.destroyed) return;
      socket.off("data", onData);
      socket.pause();
      // The TLS socket replays what is buffered in the TCP socket before reading from it.
      socket.unshift(buffered.subarray(0, length));
      // This scope lives as long as the connection (its 'close' listener): keep no bytes in it.
      buffered = noBytes;
      length = 0;
      this.#notHandedOff.delete(socket);
      this.#hellos.set(socket, { remoteAddress: clientAddress(socket), serverName });
      try {
        this.servers[this.#route(serverName)].emit("connection", socket);
      } catch (error) {
        this.#onError(error);
        socket.destroy();
      }
    };
    const onData = (chunk: Buffer) => {
      // Doubling the capacity keeps collecting a hello sent a byte at a time linear.
      if (length + chunk.length > buffered.length) {
        const grown = Buffer.allocUnsafe(Math.max(2 * buffered.length, length + chunk.length, 2048));
        buffered.copy(grown, 0, 0, length);
        buffered = grown;
      }
      chunk.copy(buffered, length);
      length += chunk.length;
      if (queued) {
        if (length > maxClientHelloBytes) socket.destroy();
        return;
      }
      if (awaitingHeader) {
        const header = this.#readProxyHeader(buffered.subarray(0, length));
        if (header.state === "incomplete") return;
        if (header.state === "invalid") {
          socket.off("data", onData);
          this.#refuseProxied(socket, `${header.reason}; its address is in --proxy-protocol-from, so its connections must begin with a valid PROXY header (HAProxy send-proxy-v2, nginx proxy_protocol on)`);
          return;
        }
        awaitingHeader = false;
        // LOCAL (a health check) and UNKNOWN: the balancer speaks for itself.
        if (header.source) setProxiedClientAddress(socket, header.source.address);
        const admitted = this.#admit(socket, clientAddress(socket));
        if (admitted === false) {
          socket.off("data", onData);
          return;
        }
        admission = admitted;
        buffered.copy(buffered, 0, header.length, length);
        length -= header.length;
        if (length === 0) return;
      }
      const received = buffered.subarray(0, length);
      const hello = readServerName(received);
      if (!hello.isTls) {
        socket.off("data", onData);
        // A header from a source not listed is not honoured; say why rather than answer as to HTTP.
        if (!proxied && looksLikeProxyHeader(received)) this.#refuseProxied(socket, "it sent a PROXY protocol header, but its address is not in --proxy-protocol-from");
        else answerPlaintext(socket, received);
        return;
      }
      if (!hello.complete) {
        if (received.length > maxClientHelloBytes) socket.destroy();
        return;
      }
      queued = true;
      const serverName = hello.serverName;
      const ticket = this.#handshakes.enter(() => handOff(serverName));
      if (ticket) this.#tickets.set(socket, ticket);
      else this.#shedAtGate(socket);
    };
    socket.on("data", onData);
  }

  /** Closes a connection the handshake queue has no room for, reported to onShed. */
  #shedAtGate(socket: net.Socket): void {
    // Read before destroy: Node forgets a destroyed socket's address.
    const remoteAddress = clientAddress(socket) ?? "unknown";
    socket.destroy();
    const limit = this.#handshakes.options.maxQueued;
    this.#report(() => this.#onShed?.({ remoteAddress, reason: "handshake-queue", limit }));
  }

  /** Takes a connection from the budget, or closes it (reported to onShed) and returns false. */
  #admit(socket: net.Socket, address: string | undefined): { release: () => void } | undefined | false {
    const admission = this.#budget?.admit(address);
    if (admission && !admission.admitted) {
      socket.destroy();
      this.#report(() => this.#onShed?.(admission));
      return false;
    }
    return admission;
  }

  // A throw inside the 'data' handler would take the process down: a parser bug becomes a refusal.
  #readProxyHeader(bytes: Buffer): ProxyHeaderScan {
    try {
      return readProxyHeader(bytes);
    } catch (error) {
      this.#onError(error);
      return { state: "invalid", reason: "the PROXY header could not be read" };
    }
  }

  #refuseProxied(socket: net.Socket, reason: string): void {
    socket.destroy();
    this.#report(() => this.#onProxyRefusal?.({ remoteAddress: socket.remoteAddress, reason }));
  }

  /** Clears a TCP socket's handshake deadline and frees its gate slot, and forgets both. */
  #handshakeEnded(socket: net.Socket): void {
    clearTimeout(this.#deadlines.get(socket));
    this.#deadlines.delete(socket);
    this.#tickets.get(socket)?.release();
    this.#tickets.delete(socket);
  }

  #track(socket: TLSSocket, route: Route): void {
    const parent = (socket as { _parent?: unknown })._parent;
    if (parent instanceof net.Socket) this.#handshakeEnded(parent);
    routes.set(socket, route);
    // The one read during the handshake came with the client CA attached (see below).
    this.#handshakePeers.delete(socket);
    // OpenSSL does not check a resumed session's certificate again, and it knows nothing of
    // revocations made since the ticket was issued: these checks cover both, from memory.
    const peer = peerCertificateOf(socket);
    const refusal = peer ? this.#refusalAtTrack(socket, peer) : undefined;
    if (peer && refusal) {
      this.#refusedAtTrack(socket, peer, refusal);
      return;
    }
    this.#tlsSockets.add(socket);
    // A verified certificate on the optional server is held to a changed client CA like the mTLS server's.
    if (route === "mtls" || (route === "optional" && socket.authorized)) this.#mtlsSockets.add(socket);
    if (peer) this.#peers.set(socket, peer);
    socket.once("close", () => {
      this.#tlsSockets.delete(socket);
      this.#mtlsSockets.delete(socket);
      this.#peers.delete(socket);
    });
  }

  /** Why a certificate is refused once its handshake ended: revoked since, or (resumed) out of its dates. */
  #refusalAtTrack(socket: TLSSocket, peer: X509Certificate): TlsFailure | undefined {
    if (this.#revocations?.isRevoked(peer)) return revokedFailure(peer, socket.isSessionReused());
    return socket.isSessionReused() ? outsideValidityFailure(peer, new Date()) : undefined;
  }

  /** Closes a connection whose handshake ended with a certificate `#track` refuses, and reports it. */
  #refusedAtTrack(socket: TLSSocket, peer: X509Certificate, failure: TlsFailure): void {
    const parent = (socket as { _parent?: unknown })._parent;
    const hello = parent instanceof net.Socket ? this.#hellos.get(parent) : undefined;
    const remoteAddress = hello?.remoteAddress ?? clientAddress(socket);
    const serverName = this.#serverNameOf(socket);
    socket.destroy();
    this.#report(() => this.#onRefusal?.({ remoteAddress, serverName, peerCertificate: peer, failure }));
  }

  #refused(error: Error, socket: TLSSocket): void {
    if (!this.#onRefusal) return;
    // Node destroys a socket whose certificate fails verification before reporting it, so its
    // address is gone; the TCP socket it was built on (`_parent`) still maps to what we saw.
    const parent = (socket as { _parent?: unknown })._parent;
    const hello = parent instanceof net.Socket ? this.#hellos.get(parent) : undefined;
    const peerCertificate = socket.destroyed ? this.#handshakePeers.get(socket) : socket.getPeerX509Certificate();
    const serverName = this.#serverNameOf(socket);
    try {
      this.#onRefusal({
        remoteAddress: hello?.remoteAddress ?? clientAddress(socket),
        serverName,
        failure: explainServerSideTlsError(error, socket),
        ...(peerCertificate ? { peerCertificate } : {}),
      });
    } catch (failure) {
      // Thrown inside Node's event emission it would take the process down.
      this.#onError(failure);
    }
  }

  // A client the UI server accepted never showed a certificate; once the policy sends its name
  // to the mTLS server, keeping its connection would let it skip the check (an agent's session
  // lasts until it disconnects).
  #closeConnectionsNowRoutedToMtls(): void {
    for (const socket of this.#tlsSockets) {
      if (this.#mtlsSockets.has(socket)) continue;
      if (this.#route(this.#serverNameOf(socket)) === "mtls") socket.destroy();
    }
  }

  /** The SNI a TLS socket was routed by (read from its ClientHello), else the one OpenSSL saw. */
  #serverNameOf(socket: TLSSocket): string | undefined {
    const parent = (socket as { _parent?: unknown })._parent;
    const hello = parent instanceof net.Socket ? this.#hellos.get(parent) : undefined;
    return hello?.serverName ?? (typeof socket.servername === "string" ? socket.servername : undefined);
  }

  #capturePeerAtHandshake(socket: TLSSocket): void {
    // Several key lines per handshake, one listener.
    if (this.#capturing.has(socket)) return;
    this.#capturing.add(socket);
    // Read only when verification failed, that is when Node is about to destroy the socket:
    // the object costs ~80 µs, and a verified connection's is read once more by `#track` anyway
    // (issue 20, bench:handshakes). Not kept as the connection's certificate either: read before
    // the handshake ends, it comes with a copy of its issuer, held natively for the object's life.
    socket.prependOnceListener("secure", () => {
      if (!verificationFailed(socket)) return;
      const peer = socket.getPeerX509Certificate();
      if (peer) this.#handshakePeers.set(socket, peer);
    });
  }

  #closeConnectionsRevokedBy(crl: CrlMaterial): void {
    for (const socket of this.#mtlsSockets) {
      const peer = socket.getPeerX509Certificate();
      if (peer && crl.isRevoked(peer)) socket.destroy();
    }
  }

  #closeConnectionsNotTrustedBy(anchors: readonly X509Certificate[]): WithdrawnTrust {
    const issuers = new Map<string, number>();
    let closed = 0;
    for (const socket of this.#mtlsSockets) {
      const peer = socket.getPeerX509Certificate();
      if (peer && chainsTo(peer, anchors)) continue;
      socket.destroy();
      closed++;
      const issuer = peer ? peer.issuer.replace(/\n/g, ", ") : "(no certificate)";
      issuers.set(issuer, (issuers.get(issuer) ?? 0) + 1);
    }
    return { closed, issuers: [...issuers].sort((a, b) => b[1] - a[1]) };
  }

  #requestListener(handler: RequestHandler): (req: TlsRequest, res: TlsResponse) => void {
    // The handler failed (reported to onError): 500 {code: "internal"} and nothing of the error.
    const abort = (res: TlsResponse) => {
      if ("stream" in res) {
        if (res.headersSent) res.stream.destroy();
        else sendError(res, undefined);
      } else if (res.headersSent) res.destroy();
      else sendError(res, undefined);
    };
    const maxHeaderCount = this.#maxHeaderCount;
    return (req, res) => {
      // HTTP/2 resets a stream with too many headers before it becomes a request.
      if (!("stream" in res) && req.rawHeaders.length / 2 > maxHeaderCount) {
        sendError(res, new ServerError("headers_too_large", `This request has more than ${maxHeaderCount} header fields.`, { fix: "Send fewer headers." }), { connection: "close" });
        return;
      }
      this.#guard(() => handler(req, res), () => abort(res));
    };
  }

  #upgradeListener(handler: UpgradeHandler | undefined): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
    return (req, socket, head) => {
      socket.on("error", () => undefined);
      if (handler) this.#guard(() => handler(req, socket, head), () => socket.destroy());
      else socket.end(notImplementedAnswer);
    };
  }

  /** Calls a user callback from an event handler, where a throw would take the process down. */
  #report(callback: () => void): void {
    try {
      callback();
    } catch (error) {
      this.#onError(error);
    }
  }

  /** Runs a handler; whatever it throws or rejects with is reported, then `abort` cleans up. */
  #guard(run: () => void | Promise<void>, abort: () => void): void {
    const fail = (error: unknown) => {
      this.#onError(error);
      abort();
    };
    try {
      const result = run();
      if (result) result.catch(fail);
    } catch (error) {
      fail(error);
    }
  }
}

/**
 * Whether OpenSSL failed to verify the client's certificate, asked where Node's own 'secure'
 * listener asks it (`onServerSocketSecure`: `this._handle.verifyError()`), before that listener
 * runs. A handle without the method (a Node that changed it) counts as failed, so the refused
 * certificate is still captured for the audit, as before.
 */
function verificationFailed(socket: TLSSocket): boolean {
  const handle = (socket as unknown as { _handle?: { verifyError?: () => Error | null } })._handle;
  return typeof handle?.verifyError !== "function" || handle.verifyError() !== null;
}

function crlOf(material: FrontMaterial): CrlMaterial | undefined {
  return (material.mtls ?? material.server).crl;
}

function clientCaOf(material: FrontMaterial): Buffer | undefined {
  return (material.mtls ?? material.server).ca;
}

function checkMaterialFits(policy: RoutingPolicy, material: FrontMaterial): void {
  if (policy.mode === "separate" && !material.mtls) {
    throw new ServerError("config_invalid", "Separate mTLS routing needs the mTLS certificate, key and CA (--mtlscert, --mtlskey, --mtlscacert).");
  }
  if (policy.mode !== "none" && !clientCaOf(material)) {
    throw new ServerError("config_invalid", "Requiring client certificates needs the CA they must chain to: pass --mtlscacert (or --sslcacert).");
  }
}

// An empty CA list (not undefined) keeps Node from falling back to its public root store.
function mtlsContextOptions(material: FrontMaterial): SecureContextOptions {
  const { cert, key, ca, crl } = material.mtls ?? material.server;
  return { ...tlsProfile, cert, key, ca: ca ?? [], ...(crl ? { crl: [...crl.pems] } : {}), sessionIdContext: "pier-mtls", sessionTimeout: ticketLifetimeSeconds };
}

function optionalContextOptions(material: FrontMaterial): SecureContextOptions {
  return { ...mtlsContextOptions(material), sessionIdContext: "pier-optional" };
}

function contextOptions(material: FrontMaterial): Record<Route, SecureContextOptions> {
  return { mtls: mtlsContextOptions(material), optional: optionalContextOptions(material), ui: uiContextOptions(material) };
}

/** What a server's session tickets are bound to: its session context, certificates, CAs and CRLs. */
function ticketContext(options: SecureContextOptions): Buffer {
  const hash = createHash("sha256");
  for (const part of [options.sessionIdContext, options.cert, options.ca, options.crl].flat()) {
    const bytes = part === undefined ? Buffer.alloc(0) : Buffer.isBuffer(part) ? part : Buffer.from(String(part));
    hash.update(`${bytes.length}:`).update(bytes);
  }
  return hash.digest();
}

function uiContextOptions(material: FrontMaterial): SecureContextOptions {
  const { cert, key } = material.server;
  return { ...tlsProfile, cert, key, sessionIdContext: "pier-ui" };
}

/**
 * Answers an HTTP/1.1 request the parser refused (head too large, head or request too slow,
 * malformed). Node's own answer destroys the socket right after writing, which over TLS, with
 * the client still sending, loses the answer: end instead, and destroy a second later.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (socket.destroyed) return;
  const refusal =
    error.code === "HPE_HEADER_OVERFLOW"
      ? new ServerError("headers_too_large", "The request head is too large.")
      : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? new ServerError("request_timeout", "The request did not arrive in time.")
        : new ServerError("bad_request", "The request is not valid HTTP/1.1.");
  if ((socket as Partial<net.Socket>).bytesWritten === 0) socket.end(rawErrorResponse(refusal));
  else socket.end();
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** A plaintext HTTP request gets a short hint; anything else that is not TLS, a closed socket. */
function answerPlaintext(socket: net.Socket, received: Buffer): void {
  if (!/^[A-Z]+( |$)/.test(received.subarray(0, 16).toString("latin1"))) {
    socket.destroy();
    return;
  }
  // Keep draining the request so the close is a FIN, not a reset that eats the answer.
  socket.resume();
  socket.end(plaintextAnswer);
  socket.setTimeout(1000);
}
