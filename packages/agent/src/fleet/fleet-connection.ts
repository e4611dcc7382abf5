import { request as httpsRequest } from "node:https";
import type { ClientHttp2Session } from "node:http2";
import type { Readable } from "node:stream";
import type { TLSSocket } from "node:tls";

/** An answer of the server to a fleet request. */
export interface FleetAnswer {
  readonly status: number;
  readonly body: string;
}

/**
 * How the fleet sync reaches the server: on the session's HTTP/2 connection, or (polling) one
 * HTTP/1.1 request per call on a new connection to the address the agent polls, as its renewals are.
 */
export interface FleetConnection {
  /** Sends one request; rejects on a transport failure or an answer over `maxAnswerBytes`. */
  request(method: "GET" | "POST", path: string, body: string | undefined, options: { readonly signal: AbortSignal; readonly maxAnswerBytes: number }): Promise<FleetAnswer>;
}

/** Reads an answer body of at most `maxBytes`, failing (and destroying the stream) past it. */
function collect(stream: Readable, maxBytes: number, resolve: (body: string) => void, reject: (error: Error) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  stream.on("data", (chunk: Buffer) => {
    size += chunk.length;
    if (size > maxBytes) {
      stream.destroy();
      reject(new Error(`the server's answer exceeds ${maxBytes} bytes`));
      return;
    }
    chunks.push(chunk);
  });
  stream.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
  stream.on("error", reject);
}

/**
 * Requests on a session's HTTP/2 connection, which names the device to the server.
 *
 * @example
 * const answer = await sessionConnection(session.http2).request("GET", edgePaths.desiredState, undefined, { signal, maxAnswerBytes: 1 << 20 });
 */
export function sessionConnection(http2: ClientHttp2Session): FleetConnection {
  return {
    request: (method, path, body, { signal, maxAnswerBytes }) =>
      new Promise((resolve, reject) => {
        let stream: ReturnType<ClientHttp2Session["request"]>;
        try {
          stream = http2.request({ ":method": method, ":path": path, ...(body === undefined ? {} : { "content-type": "application/json" }) }, { signal, endStream: body === undefined });
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        stream.on("response", (headers) => collect(stream, maxAnswerBytes, (text) => resolve({ status: Number(headers[":status"]), body: text }), reject));
        stream.on("error", reject);
        stream.on("close", () => reject(new Error("the stream closed without an answer")));
        if (body !== undefined) stream.end(body);
      }),
  };
}

/**
 * Requests of a polling agent: each on a new verified TLS connection from `dial` (presenting
 * the device's certificate when it has one), naming the device with `headers` (`pier-edge-id`,
 * and `pier-device-token` without a certificate).
 *
 * @example
 * const connection = pollingConnection((signal) => dialServer(config, target, "http/1.1", signal, identity), target.host, { "pier-edge-id": edgeId });
 */
export function pollingConnection(dial: (signal: AbortSignal) => Promise<TLSSocket>, host: string, headers: Readonly<Record<string, string>>): FleetConnection {
  return {
    async request(method, path, body, { signal, maxAnswerBytes }) {
      const socket = await dial(signal);
      return new Promise((resolve, reject) => {
        const request = httpsRequest(
          {
            createConnection: () => socket,
            host,
            method,
            path,
            signal,
            headers: { ...headers, ...(body === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(body) }) },
          },
          (response) =>
            collect(
              response,
              maxAnswerBytes,
              (text) => {
                socket.end();
                resolve({ status: response.statusCode ?? 0, body: text });
              },
              (error) => {
                socket.destroy();
                reject(error instanceof Error ? error : new Error(String(error)));
              },
            ),
        );
        request.on("error", (error) => {
          socket.destroy();
          reject(error instanceof Error ? error : new Error(String(error)));
        });
        request.end(body);
      });
    },
  };
}
