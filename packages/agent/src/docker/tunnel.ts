import { constants, type ClientHttp2Session, type ClientHttp2Stream } from "node:http2";
import type { Socket } from "node:net";
import { edgeHeaders, edgePaths, isTunnelId } from "@pier/protocol/wire";
import { AgentError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { connectDocker, dockerUnavailable, type DockerEndpoint } from "./docker-client.ts";
import type { DockerStatus } from "./docker-status.ts";

/**
 * Request header of a tunnel stream the agent opens only to refuse it (Docker unreachable, too
 * many tunnels): why, in plain ASCII. Such a stream carries no body.
 */
export const tunnelErrorHeader = edgeHeaders.tunnelError;

/** Tunnels one agent keeps open at once; the server's requests beyond it are refused. */
export const maxTunnels = 64;

/** After Docker closes a tunnel's connection, how long the server has to end its side. */
const closeGraceMs = 10_000;

/** How a tunnel went. */
export interface TunnelOutcome {
  /** Bytes Docker sent to the server (request body). */
  readonly bytesToServer: number;
  /** Bytes the server sent to Docker (response body). */
  readonly bytesToDocker: number;
  /**
   * Why it ended abnormally; undefined for a clean close. An `AgentError("docker_unavailable")`
   * means Docker could not be reached and the tunnel was refused.
   */
  readonly error: Error | undefined;
}

/**
 * The longest refusal reason sent, in characters: far above any message the agent writes (the
 * longest, Docker's socket missing, is about 310 with a long path), far below the server's 16 KiB
 * header list. It was 300 once, and cut that message mid-word (issue 21).
 */
export const maxTunnelErrorChars = 2048;

/** Header values must be visible ASCII. */
function headerSafe(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, "?").slice(0, maxTunnelErrorChars);
}

/**
 * Opens tunnel `id`'s stream with `pier-tunnel-error: reason` and no body, so the server can
 * fail the waiting connection at once with the agent's reason instead of timing out.
 */
function refuseTunnel(session: ClientHttp2Session, id: string, reason: string): void {
  try {
    const stream = session.request({ ":method": "POST", ":path": edgePaths.tunnel + id, [tunnelErrorHeader]: headerSafe(reason) }, { endStream: true });
    stream.on("error", () => undefined);
    stream.setTimeout(closeGraceMs, () => stream.close(constants.NGHTTP2_CANCEL));
    stream.resume();
  } catch {
    // the session is closing: there is no one left to tell
  }
}

/**
 * Connects tunnel `id`: a raw connection to the Docker Engine (`DOCKER_HOST`, nothing else)
 * piped both ways through a `POST /api/edge/v1/tunnel/<id>` stream on `session`: Docker's bytes
 * go up the request body, the response body's bytes go to Docker. Either side ending
 * half-closes the other (END_STREAM ↔ FIN); an error or reset on either side destroys both.
 * Resolves when both are closed; never rejects.
 *
 * @example
 * // on a `{type: "tunnel", id}` frame:
 * const outcome = await openTunnel(session.http2, frame.id, docker);
 */
export async function openTunnel(session: ClientHttp2Session, id: string, docker: DockerEndpoint): Promise<TunnelOutcome> {
  if (!isTunnelId(id)) return { bytesToServer: 0, bytesToDocker: 0, error: new Error(`invalid tunnel id ${JSON.stringify(id)}`) };
  let socket: Socket;
  try {
    socket = await connectDocker(docker);
  } catch (error) {
    const failure = dockerUnavailable(docker, error);
    refuseTunnel(session, id, failure.message);
    return { bytesToServer: 0, bytesToDocker: 0, error: failure };
  }
  let stream: ClientHttp2Stream;
  try {
    stream = session.request({ ":method": "POST", ":path": edgePaths.tunnel + id, "content-type": "application/octet-stream" }, { endStream: false });
  } catch (error) {
    socket.destroy();
    return { bytesToServer: 0, bytesToDocker: 0, error: error instanceof Error ? error : new Error(String(error)) };
  }
  return pipeTunnel(stream, socket);
}

