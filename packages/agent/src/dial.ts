import { X509Certificate, createHash } from "node:crypto";
import { connect, type ConnectionOptions, type DetailedPeerCertificate, type TLSSocket } from "node:tls";
import { isIP } from "node:net";
import { explainTlsFailure, parsePem, spkiSha256, tlsProfile } from "@pier/pki";
import type { AgentConfig } from "./config.ts";
import { AgentError } from "./errors.ts";

/** Where to dial. */
export interface DialTarget {
  readonly host: string;
  readonly port: number;
}

/**
 * The client certificate of Pier's built-in flow (docs/identity.md), used instead of the
 * `--mtlscert/--mtlskey` files, with `trust.pem` (the CAs the server's certificate chains to).
 */
export interface ClientIdentity {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly trust?: Buffer;
}

const connectTimeoutMs = 15_000;

// TLS sessions to resume, one per target and way of verifying the server: a reconnecting fleet
// costs the server full handshakes otherwise (docs/security.md "TLS session resumption"). Only
// sessions of verified connections are kept. A resumed session carries the client certificate it
// was made with, so a session is offered only with that same certificate (`identity`): after a
// renewal the first connection is a full handshake with the new one, whose session replaces the
// old. The server checks a resumed certificate's revocation and dates again, and its tickets
// resume only under the certificates, CAs and CRLs they were issued under.
const resumable = new Map<string, { readonly identity: string; readonly ticket: Buffer }>();
const agentFlags = { cert: "--mtlscert", key: "--mtlskey", ca: "--mtlscacert" } as const;

/** Turns any error of a connection attempt into an `AgentError` with cause and fix. */
export function connectionError(error: unknown, config: AgentConfig, target: DialTarget, haveClientCertificate = config.tls.cert !== undefined): AgentError {
  if (error instanceof AgentError) return error;
  const failure = explainTlsFailure(error, { side: "client", haveClientCertificate, servername: target.host, flags: agentFlags });
  return new AgentError("connect_failed", `${failure.cause} — ${failure.fix}`, { cause: error, explained: failure });
}

/**
 * Opens a TLS connection to the server and authenticates it before anything is sent: with the
 * CA file when one is configured (chain and host name), else by the SPKI fingerprint pinned in
 * EDGE_KEY. EDGE_INSECURE_POLL=1 skips the CA file's chain and host-name check, never the pin:
 * the server must then hold the key EDGE_KEY names. Our client certificate (`identity`, Pier's
 * issued one, else `--mtlscert`) is presented in every case. With `identity.trust` and a CA
 * file, a server certificate chaining to `trust.pem` instead of the CA file is accepted only if
 * it also holds the pinned key (a CA rotation moves the server's certificate, not its key).
 */
