import { readFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";

/**
 * The one-time setup token a server without an administrator wrote to `DATA/admin-setup-token`,
 * read as the operator would (`cat`).
 */
export function readSetupToken(dataDir: string): string {
  return readFileSync(join(dataDir, "admin-setup-token"), "utf8").trim();
}

/** The answer to an API call. */
export interface ApiResponse<T = unknown> {
  readonly status: number;
  readonly body: T;
}

/**
 * An environment as `GET /api/endpoints` lists it: the Portainer fields tests read, and Pier's own
 * block, typed by each test as far as it reads it.
 *
 * @example
 * type Endpoint = EndpointView<{ Connected: boolean }>;
 */
export interface EndpointView<Pier = unknown> {
  Id: number;
  EdgeID: string;
  UserTrusted: boolean;
  Heartbeat: boolean;
  LastCheckInDate: number;
  TagIds: number[];
  Pier: Pier;
}

/** TLS options for talking to the server: the CA to trust and, in blog mode, a client certificate. */
export interface ApiTls {
  readonly ca: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  /** Host name to verify (SNI); defaults to the URL's host. */
  readonly servername?: string;
}

/** A small client for Pier's HTTP API, over verified TLS, as a script would use it. */
export class PierApi {
  readonly #baseUrl: URL;
  readonly #tls: ApiTls;
  #jwt: string | undefined;

  constructor(baseUrl: string, tls: ApiTls) {
    this.#baseUrl = new URL(baseUrl);
    this.#tls = tls;
  }

  /**
   * Calls the API; JSON in, JSON (or text) out. A request sent on a kept-alive connection the
   * server closed at that moment (ECONNRESET on a reused socket, as Node's documentation
   * describes) is sent again once, on a new connection: the server never saw it.
   */
  async call<T = unknown>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse<T>> {
    try {
      return await this.#send<T>(method, path, body, headers);
    } catch (error) {
      if ((error as { reusedSocket?: boolean }).reusedSocket !== true) throw error;
      return this.#send<T>(method, path, body, headers);
    }
  }

  #send<T>(method: string, path: string, body: unknown, headers: Record<string, string>): Promise<ApiResponse<T>> {
    const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.#baseUrl.hostname,
          port: this.#baseUrl.port,
          path,
          method,
          ca: this.#tls.ca,
          ...(this.#tls.servername ? { servername: this.#tls.servername } : {}),
          ...(this.#tls.cert ? { cert: this.#tls.cert, key: this.#tls.key } : {}),
          headers: {
            ...(payload === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(payload) }),
            ...(this.#jwt ? { authorization: `Bearer ${this.#jwt}` } : {}),
            ...headers,
          },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (text += chunk));
          res.on("end", () => {
            let parsed: unknown = text;
            try {
              parsed = text === "" ? undefined : JSON.parse(text);
            } catch {
              // keep the text
            }
            resolve({ status: res.statusCode ?? 0, body: parsed as T });
          });
        },
      );
      req.on("error", (error: NodeJS.ErrnoException) => reject(req.reusedSocket && error.code === "ECONNRESET" ? Object.assign(error, { reusedSocket: true }) : error));
      req.end(payload);
    });
  }

  /** `POST /api/users/admin/init` with the setup token in `X-Pier-Setup-Token`, as the README shows it. */
  initAdmin(username: string, password: string, setupToken: string): Promise<ApiResponse<{ Id: number; Username: string; message?: string }>> {
    return this.call("POST", "/api/users/admin/init", { Username: username, Password: password }, { "X-Pier-Setup-Token": setupToken });
  }

  /**
   * The environments `GET /api/endpoints` lists, with `query` as its parameters (e.g.
   * `{ waitingRoom: true }`); throws unless it answers 200.
   */
  async endpoints<E extends EndpointView = EndpointView>(query: Record<string, string | number | boolean> = {}): Promise<E[]> {
    const search = new URLSearchParams(Object.entries(query).map(([name, value]): [string, string] => [name, String(value)])).toString();
    const res = await this.call<E[]>("GET", `/api/endpoints${search === "" ? "" : `?${search}`}`);
    if (res.status !== 200) throw new Error(`GET /api/endpoints answered ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body;
  }

  /** The environment of the device `edgeId` in `GET /api/endpoints`; undefined when there is none. */
  async endpoint<E extends EndpointView = EndpointView>(edgeId: string): Promise<E | undefined> {
    return (await this.endpoints<E>()).find((e) => e.EdgeID === edgeId);
  }

  /** A client for another server of the same Pier (a replica) with the same trust and session token. */
  at(baseUrl: string): PierApi {
    const other = new PierApi(baseUrl, this.#tls);
    other.#jwt = this.#jwt;
    return other;
  }

  /** The session token kept by `login` (undefined before). */
  get jwt(): string | undefined {
    return this.#jwt;
  }

  /** Logs in and keeps the session token for later calls. */
  async login(username: string, password: string): Promise<void> {
    const res = await this.call<{ jwt: string }>("POST", "/api/auth", { Username: username, Password: password });
    if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`);
    this.#jwt = res.body.jwt;
  }
}
