import { Agent, request, type RequestOptions } from "node:https";
import { isIP } from "node:net";
import { connect, type TLSSocket } from "node:tls";
import { explainTlsFailure, tlsProfile } from "@pier/pki";
import { CliError } from "../errors.ts";

/** How `pier docker-proxy` proves who it is to the Pier server. */
export type ServerCredentials =
  /** An access token (`X-API-Key`), from `POST /api/users/{id}/tokens`. */
  | { readonly kind: "api-key"; readonly apiKey: string }
  /** A user's password, exchanged for a session at `POST /api/auth` and again before it expires. */
  | { readonly kind: "password"; readonly username: string; readonly password: string };

/** Where the Pier server is and how to trust it. */
export interface ServerConnectionOptions {
  /** `https://host:port` of the server's API. */
  readonly url: URL;
  /** CA bundle for the server's certificate (else the system's roots). */
  readonly ca?: Buffer;
  /** A client certificate, for servers that require one from everyone (`--sslcacert`). */
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly credentials: ServerCredentials;
}

/** A JSON answer of the API. */
export interface ApiAnswer {
  readonly status: number;
  readonly body: unknown;
}

// Sessions are renewed this long before they expire, so no request carries a stale one.
const renewBeforeMs = 10 * 60_000;
const flags = { cert: "--cert", key: "--key", ca: "--ca" } as const;

/** The `exp` claim of a JWT, in milliseconds; the token is the server's, so it is only read. */
function expiryOf(jwt: string): number {
  try {
    const payload = JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString("utf8")) as { exp?: unknown };
    return typeof payload.exp === "number" ? payload.exp * 1000 : 0;
  } catch {
    return 0;
  }
}

/** The message of an error answer (`{code, message, fix?}`), with its fix when it has one, or the status. */
export function answerMessage(answer: ApiAnswer): string {
  const body = answer.body as { message?: unknown; fix?: unknown } | null;
  if (typeof body?.message !== "string") return `HTTP ${answer.status}`;
  return typeof body.fix === "string" && body.fix ? `${body.message.replace(/\.?$/, ".")} ${body.fix}` : body.message;
}

/**
 * The connection of `pier docker-proxy` to the Pier server: verified TLS 1.2+ (with the client
 * certificate when one is given), the caller's credentials as headers, kept-alive connections
 * for ordinary requests and dedicated ones for upgrades.
 *
 * @example
 * const server = new ServerConnection({ url: new URL("https://pier:9443"), credentials: { kind: "api-key", apiKey } });
 * const answer = await server.json("GET", "/api/endpoints/3");
 */
export class ServerConnection {
  readonly url: URL;
  /** The URL's host without IPv6 brackets, and its port: what sockets connect to. */
  readonly #host: string;
  readonly #port: number;
  readonly #options: ServerConnectionOptions;
  readonly #agent: Agent;
  #session: { jwt: string; renewAt: number } | undefined;
  #login: Promise<string> | undefined;

  constructor(options: ServerConnectionOptions) {
    this.url = options.url;
    this.#host = options.url.hostname.replace(/^\[|\]$/g, "");
    this.#port = Number(options.url.port || 443);
    this.#options = options;
    this.#agent = new Agent({ keepAlive: true, ...this.#tlsOptions() });
  }

  #tlsOptions() {
    const { ca, cert, key } = this.#options;
    return { ...tlsProfile, ...(isIP(this.#host) ? {} : { servername: this.#host }), ...(ca ? { ca } : {}), ...(cert && key ? { cert, key } : {}) };
  }

  /** Options for `https.request` to `path` on the server, over the kept-alive connections. */
  requestOptions(method: string, path: string, headers: Record<string, string | number | readonly string[] | undefined>): RequestOptions {
    return { host: this.#host, port: this.#port, method, path, headers: headers as RequestOptions["headers"], agent: this.#agent };
  }

  /** The credential headers for the next request (logging in first when needed). */
  async credentialHeaders(): Promise<Record<string, string>> {
    const credentials = this.#options.credentials;
    if (credentials.kind === "api-key") return { "x-api-key": credentials.apiKey };
    if (!this.#session || Date.now() >= this.#session.renewAt) {
      this.#login ??= this.#logIn(credentials).finally(() => (this.#login = undefined));
      await this.#login;
    }
    return { authorization: `Bearer ${this.#session?.jwt ?? ""}` };
  }

  async #logIn(credentials: Extract<ServerCredentials, { kind: "password" }>): Promise<string> {
    const answer = await this.#send("POST", "/api/auth", {}, JSON.stringify({ Username: credentials.username, Password: credentials.password }));
    const jwt = (answer.body as { jwt?: unknown } | null)?.jwt;
    if (answer.status !== 200 || typeof jwt !== "string") {
      throw new CliError("failed", `The Pier server at ${this.url.origin} refused the login of ${credentials.username}: ${answerMessage(answer)}`);
    }
    const expires = expiryOf(jwt);
    this.#session = { jwt, renewAt: expires > 0 ? Math.max(Date.now() + 60_000, expires - renewBeforeMs) : Date.now() + 60 * 60_000 };
    return jwt;
  }

  /** A JSON request with the credentials; rejects only when the server cannot be reached. */
  async json(method: string, path: string, body?: unknown): Promise<ApiAnswer> {
    return this.#send(method, path, await this.credentialHeaders(), body === undefined ? undefined : JSON.stringify(body));
  }

  #send(method: string, path: string, headers: Record<string, string>, body: string | undefined): Promise<ApiAnswer> {
    return new Promise((resolve, reject) => {
      const req = request(this.requestOptions(method, path, { ...headers, accept: "application/json", ...(body === undefined ? {} : { "content-type": "application/json" }) }), (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => {
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // not JSON: keep the text
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on("error", (error) => reject(this.unreachable(error)));
      });
      req.on("error", (error) => reject(this.unreachable(error)));
      req.end(body);
    });
  }

  /**
   * A dedicated TLS connection to the server, verified as the API's are, for a request the
   * caller writes itself (an upgrade that is then spliced).
   */
  connectRaw(): Promise<TLSSocket> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: this.#host, port: this.#port, ALPNProtocols: ["http/1.1"], ...this.#tlsOptions() });
      socket.once("secureConnect", () => {
        socket.removeAllListeners("error");
        resolve(socket);
      });
      socket.once("error", (error) => reject(this.unreachable(error)));
    });
  }

  /** A connection failure, explained in plain words with what to do (`pier doctor`'s words). */
  unreachable(error: unknown): CliError {
    const failure = explainTlsFailure(error, { side: "client", haveClientCertificate: this.#options.cert !== undefined, servername: this.url.hostname, flags });
    return new CliError("failed", `Cannot reach the Pier server at ${this.url.origin}: ${failure.cause} — ${failure.fix}`, { cause: error });
  }

  /** Closes the kept-alive connections. */
  close(): void {
    this.#agent.destroy();
  }
}
