import type { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http2 from "node:http2";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Writable } from "node:stream";
import tls, { type TLSSocket } from "node:tls";
import { CertificateAuthority, type LeafRequest, type SubjectAltName } from "@pier/pki";
import { type RequestHandler, type TlsResponse, connectionIdentity } from "./tls-front.ts";

/** A certificate and its key, as PEM and as files. */
export interface Credential {
  readonly certPem: string;
  readonly keyPem: string;
  readonly certPath: string;
  readonly keyPath: string;
}

/** A CA made for one test run, with its certificate written to `caPath`. */
export interface TestCa {
  readonly authority: CertificateAuthority;
  readonly pem: string;
  readonly caPath: string;
}

/** A scratch directory of CAs and certificates, removed on dispose. */
export interface TestPki extends AsyncDisposable {
  readonly dir: string;
  file(name: string): string;
  createCa(name: string): Promise<TestCa>;
  issue(ca: TestCa, name: string, request: LeafRequest): Promise<Credential>;
}

/** Names the fixtures use: the UI name, the mTLS name and a wildcard the mTLS certificate covers. */
export const names = { ui: "pier.test", mtls: "mtls.pier.test", deviceWildcard: "*.devices.pier.test" } as const;

/** Creates an empty PKI scratch directory. */
export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), "pier-tls-"));
  const file = (name: string) => join(dir, name);
  return {
    dir,
    file,
    async createCa(name) {
      const authority = await CertificateAuthority.create(file(`ca-${name}`), { commonName: name });
      const caPath = file(`${name}.ca.crt`);
      writeFileSync(caPath, authority.certificatePem);
      return { authority, pem: authority.certificatePem, caPath };
    },
    async issue(ca, name, request) {
      const issued = await ca.authority.issueWithNewKey(request);
      const credential = { certPem: issued.certificatePem, keyPem: issued.privateKeyPem, certPath: file(`${name}.crt`), keyPath: file(`${name}.key`) };
      writeFileSync(credential.certPath, credential.certPem);
      writeFileSync(credential.keyPath, credential.keyPem, { mode: 0o600 });
      return credential;
    },
    [Symbol.asyncDispose]: () => {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
}

const dns = (value: string): SubjectAltName => ({ type: "dns", value });

/** A UI server certificate for `names.ui` and 127.0.0.1. */
export function uiServerRequest(): LeafRequest {
  return { profile: "server", commonName: names.ui, subjectAltNames: [dns(names.ui), { type: "ip", value: "127.0.0.1" }] };
}

/** An mTLS server certificate for `names.mtls` and `names.deviceWildcard`. */
export function mtlsServerRequest(): LeafRequest {
  return { profile: "server", commonName: names.mtls, subjectAltNames: [dns(names.mtls), dns(names.deviceWildcard)] };
}

/** A device's client certificate. */
export function clientRequest(commonName: string): LeafRequest {
  return { profile: "client", commonName };
}

/** What a client brings to a connection. */
export interface ClientOptions {
  readonly servername?: string;
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
}

/** A response, with the certificate the server presented. */
export interface Answer {
  readonly status: number;
  readonly body: string;
  readonly peer: X509Certificate | undefined;
}

/** One GET over a new HTTP/2 session, closed afterwards. */
export async function h2Get(port: number, path: string, options: ClientOptions): Promise<Answer> {
  const session = openSession(port, options);
  try {
    return await sessionGet(session, path);
  } finally {
    session.close();
  }
}

// Node 24's client-side getPeerX509Certificate() answers only once per connection (later calls,
// and getPeerCertificate(), return nothing), so each session's certificate is read once, here.
const presented = new WeakMap<http2.ClientHttp2Session, X509Certificate | undefined>();

/** An HTTP/2 session to the front at 127.0.0.1:`port`. */
export function openSession(port: number, options: ClientOptions): http2.ClientHttp2Session {
  const session = http2.connect(`https://127.0.0.1:${port}`, { ...options, servername: options.servername ?? "" });
  session.once("connect", () => presented.set(session, (session.socket as TLSSocket).getPeerX509Certificate()));
  // Failures surface through the requests made on the session.
  session.on("error", () => undefined);
  return session;
}

/** One GET on an open HTTP/2 session. */
export function sessionGet(session: http2.ClientHttp2Session, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = session.request({ ":path": path });
    let status = 0;
    let body = "";
    request.setEncoding("utf8");
    request.on("response", (headers) => (status = Number(headers[":status"])));
    request.on("data", (chunk: string) => (body += chunk));
    request.on("end", () => (status === 0 ? reject(new Error("the stream ended without a response")) : resolve({ status, body, peer: presented.get(session) })));
    request.on("error", reject);
    session.once("close", () => reject(new Error("the session closed before the response")));
    request.end();
  });
}

