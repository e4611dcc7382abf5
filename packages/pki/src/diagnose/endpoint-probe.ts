import { randomBytes } from "node:crypto";
import net, { isIP } from "node:net";
import tls from "node:tls";
import { Oid } from "../asn1/oids.ts";
import { type CertificateInfo, colonHex, isIssuedBy, parseCertificate } from "../certificate.ts";
import { PkiError } from "../errors.ts";
import { formatNameDer, formatSan } from "../names.ts";
import { parsePem } from "../pem.ts";
import { type ClientTlsContext, type TlsFailure, explainTlsFailure, inferClientCertificateRejection, tlsAlertName } from "./tls-failure.ts";

/** Where to connect and with which credentials (`pier doctor --connect`). */
export interface EndpointProbeOptions {
  readonly host: string;
  readonly port: number;
  /** Name for SNI and for checking the server certificate; defaults to `host`. */
  readonly servername?: string;
  /** CA certificates (PEM) to trust for the server; the system trust store when absent. */
  readonly ca?: Buffer;
  /** Our client certificate and key (PEM), for the mutual-TLS handshake. */
  readonly cert?: Buffer;
  readonly key?: Buffer;
  /** Limit for each connection the probe opens; 5000 ms by default. */
  readonly timeoutMs?: number;
  /** Cancels the probe (Ctrl-C); the probe then rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** One certificate of the chain the server presented. */
export interface PresentedCertificate {
  readonly subject: string;
  readonly issuer: string;
  /** Lowercase hex. */
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** In `--san` syntax: `DNS:localhost`, `IP:127.0.0.1`. */
  readonly subjectAltNames: string[];
  /** SHA-256 of the certificate, colon-separated uppercase hex as openssl prints it. */
  readonly sha256Fingerprint: string;
  /** SHA-256 of the SubjectPublicKeyInfo, lowercase hex (the value Pier pins). */
  readonly spkiSha256: string;
  readonly isCa: boolean;
}

/** Everything `probeEndpoint` learned about a TLS endpoint. */
export interface EndpointReport {
  readonly host: string;
  readonly port: number;
  /** The name the server certificate was checked against (servername, else host). */
  readonly checkedName: string;
  readonly tcp: { readonly reachable: boolean; readonly failure?: TlsFailure };
  /** What the real handshake negotiated, when it got that far. */
  readonly negotiated?: { readonly protocol: string; readonly cipher: string };
  readonly serverCertificate?: {
    /** Leaf first. */
    readonly chain: PresentedCertificate[];
    /**
     * `tls12-probe`: exactly the certificates the server sent to our TLS 1.2 probe.
     * `handshake`: from Node's handshake, which may append the root from our trust store.
     */
    readonly chainSource: "tls12-probe" | "handshake";
    readonly leafSpkiSha256: string;
    readonly trust: {
      readonly verified: boolean;
      readonly anchors: "the given CA" | "the system trust store";
      /** `local`: the handshake never completed, so Pier checked the presented chain itself. */
      readonly method: "handshake" | "local";
      readonly failure?: TlsFailure;
    };
  };
  readonly clientCertificate: {
    /** Whether the server sent a CertificateRequest to our TLS 1.2 probe. */
    readonly requested: "yes" | "no" | "unknown";
    /** The CA names from the CertificateRequest, formatted `CN=x, O=y`. */
    readonly acceptableCAs: string[];
    /** Whether a handshake without a client certificate is refused. */
    readonly required: "yes" | "no" | "unknown";
    /** What the TLS 1.2 probe saw, in words. */
    readonly probe: string;
  };
  /** The full handshake: with our client certificate when one was given, else without. */
  readonly handshake?: { readonly clientCertificateSent: boolean; readonly ok: boolean; readonly failure?: TlsFailure };
}

// ---------------------------------------------------------------------------------------------
// Our own TLS 1.2 ClientHello. Node's tls API does not expose the server's CertificateRequest,
// but under TLS 1.2 it travels in plaintext, so one hand-made ClientHello reveals it.

const cipherSuites: Readonly<Record<number, string>> = {
  0xc02b: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
  0xc02c: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
  0xc02f: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
  0xc030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
  0xcca9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
  0xcca8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
};
// x25519, secp256r1, secp384r1 (RFC 8422, RFC 7748).
const groups = [0x001d, 0x0017, 0x0018];
// ecdsa_secp256r1_sha256, ecdsa_secp384r1_sha384, rsa_pss_rsae_sha256/384/512,
// rsa_pkcs1_sha256/384/512, ed25519 (RFC 8446 §4.2.3).
const signatureSchemes = [0x0403, 0x0503, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0807];

const u8 = (n: number) => Buffer.from([n]);
const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const u24 = (n: number) => Buffer.from([n >> 16, (n >> 8) & 0xff, n & 0xff]);
const vec8 = (b: Buffer) => Buffer.concat([u8(b.length), b]);
const vec16 = (b: Buffer) => Buffer.concat([u16(b.length), b]);
const u16List = (values: readonly number[]) => Buffer.concat(values.map(u16));
const extension = (type: number, body: Buffer) => Buffer.concat([u16(type), vec16(body)]);

function tls12ClientHello(sni: string | undefined): Buffer {
  const extensions = [
    ...(sni ? [extension(0x0000, vec16(Buffer.concat([u8(0), vec16(Buffer.from(sni, "ascii"))])))] : []),
    extension(0x000a, vec16(u16List(groups))),
    extension(0x000b, vec8(u8(0))),
    extension(0x000d, vec16(u16List(signatureSchemes))),
    extension(0x0017, Buffer.alloc(0)),
    extension(0xff01, vec8(Buffer.alloc(0))),
  ];
  const body = Buffer.concat([
    u16(0x0303),
    randomBytes(32),
    vec8(Buffer.alloc(0)),
    vec16(u16List(Object.keys(cipherSuites).map(Number))),
    vec8(u8(0)),
    vec16(Buffer.concat(extensions)),
  ]);
  const handshake = Buffer.concat([u8(1), u24(body.length), body]);
  // Record version 0x0301 for the first ClientHello, as browsers send it (RFC 8446 §5.1).
  return Buffer.concat([u8(22), u16(0x0301), vec16(handshake)]);
}

function byteReader(data: Buffer) {
  let offset = 0;
  const take = (n: number): Buffer => {
    if (offset + n > data.length) throw new RangeError(`truncated: wanted ${n} bytes at ${offset} of ${data.length}`);
    offset += n;
    return data.subarray(offset - n, offset);
  };
  return {
    take,
    u16: () => take(2).readUInt16BE(0),
    vec8: () => take(take(1)[0]!),
    vec16: () => take(take(2).readUInt16BE(0)),
    vec24: () => take(take(3).readUIntBE(0, 3)),
    remaining: () => data.length - offset,
  };
}

/** What the server's first flight said to our TLS 1.2 ClientHello. */
type ServerFlight =
  | { readonly state: "incomplete" }
  | {
      readonly state: "done";
      readonly version: number;
      readonly cipherSuite: number;
      readonly chain: Buffer[];
      readonly certificateRequest?: { readonly authorities: Buffer[] };
    }
  | { readonly state: "alert"; readonly alert: number }
  | { readonly state: "not_tls"; readonly firstBytes: Buffer }
  | { readonly state: "malformed"; readonly reason: string };

/**
 * Parses the bytes received so far, from the start each time: records may arrive split across
 * TCP segments, a record may hold several handshake messages and a message may span records.
 */
function parseServerFlight(bytes: Buffer): ServerFlight {
  const first = bytes[0];
  if (first !== undefined && (first < 20 || first > 23)) return { state: "not_tls", firstBytes: bytes.subarray(0, 64) };
  const fragments: Buffer[] = [];
  let offset = 0;
  while (offset + 5 <= bytes.length) {
    const type = bytes[offset]!;
    const length = bytes.readUInt16BE(offset + 3);
    if (type < 20 || type > 23 || bytes[offset + 1] !== 3 || length > 18432) {
      return offset === 0 ? { state: "not_tls", firstBytes: bytes.subarray(0, 64) } : { state: "malformed", reason: `bad record header at byte ${offset}` };
    }
    if (offset + 5 + length > bytes.length) break;
    const fragment = bytes.subarray(offset + 5, offset + 5 + length);
    offset += 5 + length;
    if (type === 21 && fragment.length >= 2) return { state: "alert", alert: fragment[1]! };
    if (type !== 22) return { state: "malformed", reason: `unexpected record type ${type} before ServerHelloDone` };
    fragments.push(fragment);
  }
  const handshake = Buffer.concat(fragments);
  let version = 0;
  let cipherSuite = 0;
  let chain: Buffer[] = [];
  let certificateRequest: { authorities: Buffer[] } | undefined;
  try {
    for (let at = 0; at + 4 <= handshake.length; ) {
      const type = handshake[at]!;
      const length = handshake.readUIntBE(at + 1, 3);
      if (at + 4 + length > handshake.length) break;
      const body = byteReader(handshake.subarray(at + 4, at + 4 + length));
      at += 4 + length;
      switch (type) {
        case 2: // ServerHello
          version = body.u16();
          body.take(32);
          body.vec8();
          cipherSuite = body.u16();
          break;
        case 11: {
          // Certificate: certificate_list<0..2^24-1> of ASN.1Cert<1..2^24-1>
          const list = byteReader(body.vec24());
          chain = [];
          while (list.remaining() > 0) chain.push(Buffer.from(list.vec24()));
          break;
        }
        case 13: {
          // CertificateRequest (RFC 5246 §7.4.4): types, signature algorithms (TLS 1.2 only), CA names.
          body.vec8();
          if (version >= 0x0303) body.vec16();
          const names = byteReader(body.vec16());
          const authorities: Buffer[] = [];
          while (names.remaining() > 0) authorities.push(Buffer.from(names.vec16()));
          certificateRequest = { authorities };
          break;
        }
        case 14: // ServerHelloDone
          return { state: "done", version, cipherSuite, chain, ...(certificateRequest ? { certificateRequest } : {}) };
        default: // ServerKeyExchange, CertificateStatus: not needed
          break;
      }
    }
  } catch (error) {
    return { state: "malformed", reason: error instanceof Error ? error.message : String(error) };
  }
  return { state: "incomplete" };
}

interface Tls12Probe {
  readonly connected: boolean;
  readonly flight: ServerFlight;
  /** The connection error, when the server never answered. */
  readonly error?: unknown;
}

function timeoutError(connected: boolean, target: string, timeoutMs: number): Error {
  return connected
    ? Object.assign(new Error(`No TLS answer from ${target} within ${timeoutMs} ms`), { code: "ERR_TLS_HANDSHAKE_TIMEOUT" })
    : Object.assign(new Error(`connect ETIMEDOUT ${target} (no answer within ${timeoutMs} ms)`), { code: "ETIMEDOUT" });
}

function isTimeout(error: unknown): boolean {
  const e = error as { name?: unknown; cause?: { name?: unknown } } | undefined;
  return e?.name === "TimeoutError" || e?.cause?.name === "TimeoutError";
}

function probeTls12(target: Target, timeoutMs: number, signal: AbortSignal | undefined): Promise<Tls12Probe> {
  return new Promise((resolve) => {
    let received = Buffer.alloc(0);
    let connected = false;
    let settled = false;
    const socket = net.connect({ host: target.host, port: target.port, signal: connectionSignal(timeoutMs, signal) });
    const finish = (result: Omit<Tls12Probe, "connected">) => {
      if (settled) return;
      settled = true;
      const { flight } = result;
      if (flight.state === "done" && !socket.destroyed) {
        // A fatal user_canceled alert: the server logs a deliberate cancel, not a mystery reset.
        socket.end(Buffer.concat([u8(21), u16(flight.version), vec16(Buffer.from([2, 90]))]), () => socket.destroy());
      } else {
        socket.destroy();
      }
      resolve({ connected, ...result });
    };
    socket.once("connect", () => {
      connected = true;
      socket.write(tls12ClientHello(target.sni));
    });
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const flight = parseServerFlight(received);
      if (flight.state !== "incomplete") finish({ flight });
    });
    socket.on("error", (error) => {
      const shown = isTimeout(error) ? timeoutError(connected, target.label, timeoutMs) : error;
      finish({ flight: parseServerFlight(received), error: shown });
    });
    socket.on("close", () => finish({ flight: parseServerFlight(received) }));
  });
}

