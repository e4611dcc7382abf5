import { connect as tlsConnect, createSecureContext, type SecureContext } from "node:tls";
import { setTimeout as sleep } from "node:timers/promises";

/** A client certificate the stream presents, and the group it is counted in (e.g. its CA). */
export interface StreamIdentity {
  readonly group: string;
  readonly certificatePem: string;
  readonly keyPem: string;
}

/** One full mTLS handshake of the stream. */
export interface HandshakeAttempt {
  readonly group: string;
  /** performance.now() when the dial started and when it ended. */
  readonly startedAt: number;
  readonly endedAt: number;
  /** The server accepted the client certificate (it sent a session ticket, which TLS 1.3 does only after the client's Finished). */
  readonly ok: boolean;
  /** SHA-256 fingerprint of the certificate the server presented, when the handshake got that far. */
  readonly served?: string;
  /** Why it failed, as the client saw it. */
  readonly error?: string;
}

/** Where the stream dials, and how. */
export interface HandshakeStreamOptions {
  readonly port: number;
  /** The SNI sent (the mTLS certificate's name). */
  readonly serverName: string;
  /** The CAs the client trusts for the server's certificate (a bundle). */
  readonly trust: Buffer;
  readonly identities: readonly StreamIdentity[];
  /** Dials in flight at once (each loop uses its own identity, round robin). */
  readonly concurrency: number;
  /** Pause between one loop's dials, ms. */
  readonly pauseMs: number;
  /** Bound on one dial, ms (an unanswered handshake is a failure, never a hang). */
  readonly timeoutMs?: number;
}

/**
 * A steady stream of fresh mTLS handshakes (never resumed: each dial starts without a session)
 * against a TLS listener, recording for each whether the server accepted the client certificate
 * and which server certificate it presented: what devices that reconnect or enrol during a
 * certificate swap see. `stop()` waits for the dials in flight.
 *
 * @example
 * const stream = HandshakeStream.start({ port, serverName: "localhost", trust, identities, concurrency: 4, pauseMs: 50 });
 * …
 * const attempts = await stream.stop();
 */
export class HandshakeStream {
  readonly #options: HandshakeStreamOptions;
  readonly #attempts: HandshakeAttempt[] = [];
  readonly #contexts: SecureContext[];
  #stopped = false;
  #loops: Promise<void>[] = [];

  private constructor(options: HandshakeStreamOptions) {
    this.#options = options;
    this.#contexts = options.identities.map((identity) => createSecureContext({ ca: options.trust, cert: identity.certificatePem, key: identity.keyPem, minVersion: "TLSv1.2" }));
  }

  /** Starts `concurrency` dial loops. */
  static start(options: HandshakeStreamOptions): HandshakeStream {
    if (options.identities.length === 0) throw new Error("a handshake stream needs at least one identity");
    const stream = new HandshakeStream(options);
    stream.#loops = Array.from({ length: options.concurrency }, (_, loop) => stream.#loop(loop));
    return stream;
  }

  /** Every attempt so far (a copy). */
  get attempts(): readonly HandshakeAttempt[] {
    return [...this.#attempts];
  }

  /** Attempts that started at or after `since` (performance.now()). */
  since(since: number): HandshakeAttempt[] {
    return this.#attempts.filter((attempt) => attempt.startedAt >= since);
  }

  /** Resolves with the next accepted attempt started after `since` whose served certificate is `fingerprint`; its start time. */
  async firstServed(fingerprint: string, since: number, timeoutMs: number): Promise<number | undefined> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = this.#attempts.find((attempt) => attempt.startedAt >= since && attempt.ok && attempt.served === fingerprint);
      if (found) return found.startedAt;
      if (performance.now() > deadline || this.#stopped) return undefined;
      await sleep(20);
    }
  }

  /** Stops dialling and resolves with every attempt once the dials in flight ended. */
  async stop(): Promise<readonly HandshakeAttempt[]> {
    this.#stopped = true;
    await Promise.all(this.#loops);
    return this.attempts;
  }

  async #loop(loop: number): Promise<void> {
    const { identities, concurrency, pauseMs } = this.#options;
    for (let turn = 0; !this.#stopped; turn++) {
      const index = (loop + turn * concurrency) % identities.length;
      this.#attempts.push(await this.#dial(identities[index]!.group, this.#contexts[index]!));
      await sleep(pauseMs);
    }
  }

  #dial(group: string, secureContext: SecureContext): Promise<HandshakeAttempt> {
    const { port, serverName, timeoutMs = 10_000 } = this.#options;
    const startedAt = performance.now();
    return new Promise((resolve) => {
      let served: string | undefined;
      let settled = false;
      const socket = tlsConnect({ host: "127.0.0.1", port, servername: serverName, secureContext, ALPNProtocols: ["h2"], minVersion: "TLSv1.2" });
      const end = (ok: boolean, error?: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        resolve({ group, startedAt, endedAt: performance.now(), ok, ...(served === undefined ? {} : { served }), ...(error === undefined ? {} : { error }) });
      };
      const timer = setTimeout(() => end(false, `no answer within ${timeoutMs} ms`), timeoutMs);
      socket.once("secureConnect", () => {
        served = socket.getPeerX509Certificate()?.fingerprint256;
        // TLS 1.2: the server verified the client before its Finished, so the handshake is the answer.
        if (socket.getProtocol() !== "TLSv1.3") end(true);
      });
      // TLS 1.3: the client is "connected" before the server has judged its certificate; the
      // server's session ticket (or its refusal alert) comes after it did.
      socket.once("session", () => end(true));
      socket.once("error", (error: NodeJS.ErrnoException) => end(false, `${error.code ?? "error"}: ${error.message}`));
      socket.once("close", () => end(false, "closed before the server accepted the certificate"));
      // Read, so the ticket (and an alert) is processed.
      socket.resume();
    });
  }
}
