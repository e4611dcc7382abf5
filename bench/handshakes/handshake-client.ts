/**
 * A load-generator process of bench/handshakes.ts, forked by handshake-load.ts with an IPC
 * channel. Each of its slots dials the aimed server again and again: a full TLS handshake (no
 * session offered, so none resumed) with its client certificate, one request (HTTP/1.1, or HTTP/2:
 * http-exchange.ts), the response's status, then the connection is dropped and the next dial starts. A handshake counts when
 * the client verified the server's certificate (chain and name) and the server answered the
 * status it gives only to a verified client certificate. The process ends when the channel
 * closes, so it never outlives the benchmark; Ctrl-C is left to the parent.
 */
import tls from "node:tls";
import { tlsProfile } from "@pier/pki";
import { type HttpVersion, httpExchange } from "./http-exchange.ts";

/** One connection slot: where it dials from and the certificate it shows. */
export interface ClientSlot {
  /** A loopback address of its own (127.5.x.y): a slot's closed connections wait in TIME_WAIT on it, not on a shared one. */
  readonly localAddress: string;
  readonly certificatePem: string;
  readonly keyPem: string;
}

/** The server to dial, and the HTTP status that proves it accepted the client certificate. */
export interface HandshakeTarget {
  readonly name: string;
  readonly port: number;
  readonly expectedStatus: number;
}

/** Messages from the parent. */
export type ClientRequest =
  | { readonly type: "setup"; readonly slots: readonly ClientSlot[]; readonly caPem: string; readonly timeoutMs: number; readonly http: HttpVersion }
  /** Dial `target` from now on (each slot after its connection under way ends); none: stop dialling. */
  | { readonly type: "aim"; readonly target?: HandshakeTarget }
  | { readonly type: "snapshot"; readonly id: number };

/** What one process counted against one target since it started. */
export interface TargetCounts {
  /** Handshakes that ended with the expected status. */
  completed: number;
  /** Connections that did not, by reason (an error code, `HTTP 400`, `timeout`…). */
  failures: Record<string, number>;
  /** TLS session tickets received (never used: every dial is a full handshake). */
  tickets: number;
  /** Protocol, suite and key exchange of the first handshake (e.g. `TLSv1.3 TLS_AES_128_GCM_SHA256 X25519`). */
  negotiated?: string;
}

/** The answer to a `snapshot` request: counts per target name. */
export interface ClientSnapshot {
  readonly type: "snapshot";
  readonly id: number;
  readonly counts: Record<string, TargetCounts>;
}

const counts: Record<string, TargetCounts> = {};
let target: HandshakeTarget | undefined;
let setup: Extract<ClientRequest, { type: "setup" }> | undefined;
const idle: ClientSlot[] = [];

// Each slot's secure context, made once: given `ca`, `cert` and `key`, tls.connect parses the
// PEM of all three again at every dial, which cost the client more than its handshake did.
const contexts = new WeakMap<ClientSlot, tls.SecureContext>();

function contextOf(slot: ClientSlot, caPem: string): tls.SecureContext {
  let context = contexts.get(slot);
  if (!context) {
    context = tls.createSecureContext({ ca: caPem, cert: slot.certificatePem, key: slot.keyPem, ...tlsProfile });
    contexts.set(slot, context);
  }
  return context;
}

function countsOf(name: string): TargetCounts {
  counts[name] ??= { completed: 0, failures: {}, tickets: 0 };
  return counts[name];
}

/** What the client saw of the key exchange: the group's name (X25519, prime256v1…). */
function keyExchange(socket: tls.TLSSocket): string {
  const info = socket.getEphemeralKeyInfo();
  return info && "name" in info && info.name ? String(info.name) : "unknown key exchange";
}

function dial(slot: ClientSlot): void {
  const aimed = target;
  if (!aimed || !setup) {
    idle.push(slot);
    return;
  }
  const counted = countsOf(aimed.name);
  let done = false;
  const exchange = httpExchange(setup.http);
  const read = exchange.reader();
  // tls.connect hands localAddress to net.connect; its type leaves it out.
  const options: tls.ConnectionOptions & { localAddress: string } = {
    host: "127.0.0.1",
    port: aimed.port,
    localAddress: slot.localAddress,
    servername: "localhost",
    secureContext: contextOf(slot, setup.caPem),
    ALPNProtocols: [...exchange.alpn],
  };
  const socket = tls.connect(options);
  const finish = (failure?: string) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    socket.destroy();
    if (failure === undefined) counted.completed++;
    else counted.failures[failure] = (counted.failures[failure] ?? 0) + 1;
    setImmediate(() => dial(slot));
  };
  const timer = setTimeout(() => finish("timeout"), setup.timeoutMs);
  socket.on("session", () => counted.tickets++);
  socket.once("secureConnect", () => {
    // rejectUnauthorized (the default) already ended a connection whose server failed; this says so if it ever changes.
    if (!socket.authorized) return finish(`server certificate not verified (${String(socket.authorizationError)})`);
    counted.negotiated ??= `${socket.getProtocol() ?? "?"} ${socket.getCipher().standardName} ${keyExchange(socket)}`;
    socket.write(exchange.request);
  });
  socket.on("data", (chunk: Buffer) => {
    const progress = read(chunk);
    if (progress === undefined) return;
    if ("failure" in progress) finish(progress.failure);
    else finish(progress.status === aimed.expectedStatus ? undefined : `HTTP ${progress.status}`);
  });
  socket.on("error", (error: NodeJS.ErrnoException) => finish(error.code ?? error.message));
  socket.on("close", () => finish("closed before the status line"));
}

process.on("SIGINT", () => {
  // The parent stops the run (and this process) on Ctrl-C.
});
process.on("disconnect", () => process.exit(0));
process.on("message", (message: ClientRequest) => {
  switch (message.type) {
    case "setup":
      setup = message;
      idle.push(...message.slots);
      return;
    case "aim":
      target = message.target;
      if (target) for (const slot of idle.splice(0)) dial(slot);
      return;
    case "snapshot": {
      const reply: ClientSnapshot = { type: "snapshot", id: message.id, counts };
      process.send?.(reply);
      return;
    }
  }
});