function describeProbe(probe: Tls12Probe): string {
  const { flight } = probe;
  switch (flight.state) {
    case "done": {
      const suite = cipherSuites[flight.cipherSuite] ?? `cipher suite 0x${flight.cipherSuite.toString(16)}`;
      const request = flight.certificateRequest ? "sent a CertificateRequest" : "sent no CertificateRequest";
      return `the server accepted TLS 1.2 (${suite}) and ${request}`;
    }
    case "alert":
      return flight.alert === 70
        ? "the server refused TLS 1.2 (protocol_version alert), so the CertificateRequest could not be seen"
        : `the server refused our TLS 1.2 ClientHello (${tlsAlertName(flight.alert)} alert)`;
    case "not_tls":
      return `the server did not answer in TLS; it sent ${JSON.stringify(flight.firstBytes.toString("latin1").split(/\r?\n/)[0]?.slice(0, 40) ?? "")}`;
    case "malformed":
      return `the server's TLS 1.2 answer could not be parsed (${flight.reason})`;
    case "incomplete":
      return probe.error ? `the TLS 1.2 probe failed: ${(probe.error as Error).message}` : "the server closed the connection before finishing its TLS 1.2 hello";
  }
}

// ---------------------------------------------------------------------------------------------
// Real handshakes through Node.