export async function dialServer(config: AgentConfig, target: DialTarget, alpn: "h2" | "http/1.1", signal: AbortSignal, identity?: ClientIdentity): Promise<TLSSocket> {
  const verifyByCa = config.tls.ca !== undefined && !config.insecurePoll;
  const client = identity ?? (config.tls.cert && config.tls.key ? { cert: config.tls.cert, key: config.tls.key } : undefined);
  // trust.pem (learned at issuance) is trusted beside the CA file, but a server that chains only
  // to it must also hold the pinned key: never weaker than the CA file or the pin alone.
  const trust = verifyByCa && identity?.trust ? identity.trust : undefined;
  // The key names how the session was verified, so a session is only offered to a server
  // verified the same way (the same CA check, or the same pinned fingerprint).
  const cacheKey = `${alpn}|${target.host}:${target.port}|${verifyByCa ? "ca" : `pin:${config.edgeKey.serverFingerprint}`}`;
  const identityKey = client ? createHash("sha256").update(client.cert).digest("hex") : "anonymous";
  const kept = resumable.get(cacheKey);
  const options: ConnectionOptions = {
    host: target.host,
    port: target.port,
    ...(isIP(target.host) ? {} : { servername: target.host }),
    ALPNProtocols: [alpn],
    ...(config.sourceAddress === undefined ? {} : { localAddress: config.sourceAddress }),
    ...tlsProfile,
    rejectUnauthorized: verifyByCa,
    ...(verifyByCa && config.tls.ca ? { ca: trust ? [config.tls.ca, trust] : config.tls.ca } : {}),
    ...(client ? { cert: client.cert, key: client.key } : {}),
    ...(kept?.identity === identityKey ? { session: kept.ticket } : {}),
  };
  let verified = false;
  let ticket: Buffer | undefined;
  const keep = () => {
    if (verified && ticket) resumable.set(cacheKey, { identity: identityKey, ticket });
  };
  const open = (connection: ConnectionOptions) =>
    new Promise<TLSSocket>((resolve, reject) => {
      const tlsSocket = connect(connection);
      tlsSocket.on("session", (session: Buffer) => {
        ticket = session;
        keep();
      });
      const timer = setTimeout(() => tlsSocket.destroy(Object.assign(new Error("TLS handshake timed out"), { code: "ETIMEDOUT" })), connectTimeoutMs);
      const abort = () => tlsSocket.destroy(new Error("aborted"));
      signal.addEventListener("abort", abort, { once: true });
      tlsSocket.once("secureConnect", () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", abort);
        resolve(tlsSocket);
      });
      tlsSocket.once("error", (error) => {
        clearTimeout(timer);
        signal.removeEventListener("abort", abort);
        reject(error as Error);
      });
    });
  let socket: TLSSocket;
  // Set when the server's certificate was verified here, not by OpenSSL (it reads not yet valid).
  let verifiedHere = false;
  try {
    socket = await open(options);
  } catch (error) {
    if (!verifyByCa || (error as NodeJS.ErrnoException).code !== "CERT_NOT_YET_VALID") throw connectionError(error, config, target, client !== undefined);
    // Not yet valid by this device's clock: verified again below without the dates' lower bound
    // (docs/identity.md "Clock skew"); anything else wrong stays refused.
    socket = await open({ ...options, session: undefined, rejectUnauthorized: false }).catch((retryError: unknown) => {
      throw connectionError(retryError, config, target, client !== undefined);
    });
    try {
      // The peer certificate is read once, here: Node no longer returns it once the TLS 1.3
      // session tickets of an unverified connection arrived.
      const { anchor, leaf } = verifyIgnoringNotBefore(socket, target, config.tls.ca, trust);
      if (anchor === "trust") checkPin(socket, config, target, leaf);
      verifiedHere = true;
    } catch (refusal) {
      socket.destroy();
      throw refusal;
    }
  }
  // A resumed handshake carries no certificate to check: it proves the server holds the secret
  // of a session we kept, and we keep only sessions of connections verified below (keep() waits
  // for `verified`). An impostor cannot resume one; it gets a full handshake and this check.
  if (!verifyByCa && !socket.isSessionReused()) checkPin(socket, config, target);
  else if (!verifiedHere && trust && !chainsToCaFile(socket, config.tls.ca!)) checkPin(socket, config, target);
  verified = true;
  keep();
  socket.on("error", () => undefined); // later errors surface through the HTTP layer using it
  return socket;
}

const serverAuth = "1.3.6.1.5.5.7.3.1";

/**
 * The server's certificate failed only as "not yet valid" by this device's clock. If its chain
 * (signatures up to a certificate of the CA file, or of `trust.pem`), its CA flags, its purpose
 * and its name verify, it can only have been made by that CA's holder: this device's clock is
 * behind, not the certificate wrong, and it is accepted (docs/identity.md "Clock skew"; the
 * agent learns the server's time from its answer). OpenSSL stops at the first error, checking
 * from the root down, so none of the signatures below a not-yet-valid CA were checked: all are
 * here. A certificate of the chain that has EXPIRED by this device's clock (which, being behind,
 * is earlier than the true time) stays refused: an old, possibly compromised key. Returns which
 * bundle the chain ends in, and the leaf; throws an `AgentError` saying what is wrong.
 */
