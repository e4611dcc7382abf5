import { request } from "node:https";

/** One call to the server's API over verified TLS on 127.0.0.1. */
export interface HttpsJsonRequest {
  readonly port: number;
  /** The built-in CA of the server (`DATA/ca/ca.crt`), which signs its UI/API certificate. */
  readonly ca: Buffer;
  readonly method: string;
  readonly path: string;
  readonly body?: unknown;
  readonly jwt?: string;
}

/**
 * Calls the API and parses the JSON answer. Connects by IP, so no SNI is sent and the request
 * reaches the UI/API server (the mTLS server answers only the names of the mTLS certificate).
 */
export function httpsJson(call: HttpsJsonRequest): Promise<{ status: number; body: unknown }> {
  const payload = call.body === undefined ? undefined : JSON.stringify(call.body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: call.port,
        method: call.method,
        path: call.path,
        ca: call.ca,
        timeout: 10_000,
        agent: false,
        headers: {
          ...(payload === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(payload) }),
          ...(call.jwt ? { authorization: `Bearer ${call.jwt}` } : {}),
        },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => {
          let body: unknown = text;
          try {
            body = text === "" ? undefined : JSON.parse(text);
          } catch {
            // not JSON: keep the text for the error message
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${call.method} ${call.path} timed out`)));
    req.on("error", reject);
    req.end(payload);
  });
}

/**
 * Logs in as admin and sets the global check-in interval (and trust on first connect, so the
 * fleet is associated rather than parked in the waiting room). Must run before agents connect:
 * the welcome carries the interval.
 */
export async function configureFleetSettings(options: { port: number; ca: Buffer; password: string; intervalSeconds: number }): Promise<void> {
  const { port, ca } = options;
  const login = await httpsJson({ port, ca, method: "POST", path: "/api/auth", body: { Username: "admin", Password: options.password } });
  const jwt = (login.body as { jwt?: unknown } | undefined)?.jwt;
  if (login.status !== 200 || typeof jwt !== "string") throw new Error(`POST /api/auth answered ${login.status}: ${JSON.stringify(login.body)}`);
  const settings = await httpsJson({ port, ca, jwt, method: "PUT", path: "/api/settings", body: { EdgeAgentCheckinInterval: options.intervalSeconds, TrustOnFirstConnect: true } });
  if (settings.status !== 200) throw new Error(`PUT /api/settings answered ${settings.status}: ${JSON.stringify(settings.body)}`);
  const applied = (settings.body as { EdgeAgentCheckinInterval?: unknown } | undefined)?.EdgeAgentCheckinInterval;
  if (applied !== options.intervalSeconds) throw new Error(`PUT /api/settings kept EdgeAgentCheckinInterval at ${String(applied)}, not ${options.intervalSeconds}.`);
}
