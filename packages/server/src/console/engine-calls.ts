import http from "node:http";
import type { Duplex } from "node:stream";
import type { TunnelOpener } from "../cluster/cluster-tunnels.ts";
import { ServerError } from "../errors.ts";

/** The largest answer the console reads from a Docker Engine call (exec create/inspect are < 4 KiB). */
const maxAnswerBytes = 256 * 1024;

/** A Docker Engine answer: status and parsed JSON body (`undefined` when empty or not JSON). */
export interface EngineAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** Docker's own error text (`{"message": "…"}`), whole, or the status line. */
export function engineMessage(answer: EngineAnswer): string {
  const message = (answer.body as { message?: unknown } | undefined)?.message;
  return typeof message === "string" && message !== "" ? message : `HTTP ${answer.status}`;
}

/**
 * Calls the Docker Engine API of an environment through one tunnel: HTTP/1.1, a JSON body at
 * most, the answer read whole (`maxAnswerBytes`). Rejects with `unavailable` when no tunnel
 * opens and `bad_gateway` when the engine does not answer.
 *
 * @example
 * const answer = await callEngine(tunnels, 3, "POST", "/containers/web/exec", { Cmd: ["/bin/sh"] });
 */
export async function callEngine(tunnels: TunnelOpener, environmentId: number, method: string, path: string, body?: unknown): Promise<EngineAnswer> {
  const tunnel = await tunnels.open(environmentId);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers: http.OutgoingHttpHeaders = { host: "docker", ...(payload ? { "content-type": "application/json", "content-length": payload.length } : { "content-length": 0 }) };
  try {
    return await new Promise<EngineAnswer>((resolve, reject) => {
      const request = http.request({ createConnection: () => tunnel, method, path, headers }, (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxAnswerBytes) response.destroy(new Error(`answer larger than ${maxAnswerBytes} bytes`));
          else chunks.push(chunk);
        });
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown;
          try {
            parsed = text === "" ? undefined : JSON.parse(text);
          } catch {
            parsed = { message: text.trim() };
          }
          resolve({ status: response.statusCode ?? 502, body: parsed });
        });
        response.on("error", (error) => reject(new ServerError("bad_gateway", `The device's Docker Engine stopped in the middle of its answer to ${method} ${path}: ${error.message}.`)));
      });
      request.on("error", (error) => reject(error instanceof ServerError ? error : new ServerError("bad_gateway", `The device's Docker Engine did not answer ${method} ${path}: ${error.message}.`)));
      request.end(payload);
    });
  } finally {
    tunnel.destroy();
  }
}

/**
 * Starts exec `execId` attached (`POST /exec/{id}/start`, `Connection: Upgrade, Upgrade: tcp`)
 * through a tunnel and resolves with the hijacked stream: a TTY exec's raw bytes both ways.
 * Docker answers `101 UPGRADED`; anything else rejects with Docker's message.
 */
export async function startExecStream(tunnels: TunnelOpener, environmentId: number, execId: string, signal: AbortSignal): Promise<Duplex> {
  const tunnel = await tunnels.open(environmentId, { signal });
  const payload = Buffer.from(JSON.stringify({ Detach: false, Tty: true }));
  return new Promise<Duplex>((resolve, reject) => {
    const request = http.request({
      createConnection: () => tunnel,
      method: "POST",
      path: `/exec/${encodeURIComponent(execId)}/start`,
      headers: { host: "docker", connection: "Upgrade", upgrade: "tcp", "content-type": "application/json", "content-length": payload.length },
    });
    request.on("upgrade", (_response, socket, head) => {
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    request.on("response", (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.length < 64 && chunks.push(chunk));
      response.on("end", () => {
        tunnel.destroy();
        const text = Buffer.concat(chunks).toString("utf8");
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = { message: text.trim() };
        }
        reject(new ServerError("bad_gateway", `The device's Docker Engine refused to start the shell: ${engineMessage({ status: response.statusCode ?? 502, body })}`));
      });
    });
    request.on("error", (error) => {
      tunnel.destroy();
      reject(error instanceof ServerError ? error : new ServerError("bad_gateway", `The device's Docker Engine did not start the shell: ${error.message}.`));
    });
    request.end(payload);
  });
}