interface Target {
  readonly host: string;
  readonly port: number;
  /** Server Name Indication; never an IP address (RFC 6066 §3). */
  readonly sni: string | undefined;
  readonly label: string;
}

interface HandshakeOutcome {
  readonly secure: boolean;
  readonly protocol?: string;
  readonly cipher?: string;
  readonly chain: Buffer[];
  readonly peer?: tls.PeerCertificate;
  readonly authorizationError?: string;
  readonly error?: unknown;
}

function connectionSignal(timeoutMs: number, outer: AbortSignal | undefined): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  return outer ? AbortSignal.any([timeout, outer]) : timeout;
}

/** The chain Node reports, leaf first, without repeating the self-signed root. */
function peerChain(peer: tls.DetailedPeerCertificate | undefined): Buffer[] {
  const out: Buffer[] = [];
  for (let cert = peer; cert?.raw && !out.some((der) => der.equals(cert!.raw)); cert = cert.issuerCertificate) out.push(cert.raw);
  return out;
}

// TLS 1.3 servers check our certificate after we consider the handshake done; a rejection
// arrives as an alert or a bare close within a round trip, an acceptance as a session ticket.
const settleMs = 1000;

function handshake(target: Target, credentials: { ca?: Buffer; cert?: Buffer; key?: Buffer }, timeoutMs: number, signal: AbortSignal | undefined): Promise<HandshakeOutcome> {
  return new Promise((resolve) => {
    let socket: tls.TLSSocket;
    let connected = false;
    const abort = connectionSignal(timeoutMs, signal);
    try {
      socket = tls.connect({
        host: target.host,
        port: target.port,
        ...(target.sni ? { servername: target.sni } : {}),
        ...credentials,
        // We judge the server ourselves, from authorizationError, to report rather than abort.
        rejectUnauthorized: false,
      });
    } catch (error) {
      // Bad PEM or a key that does not match the certificate throw before any I/O.
      resolve({ secure: false, chain: [], error });
      return;
    }
    let settled = false;
    let secure = false;
    let settleTimer: NodeJS.Timeout | undefined;
    let snapshot: Omit<HandshakeOutcome, "secure" | "error"> = { chain: [] };
    const capture = () => {
      try {
        const peer = socket.getPeerCertificate(true);
        const cipher = socket.getCipher();
        snapshot = {
          chain: peerChain(peer),
          ...(peer.raw ? { peer } : {}),
          ...(socket.getProtocol() ? { protocol: socket.getProtocol()! } : {}),
          ...(cipher ? { cipher: cipher.standardName } : {}),
          // Typed as Error, but Node sets the verification code string (e.g. CERT_HAS_EXPIRED).
          ...(socket.authorizationError ? { authorizationError: String(socket.authorizationError) } : {}),
        };
      } catch {
        // The handle is gone after a reset; keep what we had.
      }
    };
    const onAbort = () => finish(isTimeout(abort.reason) ? timeoutError(connected, target.label, timeoutMs) : abort.reason);
    const finish = (error?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(settleTimer);
      abort.removeEventListener("abort", onAbort);
      socket.destroy();
      resolve({ ...snapshot, secure, ...(error === undefined ? {} : { error }) });
    };
    // tls.connect() takes no signal, so the timeout is wired by hand.
    abort.addEventListener("abort", onAbort, { once: true });
    if (abort.aborted) onAbort();
    socket.once("connect", () => (connected = true));
    // Only after secureConnect: under TLS 1.2 the session can be announced before it.
    socket.on("session", () => secure && finish());
    socket.on("data", () => secure && finish());
    socket.once("secureConnect", () => {
      secure = true;
      capture();
      if (socket.getProtocol() !== "TLSv1.3") return finish();
      settleTimer = setTimeout(() => finish(), Math.min(settleMs, timeoutMs / 2));
    });
    socket.on("error", (error) => {
      // A failed TLS 1.2 handshake still has the server's certificate; after secureConnect
      // the snapshot taken then is the better one.
      if (!secure) capture();
      finish(error);
    });
    socket.on("close", () => {
      if (!secure) return finish(Object.assign(new Error("The server closed the connection during the TLS handshake"), { code: "ECONNRESET" }));
      finish(
        Object.assign(new Error("The server closed the connection right after the TLS 1.3 handshake, without an alert or a session ticket"), {
          code: "ECONNRESET",
        }),
      );
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Judging the server certificate when no handshake completed.

function trustAnchors(ca: Buffer | undefined): CertificateInfo[] {
  const pems = ca ? [ca] : tls.getCACertificates("default");
  const out: CertificateInfo[] = [];
  for (const pem of pems) {
    for (const block of parsePem(pem)) {
      try {
        if (block.label === "CERTIFICATE") out.push(parseCertificate(block.der));
      } catch {
        // A root Pier's parser does not understand cannot anchor a Pier chain either.
      }
    }
  }
  return out;
}

/**
 * Mirrors OpenSSL's order: build the path to an anchor, then purpose, then validity; then
 * Node's name check. Returns a Node-style code or error for `explainTlsFailure`.
 */
function verifyChainLocally(chain: CertificateInfo[], anchors: CertificateInfo[], name: string, now: Date): unknown {
  const leaf = chain[0];
  if (!leaf) return undefined;
  let current = leaf;
  for (let depth = 0; ; depth++) {
    if (depth > 10) return "CERT_CHAIN_TOO_LONG";
    const here = current;
    if (anchors.some((anchor) => anchor.der.equals(here.der) || isIssuedBy(here, anchor))) break;
    const next = chain.find((candidate) => candidate !== here && isIssuedBy(here, candidate));
    if (!next) {
      if (here.selfIssued) return depth === 0 ? "DEPTH_ZERO_SELF_SIGNED_CERT" : "SELF_SIGNED_CERT_IN_CHAIN";
      return depth === 0 ? "UNABLE_TO_VERIFY_LEAF_SIGNATURE" : "UNABLE_TO_GET_ISSUER_CERT_LOCALLY";
    }
    current = next;
  }
  const eku = leaf.extensions.extKeyUsage;
  if (eku && !eku.includes(Oid.serverAuth) && !eku.includes(Oid.anyExtendedKeyUsage)) return "INVALID_PURPOSE";
  if (chain.some((cert) => now > cert.notAfter)) return "CERT_HAS_EXPIRED";
  if (chain.some((cert) => now < cert.notBefore)) return "CERT_NOT_YET_VALID";
  return tls.checkServerIdentity(name, leaf.x509.toLegacyObject());
}

function summarize(cert: CertificateInfo): PresentedCertificate {
  return {
    subject: cert.subjectText,
    issuer: cert.issuerText,
    serialNumber: cert.serialNumber,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    subjectAltNames: (cert.extensions.subjectAltNames ?? []).map(formatSan),
    sha256Fingerprint: colonHex(cert.fingerprintSha256),
    spkiSha256: cert.spkiSha256,
    isCa: cert.isCa,
  };
}

function parseAll(ders: readonly Buffer[]): CertificateInfo[] {
  const out: CertificateInfo[] = [];
  for (const der of ders) {
    try {
      out.push(parseCertificate(der));
    } catch {
      // Reported through the handshake; a chain entry we cannot parse is left out.
    }
  }
  return out;
}

function firstCertificate(pem: Buffer | undefined): CertificateInfo | undefined {
  if (!pem) return undefined;
  try {
    const block = parsePem(pem).find((b) => b.label === "CERTIFICATE");
    return block ? parseCertificate(block.der) : parseCertificate(pem);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * Probes a live TLS endpoint the way `pier doctor --connect` reports it: TCP reachability, the
 * negotiated protocol and cipher, the server's chain and whether we trust it for the name, whether
 * the server asks for a client certificate (and from which CAs), and whether the full handshake
 * with our client certificate succeeds, every failure explained.
 *
 * Opens up to three connections, one after another, each limited by `timeoutMs`: a hand-made
 * TLS 1.2 ClientHello that reads the plaintext CertificateRequest, a handshake without a client
 * certificate, and (when `cert` and `key` are given) one with it. Never throws for network or
 * TLS problems; those are in the report. Sockets are always destroyed.
 *
 * @example
 * const report = await probeEndpoint({ host: "pier.example.com", port: 443, ca, cert, key });
 * for (const line of formatEndpointReport(report)) console.log(line);
 */
export async function probeEndpoint(options: EndpointProbeOptions): Promise<EndpointReport> {
  const { host, port, ca, cert, key, signal } = options;
  if ((cert === undefined) !== (key === undefined)) {
    throw new PkiError("invalid_argument", "Pass both a client certificate and its key, or neither.");
  }
  const timeoutMs = options.timeoutMs ?? 5000;
  const checkedName = options.servername ?? host;
  const sniCandidate = options.servername ?? host;
  const target: Target = {
    host,
    port,
    sni: isIP(sniCandidate) ? undefined : sniCandidate,
    label: `${isIP(host) === 6 ? `[${host}]` : host}:${port}`,
  };
  const now = new Date();

  const probe = await probeTls12(target, timeoutMs, signal);
  signal?.throwIfAborted();
  const requestedFrom = (flight: ServerFlight): "yes" | "no" | "unknown" =>
    flight.state === "done" ? (flight.certificateRequest ? "yes" : "no") : "unknown";
  const requested = requestedFrom(probe.flight);
  const authorities = probe.flight.state === "done" ? (probe.flight.certificateRequest?.authorities ?? []) : [];
  const acceptableCAs = authorities.map((der) => {
    try {
      return formatNameDer(der);
    } catch {
      return `(unparseable name, ${der.length} bytes)`;
    }
  });
  const baseContext: ClientTlsContext = { side: "client", haveClientCertificate: false, servername: checkedName, clientCertificateRequested: requested };

  if (!probe.connected) {
    return {
      host,
      port,
      checkedName,
      tcp: { reachable: false, failure: explainTlsFailure(probe.error, baseContext) },
      clientCertificate: { requested: "unknown", acceptableCAs: [], required: "unknown", probe: "no TCP connection" },
    };
  }

  const anonymous = await handshake(target, { ...(ca ? { ca } : {}) }, timeoutMs, signal);
  signal?.throwIfAborted();
  const withCertificate = cert && key ? await handshake(target, { ...(ca ? { ca } : {}), cert, key }, timeoutMs, signal) : undefined;
  signal?.throwIfAborted();

  const anonymousFailure = anonymous.error === undefined ? undefined : explainTlsFailure(anonymous.error, baseContext);
  const required = anonymous.error === undefined ? "no" : anonymousFailure?.code === "client_certificate_required" ? "yes" : "unknown";

  let handshakeReport: EndpointReport["handshake"];
  if (withCertificate) {
    let failure: TlsFailure | undefined;
    if (withCertificate.error !== undefined) {
      failure = explainTlsFailure(withCertificate.error, { ...baseContext, haveClientCertificate: true });
      const ours = firstCertificate(cert);
      if (failure.code === "client_certificate_rejected" && ours) {
        failure = inferClientCertificateRejection(ours, authorities, now, { servername: checkedName }) ?? failure;
      }
    }
    handshakeReport = { clientCertificateSent: true, ok: failure === undefined, ...(failure ? { failure } : {}) };
  } else {
    handshakeReport = { clientCertificateSent: false, ok: anonymousFailure === undefined, ...(anonymousFailure ? { failure: anonymousFailure } : {}) };
  }

  // Negotiated parameters and the chain: prefer a handshake that completed.
  const outcomes = [withCertificate, anonymous].filter((o): o is HandshakeOutcome => o !== undefined);
  const completed = outcomes.find((o) => o.secure);
  const negotiatedFrom = completed ?? outcomes.find((o) => o.protocol && o.cipher);
  const negotiated = negotiatedFrom?.protocol && negotiatedFrom.cipher ? { protocol: negotiatedFrom.protocol, cipher: negotiatedFrom.cipher } : undefined;

  const probeChain = probe.flight.state === "done" ? parseAll(probe.flight.chain) : [];
  const handshakeChain = parseAll((completed ?? outcomes.find((o) => o.chain.length > 0))?.chain ?? []);
  const chain = probeChain.length > 0 ? probeChain : handshakeChain;
  const anchorsLabel = ca ? "the given CA" : "the system trust store";
  let serverCertificate: EndpointReport["serverCertificate"];
  const leaf = chain[0];
  if (leaf) {
    let verdict: unknown;
    let method: "handshake" | "local" = "handshake";
    if (completed?.peer) {
      // authorizationError carries only the code for a name mismatch; re-run the check for its reason.
      const code = completed.authorizationError;
      verdict = code && code !== "ERR_TLS_CERT_ALTNAME_INVALID" ? code : tls.checkServerIdentity(checkedName, completed.peer);
    } else {
      method = "local";
      verdict = verifyChainLocally(chain, trustAnchors(ca), checkedName, now);
    }
    const failure = verdict ? explainTlsFailure(verdict, baseContext) : undefined;
    serverCertificate = {
      chain: chain.map(summarize),
      chainSource: probeChain.length > 0 ? "tls12-probe" : "handshake",
      leafSpkiSha256: leaf.spkiSha256,
      trust: { verified: failure === undefined, anchors: anchorsLabel, method, ...(failure ? { failure } : {}) },
    };
  }

  return {
    host,
    port,
    checkedName,
    tcp: { reachable: true },
    ...(negotiated ? { negotiated } : {}),
    ...(serverCertificate ? { serverCertificate } : {}),
    clientCertificate: { requested, acceptableCAs, required, probe: describeProbe(probe) },
    handshake: handshakeReport,
  };
}

const when = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, "Z");
const protocolName = (p: string) => p.replace(/^TLSv/, "TLS ");
const explained = (f: TlsFailure) => `${f.cause} — ${f.fix}${f.inferred ? ` (inferred: ${f.inferred})` : ""}`;

/**
 * Renders an endpoint report as the lines `pier doctor --connect` prints, most important first.
 *
 * @example
 * formatEndpointReport(report);
 * // ["Connected to 127.0.0.1:9443 (TLS 1.3, TLS_AES_256_GCM_SHA384)", "Server certificate: CN=localhost issued by …", …]
 */
export function formatEndpointReport(report: EndpointReport): string[] {
  const target = `${isIP(report.host) === 6 ? `[${report.host}]` : report.host}:${report.port}`;
  if (!report.tcp.reachable) {
    return [`✗ Cannot connect to ${target}: ${report.tcp.failure ? explained(report.tcp.failure) : "unknown reason"}`];
  }
  const lines: string[] = [];
  const { negotiated, serverCertificate: server, clientCertificate: client, handshake: shake } = report;
  lines.push(negotiated ? `Connected to ${target} (${protocolName(negotiated.protocol)}, ${negotiated.cipher})` : `Connected to ${target} (TCP only; no TLS session was negotiated)`);

  if (server) {
    const [leaf, ...rest] = server.chain;
    if (leaf) {
      const sans = leaf.subjectAltNames.length > 0 ? `SAN ${leaf.subjectAltNames.join(", ")}` : "no SAN";
      lines.push(`Server certificate: ${leaf.subject} issued by ${leaf.issuer}, valid until ${when(leaf.notAfter)}, ${sans}`);
      lines.push(`  SHA-256 fingerprint ${leaf.sha256Fingerprint}`, `  public key (SPKI) SHA-256 ${server.leafSpkiSha256}`);
      for (const cert of rest) lines.push(`  chain: ${cert.subject} issued by ${cert.issuer}, valid until ${when(cert.notAfter)}`);
    }
    const how = server.trust.method === "local" ? " (checked locally; the handshake did not complete)" : "";
    lines.push(server.trust.failure ? `✗ ${explained(server.trust.failure)}${how}` : `✓ trusted by ${server.trust.anchors} and valid for ${report.checkedName}${how}`);
  }

  const cas = client.acceptableCAs.length > 0 ? `acceptable CAs: ${client.acceptableCAs.join("; ")}` : "acceptable CAs: any (the server named none)";
  if (client.requested === "yes") {
    const kind = client.required === "yes" ? "required" : client.required === "no" ? "requested but optional" : "requested";
    lines.push(`Client certificate: ${kind} (${cas})`);
  } else if (client.requested === "no") {
    lines.push(client.required === "yes" ? "Client certificate: required, although no CertificateRequest was seen under TLS 1.2" : "Client certificate: not requested");
  } else if (client.required === "yes") {
    lines.push(`Client certificate: required (${client.probe}; acceptable CAs unknown)`);
  } else {
    lines.push(`Client certificate: unknown (${client.probe})`);
  }

  if (shake) {
    const label = shake.clientCertificateSent ? "Handshake with our client certificate" : "Handshake without a client certificate";
    lines.push(`${label}: ${shake.failure ? `✗ ${explained(shake.failure)}` : "ok"}`);
  }
  return lines;
}
