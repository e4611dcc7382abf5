import https from "node:https";

/** An answer of the API, its body parsed when it is JSON. */
export interface ApiAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  readonly json: Record<string, unknown>;
}

/** Calls the API of a server on 127.0.0.1 over HTTPS (no SNI), with a JSON body when given. */
export interface ApiClient {
  /** `localAddress`: the client's source address (any 127.0.0.0/8 address works on Linux loopback). */
  call(method: string, path: string, options?: { body?: unknown; token?: string | null; headers?: Record<string, string>; localAddress?: string }): Promise<ApiAnswer>;
  /** Logs in and remembers the JWT for later calls; resolves with it. */
  login(username: string, password: string): Promise<string>;
}

/** A client for the HTTPS listener at `port`, trusting `ca`. */
export function apiClient(port: () => number, ca: string): ApiClient {
  let jwt: string | null = null;
  const call: ApiClient["call"] = (method, path, options = {}) =>
    new Promise((resolve, reject) => {
      const token = options.token === undefined ? jwt : options.token;
      // A string goes as it is (a raw or deliberately malformed body); anything else as JSON.
      const body = options.body === undefined ? undefined : typeof options.body === "string" ? options.body : JSON.stringify(options.body);
      const headers = { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { "content-type": "application/json" }), ...options.headers };
      const source = options.localAddress === undefined ? {} : { localAddress: options.localAddress };
      const request = https.request({ host: "127.0.0.1", port: port(), method, path, ca, servername: "", agent: false, headers, ...source }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => {
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      });
      request.on("error", reject);
      request.end(body);
    });
  return {
    call,
    async login(username, password) {
      const answer = await call("POST", "/api/auth", { body: { Username: username, Password: password }, token: null });
      if (answer.status !== 200) throw new Error(`login failed: ${answer.status} ${answer.text}`);
      jwt = String(answer.json["jwt"]);
      return jwt;
    },
  };
}