function verifyIgnoringNotBefore(socket: TLSSocket, target: DialTarget, caFile: Buffer, trust: Buffer | undefined): { anchor: "ca" | "trust"; leaf: X509Certificate } {
  const certificatesOf = (pem: Buffer | undefined) => (pem ? parsePem(pem).filter((block) => block.label === "CERTIFICATE").map((block) => new X509Certificate(block.der)) : []);
  const anchors = [...certificatesOf(caFile).map((certificate) => ({ certificate, from: "ca" as const })), ...certificatesOf(trust).map((certificate) => ({ certificate, from: "trust" as const }))];
  const leaf = socket.getPeerX509Certificate();
  const presented: X509Certificate[] = [];
  const seen = new Set<string>();
  for (let certificate: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true); certificate?.raw && !seen.has(certificate.fingerprint256); certificate = certificate.issuerCertificate) {
    seen.add(certificate.fingerprint256);
    presented.push(new X509Certificate(certificate.raw));
  }
  const refuse = (reason: string) => {
    const explained = {
      code: "server_certificate_not_yet_valid",
      cause: `The server's certificate is not valid yet by this device's clock (${new Date().toISOString()}), and ${reason}. Nothing was sent to it.`,
      fix: "Check that the agent reaches your Pier server and that --mtlscacert holds the CA that issued its certificate; set this device's clock (NTP).",
    };
    return new AgentError("server_untrusted", `${explained.cause} — ${explained.fix}`, { explained });
  };
  if (!leaf) throw refuse("it presented no certificate");
  const now = Date.now();
  const path: X509Certificate[] = [leaf];
  let anchor: (typeof anchors)[number] | undefined;
  for (let current = leaf; path.length <= 8; ) {
    anchor = anchors.find(({ certificate }) => certificate.ca && current.checkIssued(certificate) && current.verify(certificate.publicKey));
    if (anchor) break;
    const issuer = presented.find((candidate) => candidate.ca && candidate.fingerprint256 !== current.fingerprint256 && current.checkIssued(candidate) && current.verify(candidate.publicKey));
    if (!issuer) throw refuse(`its chain does not verify up to a CA of --mtlscacert (no valid signature by an issuer of ${current.subject.replaceAll("\n", ", ")})`);
    path.push(issuer);
    current = issuer;
  }
  if (!anchor) throw refuse("its chain is longer than 8 certificates");
  const expired = [...path, anchor.certificate].find((certificate) => new Date(certificate.validTo).getTime() <= now);
  if (expired) throw refuse(`${expired.subject.replaceAll("\n", ", ")} in its chain expired ${new Date(expired.validTo).toISOString()}, which no clock being behind explains`);
  const usages = leaf.keyUsage;
  if (usages !== undefined && !usages.includes(serverAuth)) throw refuse("it is not for TLS servers (extendedKeyUsage without serverAuth)");
  const named = isIP(target.host) ? leaf.checkIP(target.host) : leaf.checkHost(target.host);
  if (named === undefined) throw refuse(`it is not for ${target.host} (its subject alternative names: ${leaf.subjectAltName ?? "none"})`);
  return { anchor: anchor.from, leaf };
}

/** Whether the verified chain the server presented reaches a certificate of the CA file. */
function chainsToCaFile(socket: TLSSocket, caFile: Buffer): boolean {
  const trusted = new Set(parsePem(caFile).filter((block) => block.label === "CERTIFICATE").map((block) => new X509Certificate(block.der).fingerprint256));
  const seen = new Set<string>();
  for (let certificate: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true); certificate?.fingerprint256 && !seen.has(certificate.fingerprint256); certificate = certificate.issuerCertificate) {
    if (trusted.has(certificate.fingerprint256)) return true;
    seen.add(certificate.fingerprint256);
  }
  return false;
}

/** Refuses (closing the socket before any byte of ours) a server whose key is not the one EDGE_KEY pins. */
function checkPin(socket: TLSSocket, config: AgentConfig, target: DialTarget, peer = socket.getPeerX509Certificate()): void {
  const presented = peer ? spkiSha256(peer.publicKey) : "(none)";
  if (presented === config.edgeKey.serverFingerprint) return;
  socket.destroy();
  const insecure = config.insecurePoll ? " EDGE_INSECURE_POLL=1 skips only the CA file's check, never this one." : "";
  const explained = {
    code: "server_fingerprint_mismatch",
    cause: `The server at ${target.host}:${target.port} presented a certificate whose key (SPKI SHA-256 ${presented.slice(0, 16)}…) is not the one pinned in EDGE_KEY (${config.edgeKey.serverFingerprint.slice(0, 16)}…): it is not the Pier server this key was made for, or its key changed. Nothing was sent to it.${insecure}`,
    fix: config.insecurePoll
      ? `Check that ${target.host}:${target.port} reaches your Pier server itself (not a proxy that ends TLS, not another host); if the server's key really changed, get a fresh EDGE_KEY from it.`
      : "Get a fresh EDGE_KEY from the Pier server, or pass --mtlscacert with the CA that issued the server's certificate.",
  };
  throw new AgentError("server_untrusted", `${explained.cause} — ${explained.fix}`, { explained });
}