function pipeTunnel(stream: ClientHttp2Stream, socket: Socket): Promise<TunnelOutcome> {
  return new Promise<TunnelOutcome>((resolve) => {
    let error: Error | undefined;
    let grace: NodeJS.Timeout | undefined;
    let open = 2;
    const closed = () => {
      if (--open > 0) return;
      clearTimeout(grace);
      resolve({ bytesToServer: socket.bytesRead, bytesToDocker: socket.bytesWritten, error });
    };
    const cancel = (reason: Error) => {
      error ??= reason;
      if (!stream.closed) stream.close(constants.NGHTTP2_CANCEL);
      // A client stream closes only once its response body is read: drop what is left.
      stream.resume();
    };

    // Docker → server; Docker's FIN ends the request body.
    socket.pipe(stream);
    stream.on("response", (headers) => {
      const status = Number(headers[":status"]);
      if (status !== 200) return cancel(new Error(`the server answered HTTP ${status} to the tunnel stream`));
      // server → Docker; the end of the response body half-closes Docker's socket, Docker then
      // finishes and closes, and that ends the request body.
      stream.pipe(socket);
    });

    socket.on("error", (socketError) => (error ??= socketError));
    socket.on("close", (hadError) => {
      if (hadError) cancel(error ?? new Error("the Docker connection failed"));
      // Docker is done; the server ends its side when it sees the request body end. If it does
      // not, cancel rather than keep a stream that leads nowhere.
      else if (!stream.closed) grace = setTimeout(() => cancel(new Error(`the server did not end the tunnel stream within ${closeGraceMs / 1000} s of Docker closing`)), closeGraceMs);
      closed();
    });
    stream.on("error", (streamError: Error) => (error ??= streamError));
    stream.on("close", () => {
      clearTimeout(grace);
      if (stream.rstCode !== undefined && stream.rstCode !== constants.NGHTTP2_NO_ERROR) error ??= new Error(`the tunnel stream was reset (HTTP/2 error code ${stream.rstCode})`);
      socket.destroy();
      closed();
    });
  });
}

/**
 * The agent's tunnels: opens one per `tunnel {id}` frame, at most `max` at once (more are
 * refused with a log line), and reports Docker being unreachable through `DockerStatus`.
 */
export class DockerTunnels {
  readonly #docker: DockerEndpoint;
  readonly #log: Logger;
  readonly #status: DockerStatus;
  readonly #max: number;
  /** Tunnels open now; each decrements it when it closes. */
  #active = 0;

  constructor(docker: DockerEndpoint, log: Logger, status: DockerStatus, max = maxTunnels) {
    this.#docker = docker;
    this.#log = log;
    this.#status = status;
    this.#max = max;
  }

  /** Tunnels open now. */
  get active(): number {
    return this.#active;
  }

  /**
   * Opens tunnel `id` on `session` and resolves when it closes; never rejects.
   *
   * @example
   * if (frame.type === "tunnel") void tunnels.open(session.http2, frame.id);
   */
  async open(session: ClientHttp2Session, id: string): Promise<void> {
    if (this.#active >= this.#max) {
      this.#log.log("warn", `refused tunnel ${id}: ${this.#max} tunnels are open already, the most one agent keeps`);
      refuseTunnel(session, id, `too many tunnels: ${this.#max} are open on this device already`);
      return;
    }
    this.#active++;
    try {
      this.#log.log("debug", `tunnel ${id}: opening`);
      const outcome = await openTunnel(session, id, this.#docker);
      if (outcome.error instanceof AgentError && outcome.error.code === "docker_unavailable") {
        this.#status.failed(outcome.error, "The server cannot reach Docker on this device until it answers.");
        return;
      }
      this.#status.answered();
      const bytes = `${outcome.bytesToServer} bytes from Docker, ${outcome.bytesToDocker} to it`;
      this.#log.log("debug", `tunnel ${id}: closed (${bytes})${outcome.error ? `: ${outcome.error.message}` : ""}`);
    } finally {
      this.#active--;
    }
  }
}