/** One GET over HTTP/1.1 on a new connection (no agent). */
export function h1Get(port: number, path: string, options: ClientOptions): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = https.request({ host: "127.0.0.1", port, path, agent: false, ...options, servername: options.servername ?? "" }, (response) => {
      const peer = (response.socket as TLSSocket).getPeerX509Certificate();
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body, peer }));
    });
    request.on("error", reject);
    request.end();
  });
}

function send(res: TlsResponse, status: number, body: string): void {
  if ("stream" in res) res.writeHead(status, { "content-type": "application/json" }).end(body);
  else res.writeHead(status, { "content-type": "application/json" }).end(body);
}

/**
 * The handler the tests serve: `/duplex` echoes each line of the request body as it arrives,
 * everything else answers with the connection's identity as JSON.
 */
export const testHandler: RequestHandler = (req, res) => {
  if (req.url === "/duplex") {
    if ("stream" in res) res.writeHead(200, { "content-type": "text/plain" });
    else res.writeHead(200, { "content-type": "text/plain" });
    const out: Writable = res;
    let pending = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) out.write(`echo:${line}\n`);
    });
    req.on("end", () => out.end("bye\n"));
    return;
  }
  const identity = connectionIdentity(req);
  send(
    res,
    200,
    JSON.stringify({
      mtls: identity.mtls,
      authorized: identity.authorized,
      peer: identity.peerCertificate?.subject,
      authorizationError: identity.authorizationError,
      remoteAddress: identity.remoteAddress,
      serverName: identity.serverName,
      httpVersion: req.httpVersion,
    }),
  );
};

/** What one `exchange` saw. */
export interface Exchange {
  /** What the server answered (empty when it closed the connection first). */
  readonly answer: string;
  /** The client resumed the TLS session it offered. */
  readonly resumed: boolean;
  /** The session (ticket) the server gave, to resume with later. */
  readonly session: Buffer | undefined;
}

/**
 * One HTTP/1.1 GET over a fresh TLS connection with a client certificate, optionally resuming
 * `session`. The client closes once it has the answer and, unless it resumed, a session ticket
 * (a connection the server closes first leaves a ticket OpenSSL will not resume).
 */
export function exchange(port: number, ca: string, client: Credential, session?: Buffer): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    let answer = "";
    let ticket: Buffer | undefined;
    let resumed = false;
    const socket = tls.connect({ host: "127.0.0.1", port, servername: names.mtls, ca, cert: client.certPem, key: client.keyPem, ...(session ? { session } : {}) }, () => {
      // Read now: once the socket is closed, isSessionReused() no longer knows.
      resumed = socket.isSessionReused();
      socket.write(`GET /who HTTP/1.1\r\nHost: ${names.mtls}\r\n\r\n`);
    });
    const done = () => {
      if ((ticket || resumed) && answer.includes("}")) socket.destroy();
    };
    socket.on("session", (value: Buffer) => {
      ticket = value;
      done();
    });
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      answer += chunk;
      done();
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      // A server that closes right after the handshake may reset the connection.
      if (error.code !== "ECONNRESET") reject(error);
    });
    socket.on("close", () => resolve({ answer, resumed, session: ticket }));
  });
}
