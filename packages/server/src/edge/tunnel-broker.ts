import { edgeHeaders } from "@pier/protocol";
import { randomBytes } from "node:crypto";
import { constants, type Http2ServerRequest, type Http2ServerResponse } from "node:http2";
import { Duplex } from "node:stream";
import type { TunnelRequest } from "@pier/protocol";
import { ServerError } from "../errors.ts";

/** What the broker needs from the edge side. */
export interface TunnelBrokerOptions {
  /** Pushes a frame to the environment's open session; `false` when it has none. */
  readonly push: (environmentId: number, message: TunnelRequest) => boolean;
  /** Told when a wait ends: the seconds it took when the tunnel opened, `undefined` when it failed (metrics). */
  readonly onSettled?: (seconds: number | undefined) => void;
}

/** How to wait for a tunnel. */
export interface OpenTunnelOptions {
  /** How long the device has to open the stream (default 5000 ms). */
  readonly timeoutMs?: number;
  /** Gives up waiting (the caller went away); the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

interface PendingTunnel {
  readonly environmentId: number;
  settle(outcome: { stream: TunnelStream } | { error: Error }): void;
}

/** Tunnel ids: 16 random bytes, 22 base64url characters (`tunnelRequestSchema` allows 8 to 64). */
const tunnelIdPattern = /^[A-Za-z0-9_-]{8,64}$/;

/**
 * One tunnel stream as a byte pipe: reading yields the device's request body (bytes from its
 * Docker Engine), writing goes to the response body (bytes to the Docker Engine).
 *
 * - `end()` ends the response body (HTTP/2 END_STREAM); the agent then half-closes its Docker
 *   connection. The readable side ends when the agent ends its request body.
 * - `destroy()` without an error ends the response body and, if the device is still sending,
 *   resets the stream with NO_ERROR once what was written has gone out; `destroy(error)` resets
 *   it with CANCEL at once. Either way the agent closes its Docker connection.
 * - A stream the device resets, or a connection that drops, destroys this pipe with an
 *   `unavailable` error.
 */
class TunnelStream extends Duplex {
  readonly #req: Http2ServerRequest;
  readonly #res: Http2ServerResponse;
  #deviceEnded = false;

