import { request } from "node:https";

/** One HTTPS answer as a probe sees it: status (0 when none came), body, headers, time taken. */
export interface TimedAnswer {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly ms: number;
  /** Why no answer came (connection refused, reset, timed out), when `status` is 0. */
  readonly error?: string;
}

/** What `timedRequest` sends. */
export interface TimedRequest {
  readonly url: string;
  readonly method: string;
  readonly path: string;
  readonly ca: Buffer;
  readonly jwt?: string | undefined;
  readonly body?: unknown;
  /** Gives up after this long and answers status 0 (default 15 s): a hang is a finding, not a stuck scenario. */
  readonly timeoutMs?: number;
}

/**
 * One API call with its headers and duration, never rejecting: what the chaos scenarios use to
 * see `Retry-After` and measure the slowest answer during a fault. A fresh connection per call
 * (no keep-alive), so a call measures the server, not a pooled socket the fault killed.
 *
 * @example
 * const answer = await timedRequest({ url: replicas.url, method: "POST", path: "/api/tags", ca, jwt, body: { Name: "x" } });
 */
export function timedRequest(call: TimedRequest): Promise<TimedAnswer> {
  const base = new URL(call.url);
  const payload = call.body === undefined ? undefined : JSON.stringify(call.body);
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  return new Promise((resolve) => {
    const req = request(
      {
        host: base.hostname,
        port: base.port,
        path: call.path,
        method: call.method,
        ca: call.ca,
        agent: false,
        timeout: call.timeoutMs ?? 15_000,
        headers: {
          ...(payload === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(payload) }),
          ...(call.jwt === undefined ? {} : { authorization: `Bearer ${call.jwt}` }),
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
            // keep the text
          }
          resolve({ status: res.statusCode ?? 0, body, headers: res.headers, ms: elapsed() });
        });
        res.on("error", (error) => resolve({ status: 0, body: undefined, headers: {}, ms: elapsed(), error: error.message }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${call.timeoutMs ?? 15_000} ms`)));
    req.on("error", (error) => resolve({ status: 0, body: undefined, headers: {}, ms: elapsed(), error: error.message }));
    req.end(payload);
  });
}
