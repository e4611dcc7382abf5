import { constants, type ClientHttp2Session, type ClientHttp2Stream } from "node:http2";
import { edgePaths } from "@pier/protocol/wire";
import { backoffDelay, sleep } from "../backoff.ts";
import { AgentError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { dockerUnavailable, type DockerEndpoint } from "./docker-client.ts";
import type { DockerStatus } from "./docker-status.ts";
import { collectSnapshot, encodeSnapshot, watchDockerEvents } from "./snapshot.ts";

const postTimeoutMs = 30_000;

/** How a snapshot post went: delivered, worth retrying (Docker, network, 5xx), or not (4xx, session gone). */
type Outcome = "sent" | "retry" | "drop";

/**
 * A "something changed" flag a loop can wait on: changes made while the loop is busy coalesce
 * into one, so a burst of Docker events costs one snapshot, not one each.
 */
class ChangeFlag {
  #set = false;
  #wake: (() => void) | undefined;

  set(): void {
    this.#set = true;
    this.#wake?.();
  }

  /** Resolves `true` once set (and clears it), `false` when `signal` aborts first. */
  async next(signal: AbortSignal): Promise<boolean> {
    while (!this.#set && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener("abort", done);
          this.#wake = undefined;
          resolve();
        };
        this.#wake = done;
        signal.addEventListener("abort", done, { once: true });
      });
    }
    if (signal.aborted) return false;
    this.#set = false;
    return true;
  }
}

/**
 * Keeps the server's copy of this device's Docker snapshot current during an edge session: posts
 * `POST /api/edge/v1/snapshot` on the session's own HTTP/2 connection when Docker's event stream
 * connects (at start, and after Docker restarts) and after each debounced Docker event. Docker
 * being unreachable is logged through `DockerStatus` and retried; it never ends the session.
 */
export class SnapshotReporter {
  readonly #docker: DockerEndpoint;
  readonly #log: Logger;
  readonly #status: DockerStatus;
  /** Last problem posting a snapshot (e.g. "http_404"), logged once; undefined after a success. */
  #postProblem: string | undefined;
  /** Whether trimming an oversized snapshot was logged at warn level already. */
  #trimLogged = false;

  constructor(docker: DockerEndpoint, log: Logger, status: DockerStatus) {
    this.#docker = docker;
    this.#log = log;
    this.#status = status;
  }

  /**
   * Reports over `session` until `signal` aborts (the session's end). Never rejects.
   *
   * @example
   * const activity = new AbortController();
   * session.signal.addEventListener("abort", () => activity.abort());
   * await reporter.run(session.http2, activity.signal);
   */
  async run(session: ClientHttp2Session, signal: AbortSignal): Promise<void> {
    const wanted = new ChangeFlag();
    const consequence = "The server shows this device without its Docker state until Docker answers.";
    // Subscribing first and sending on `onConnected` means no change falls between the snapshot
    // and the subscription.
    const watching = watchDockerEvents(this.#docker, signal, {
      onConnected: () => wanted.set(),
      onChange: () => wanted.set(),
      onError: (error) => this.#status.failed(error, consequence),
    });
    for (let attempt = 0; await wanted.next(signal); ) {
      const outcome = await this.#send(session, signal, consequence);
      if (outcome !== "retry" || signal.aborted) {
        attempt = 0;
        continue;
      }
      await sleep(backoffDelay(attempt++), signal);
      wanted.set();
    }
    await watching;
  }

  async #send(session: ClientHttp2Session, signal: AbortSignal, consequence: string): Promise<Outcome> {
    let json: string;
    try {
      const encoded = encodeSnapshot(await collectSnapshot(this.#docker, signal));
      json = encoded.json;
      this.#status.answered();
      if (encoded.trimmed.length > 0) {
        this.#log.log(this.#trimLogged ? "debug" : "warn", `the Docker snapshot is too large for the server; sending ${encoded.trimmed.join(", ")}`);
        this.#trimLogged = true;
      }
    } catch (error) {
      if (signal.aborted) return "drop";
      this.#status.failed(error instanceof AgentError ? error : dockerUnavailable(this.#docker, error), consequence);
      return "retry";
    }
    const outcome = await postSnapshot(session, json, signal);
    if (signal.aborted) return "drop";
    if (outcome.status === 200 || outcome.status === 204) {
      if (this.#postProblem !== undefined) this.#log.log("info", "the server accepts Docker snapshots again");
      this.#postProblem = undefined;
      this.#log.log("debug", `Docker snapshot sent (${Buffer.byteLength(json)} bytes)`);
      return "sent";
    }
    const problem = outcome.status === undefined ? "no_answer" : `http_${outcome.status}`;
    const detail = outcome.status === undefined ? `it was not answered (${outcome.error ?? "stream closed"})` : `the server answered HTTP ${outcome.status}${outcome.body ? `: ${outcome.body}` : ""}`;
    this.#log.log(problem === this.#postProblem ? "debug" : "warn", `could not send the Docker snapshot: ${detail}`);
    this.#postProblem = problem;
    // The session closing under the post is not worth a retry: the next session sends anew.
    if (session.closed || session.destroyed) return "drop";
    return outcome.status === undefined || outcome.status >= 500 ? "retry" : "drop";
  }
}

/** What the server answered to a snapshot post; `status` undefined when it did not answer. */
interface PostResult {
  readonly status: number | undefined;
  readonly body: string;
  readonly error: string | undefined;
}

/** Posts one snapshot body as a new stream of `session`; never rejects. */
function postSnapshot(session: ClientHttp2Session, json: string, signal: AbortSignal): Promise<PostResult> {
  return new Promise<PostResult>((resolve) => {
    let status: number | undefined;
    let body = "";
    let failure: string | undefined;
    let stream: ClientHttp2Stream;
    try {
      stream = session.request({ ":method": "POST", ":path": edgePaths.snapshot, "content-type": "application/json", "content-length": Buffer.byteLength(json) });
    } catch (error) {
      // the session is closing (GOAWAY, destroyed)
      resolve({ status: undefined, body: "", error: error instanceof Error ? error.message : String(error) });
      return;
    }
    const cancel = () => stream.close(constants.NGHTTP2_CANCEL);
    signal.addEventListener("abort", cancel, { once: true });
    stream.setTimeout(postTimeoutMs, () => {
      failure = `no answer within ${postTimeoutMs / 1000} s`;
      cancel();
    });
    stream.on("response", (headers) => {
      status = Number(headers[":status"]);
    });
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      if (body.length < 500) body += chunk;
    });
    stream.on("error", (error: Error) => (failure ??= error.message));
    stream.on("close", () => {
      signal.removeEventListener("abort", cancel);
      resolve({ status, body: body.trim().slice(0, 300), error: failure });
    });
    stream.end(json);
  });
}