  constructor(req: Http2ServerRequest, res: Http2ServerResponse) {
    super({ allowHalfOpen: true });
    this.#req = req;
    this.#res = res;
    // A device that resets its stream must never crash the server: the error is still emitted
    // to the consumer's listeners, but one without a listener is not fatal.
    this.on("error", () => undefined);
    req.on("data", (chunk: Buffer) => {
      if (!this.push(chunk)) req.pause();
    });
    req.on("end", () => {
      this.#deviceEnded = true;
      this.push(null);
    });
    res.stream.once("close", () => {
      const code = res.stream.rstCode ?? constants.NGHTTP2_NO_ERROR;
      if (this.destroyed || (this.#deviceEnded && code === constants.NGHTTP2_NO_ERROR)) return;
      this.destroy(
        new ServerError(
          "unavailable",
          `The tunnel to the device closed before it was done (HTTP/2 code ${code}): the device's session ended — its link dropped, its agent stopped or restarted, or the server gave up on a silent session.`,
          { fix: "Retry once the device is online again (its heartbeat green); before repeating a request that changes something, check whether it was applied." },
        ),
      );
    });
  }

  override _read(): void {
    this.#req.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#res.stream.closed) {
      callback(new ServerError("unavailable", "The tunnel to the device is closed."));
      return;
    }
    // The HTTP/2 stream's flow control window is the device's pace: wait for it to open.
    if (this.#res.write(chunk)) callback();
    else {
      const settle = () => {
        this.#res.stream.off("close", settle);
        this.#res.off("drain", settle);
        callback(this.#res.stream.closed ? new ServerError("unavailable", "The tunnel to the device closed while writing.") : null);
      };
      this.#res.once("drain", settle);
      this.#res.stream.once("close", settle);
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.#res.stream.closed) callback();
    else this.#res.end(() => callback());
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const stream = this.#res.stream;
    if (!stream.closed && !stream.destroyed) {
      if (error) stream.close(constants.NGHTTP2_CANCEL);
      else {
        if (!this.#res.writableEnded) this.#res.end();
        // Waits for the response body to go out, then tells the device to stop sending.
        if (!this.#deviceEnded) stream.close(constants.NGHTTP2_NO_ERROR);
      }
    }
    callback(error);
  }
}

/**
 * Brokers tunnels to devices' Docker Engines (docs/protocol.md, "Docker snapshot and tunnel"):
 * `open` pushes `tunnel {id}` on the device's session and waits; the agent answers by opening
 * `POST /api/edge/v1/tunnel/<id>` on the same HTTP/2 connection, which the edge routes hand to
 * `accept`. Ids are single-use and expire with the wait.
 *
 * @example
 * const broker = new TunnelBroker({ push: (id, message) => edge.push(id, message) });
 * const tunnel = await broker.open(environmentId);
 * const request = http.request({ createConnection: () => tunnel, path: "/version", headers: { host: "docker" } });
 */
export class TunnelBroker {
  readonly #push: TunnelBrokerOptions["push"];
  readonly #onSettled: TunnelBrokerOptions["onSettled"];
  readonly #pending = new Map<string, PendingTunnel>();
  /** Tunnels handed out and not yet closed, by environment (a revocation closes them). */
  readonly #open = new Map<number, Set<TunnelStream>>();

  constructor(options: TunnelBrokerOptions) {
    this.#push = options.push;
    this.#onSettled = options.onSettled;
  }

  /** How many tunnels are being waited for (for tests and diagnostics). */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /**
   * Asks the device to open a tunnel and resolves with it as a byte pipe. Rejects with
   * `unavailable` when the device has no open session or does not answer within `timeoutMs`.
   */
  open(environmentId: number, options: OpenTunnelOptions = {}): Promise<Duplex> {
    const timeoutMs = options.timeoutMs ?? 5000;
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    const id = randomBytes(16).toString("base64url");
    const askedAt = performance.now();
    return new Promise<Duplex>((resolve, reject) => {
      const onAbort = () => settle({ error: signal?.reason instanceof Error ? signal.reason : new ServerError("unavailable", "The tunnel request was cancelled.") });
      const timer = setTimeout(
        () =>
          settle({
            // Its session still looks open: the device's link is down or too slow (found in the
            // chaos suite, partition: the message sent operators to the agent's version instead).
            error: new ServerError(
              "unavailable",
              `The device did not open a tunnel within ${timeoutMs / 1000} s (environment ${environmentId}): it is not reachable right now — its network link is down or too slow, though its session has not timed out yet (three silent check-in intervals).`,
              { fix: "Retry in a few seconds. If it keeps failing, check the device's network and its agent's log (an agent without Docker support never opens tunnels)." },
            ),
          }),
        timeoutMs,
      );
      const settle: PendingTunnel["settle"] = (outcome) => {
        if (!this.#pending.delete(id)) return;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.#onSettled?.("stream" in outcome ? (performance.now() - askedAt) / 1000 : undefined);
        if ("stream" in outcome) resolve(outcome.stream);
        else reject(outcome.error);
      };
      this.#pending.set(id, { environmentId, settle });
      signal?.addEventListener("abort", onAbort, { once: true });
      if (!this.#push(environmentId, { type: "tunnel", id })) {
        settle({ error: new ServerError("unavailable", `Environment ${environmentId} has no open edge session, so no tunnel can be opened; the device is offline or polling.`) });
      }
    });
  }

  /**
   * Takes the tunnel stream the agent opened for `id`, arriving on the HTTP/2 connection whose
   * session belongs to `connectionEnvironmentId` (`undefined`: no session on it); `http2` is
   * `undefined` for an HTTP/1.1 request, which is always refused. Answers 200 and hands the
   * stream to the waiting `open`. Throws `not_found` for an unknown or expired id, and
   * `forbidden` (leaving the tunnel pending) when the stream comes from another device.
   */
  accept(id: string, connectionEnvironmentId: number | undefined, http2: { req: Http2ServerRequest; res: Http2ServerResponse } | undefined): void {
    const pending = tunnelIdPattern.test(id) ? this.#pending.get(id) : undefined;
    if (!pending) throw new ServerError("not_found", `No tunnel ${id} is being waited for (unknown, already taken, or it expired after the server gave up waiting).`);
    if (connectionEnvironmentId !== pending.environmentId || !http2) {
      throw new ServerError(
        "forbidden",
        `Tunnel ${id} belongs to environment ${pending.environmentId}; open it on the HTTP/2 connection that carries that environment's session${connectionEnvironmentId === undefined ? " (this connection carries none)" : ""}.`,
      );
    }
    // The agent opens the stream even when it cannot reach Docker, to say why at once.
    const refusal = http2.req.headers[edgeHeaders.tunnelError];
    if (typeof refusal === "string") {
      http2.res.writeHead(204);
      http2.res.end();
      pending.settle({ error: new ServerError("unavailable", `The device could not reach its Docker Engine: ${refusal}`) });
      return;
    }
    http2.res.writeHead(200, { "content-type": "application/octet-stream", "cache-control": "no-store" });
    const stream = new TunnelStream(http2.req, http2.res);
    let open = this.#open.get(pending.environmentId);
    if (!open) {
      open = new Set();
      this.#open.set(pending.environmentId, open);
    }
    open.add(stream);
    stream.once("close", () => {
      open.delete(stream);
      if (open.size === 0 && this.#open.get(pending.environmentId) === open) this.#open.delete(pending.environmentId);
    });
    pending.settle({ stream });
  }

  /**
   * Pushes again every tunnel request of the environment still waited for, on the session that
   * just opened: one pushed on a session that was being replaced (an agent reconnecting with its
   * newly issued certificate, make before break) would otherwise wait out its timeout. Whichever
   * session the agent opens the stream on first takes it; a second open gets `not_found`.
   */
  sessionOpened(environmentId: number): void {
    for (const [id, pending] of this.#pending) if (pending.environmentId === environmentId) this.#push(environmentId, { type: "tunnel", id });
  }

  /** How many tunnels of the environment are open. */
  openCount(environmentId: number): number {
    return this.#open.get(environmentId)?.size ?? 0;
  }

  /**
   * Closes every tunnel of the environment, open or being waited for, with `reason` (a
   * revocation): each stream is reset, so the Docker client on the other end of the proxy sees
   * its connection end. Returns how many were open.
   */
  closeEnvironment(environmentId: number, reason: string): number {
    const error = new ServerError("unavailable", reason);
    for (const pending of [...this.#pending.values()]) if (pending.environmentId === environmentId) pending.settle({ error });
    const open = [...(this.#open.get(environmentId) ?? [])];
    this.#open.delete(environmentId);
    for (const stream of open) stream.destroy(error);
    return open.length;
  }

  /** Fails every tunnel still being waited for (shutdown). */
  closeAll(): void {
    for (const pending of [...this.#pending.values()]) pending.settle({ error: new ServerError("unavailable", "The server is shutting down.") });
  }
}
