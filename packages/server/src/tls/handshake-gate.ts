/** How many TLS handshakes one front runs at once, and how many connections may wait for one. */
export interface HandshakeGateOptions {
  /** Handshakes in progress at once; the next waits for one of them to end. */
  readonly maxConcurrent: number;
  /** Connections waiting for a handshake; past it, new connections are closed at accept. */
  readonly maxQueued: number;
  /**
   * The longest a handshake holds its slot: one still going after this (a client far away or
   * stalled: the server waits for its second flight, doing nothing) goes on outside the count,
   * and the next connection gets the slot. Its own deadline still applies.
   */
  readonly maxHoldMs: number;
  /**
   * Once the oldest waiting connection has waited this long, the gate serves the newest first
   * ("adaptive LIFO"): in a storm the oldest would be served just as their clients give up
   * (their deadline, their own dial timeout), the newest still have the time to finish.
   */
  readonly lifoAfterMs: number;
}

/**
 * 64 handshakes at once keep both cores busy (a full mTLS handshake costs ~1 ms of CPU) while the
 * rest wait their turn instead of all progressing slowly and missing their deadline together
 * (issue 20: the reconnect storm). A waiting connection costs one file descriptor and a few
 * hundred bytes: 20,000 of them are a storm's worth, bounded. A slot is held 500 ms at most: a
 * handshake is two bursts of CPU one client round trip apart, and a slot held across a long or
 * stalled round trip bounds nothing but the rate: 64 clients stalling after their ClientHello
 * would otherwise shut the gate for their whole 10 s deadline. Past 2 s of waiting the queue is
 * served newest first: a FIFO served connections ~14 s old to agents that give up at 15 s
 * (bench:fleet, 15,000 agents on the loaded shared box), all work and no welcome.
 */
export const defaultHandshakeGate: HandshakeGateOptions = Object.freeze({ maxConcurrent: 64, maxQueued: 20_000, maxHoldMs: 500, lifoAfterMs: 2_000 });

/**
 * Handshakes started in one turn of the event loop, at most; the next start after the loop's I/O
 * had its turn. Starting one makes OpenSSL answer its ClientHello at once (~1 ms of CPU, resumed
 * or not): 64 slots freed together (their hold timers fired together, a burst of handshakes
 * ended) were 64 ms and more of ClientHellos answered back to back while the heartbeats of
 * devices already connected waited (bench:storm's profile).
 */
export const handshakeStartsPerTurn = 8;

/** A connection's place at the gate: waiting, or handshaking. */
export interface HandshakeTicket {
  /** Leaves the queue, or frees the slot for the next connection; idempotent. */
  release(): void;
}

interface Waiter {
  readonly start: () => void;
  readonly queuedAt: number;
  state: "waiting" | "running" | "done";
  hold?: NodeJS.Timeout;
  // Neighbours in the queue (a doubly linked list: taken from either end, left from the middle).
  older?: Waiter;
  newer?: Waiter;
}

/**
 * Admits TLS handshakes in order of arrival, at most `maxConcurrent` at once; the others wait in
 * a queue of at most `maxQueued`, served in order of arrival until its oldest has waited
 * `lifoAfterMs`, then newest first. The TLS front asks for a slot once it has a connection's
 * whole ClientHello (a client that stalls before it holds no slot) and releases it when the
 * handshake ends, well or badly, or the connection closes (its deadline, counted from accept,
 * closes a connection still waiting), or after `maxHoldMs`, whichever comes first. At most
 * `handshakeStartsPerTurn` start in one turn of the event loop.
 *
 * @example
 * const gate = new HandshakeGate(defaultHandshakeGate);
 * const ticket = gate.enter(() => tlsServer.emit("connection", socket));
 * if (!ticket) socket.destroy();
 * else socket.once("close", () => ticket.release());
 */
export class HandshakeGate {
  readonly #options: HandshakeGateOptions;
  readonly #now: () => number;
  #oldest: Waiter | undefined;
  #newest: Waiter | undefined;
  #queued = 0;
  #running = 0;
  #pumping = false;
  #startsThisTurn = 0;

  constructor(options: HandshakeGateOptions = defaultHandshakeGate, now: () => number = Date.now) {
    for (const [name, value] of Object.entries(options)) {
      // An empty queue, or newest first at once, are limits too; no slot or no hold are not.
      const least = name === "maxQueued" || name === "lifoAfterMs" ? 0 : 1;
      if (!Number.isInteger(value) || (value as number) < least) throw new RangeError(`${name} must be a whole number ≥ ${least}.`);
    }
    this.#options = options;
    this.#now = now;
  }

  /** The limits in force. */
  get options(): HandshakeGateOptions {
    return this.#options;
  }

  /** Handshakes in progress. */
  get running(): number {
    return this.#running;
  }

  /** Connections waiting for a slot. */
  get queued(): number {
    return this.#queued;
  }

  /** True when a connection asking now would be refused: every slot taken and the queue full. */
  get full(): boolean {
    return this.#running >= this.#options.maxConcurrent && this.#queued >= this.#options.maxQueued;
  }

  /**
   * Runs `start` now if a slot is free, else once the connections ahead of it got theirs.
   * Returns the ticket to release when the handshake ends, or `undefined` (and never runs
   * `start`) when the queue is full.
   */
  enter(start: () => void): HandshakeTicket | undefined {
    if (this.full) return undefined;
    const waiter: Waiter = { start, queuedAt: this.#now(), state: "waiting" };
    this.#append(waiter);
    this.#pump();
    return { release: () => this.#release(waiter) };
  }

  #release(waiter: Waiter): void {
    if (waiter.state === "done") return;
    if (waiter.state === "waiting") this.#unlink(waiter);
    else this.#running--;
    waiter.state = "done";
    clearTimeout(waiter.hold);
    // A released ticket may be kept as long as its connection (the TLS front's): not its Timeout.
    waiter.hold = undefined;
    this.#pump();
  }

  // A `start` that releases at once (its socket already closed) re-enters here: the flag keeps
  // the loop flat instead of recursing once per queued connection.
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#running < this.#options.maxConcurrent) {
        const oldest = this.#oldest;
        if (!oldest || this.#startsThisTurn >= handshakeStartsPerTurn) break;
        // The first start of a turn schedules the next turn's: it resets the count and goes on.
        if (this.#startsThisTurn++ === 0) setImmediate(() => this.#nextTurn()).unref();
        const waiter = this.#now() - oldest.queuedAt >= this.#options.lifoAfterMs ? (this.#newest ?? oldest) : oldest;
        this.#unlink(waiter);
        waiter.state = "running";
        this.#running++;
        waiter.hold = setTimeout(() => this.#release(waiter), this.#options.maxHoldMs);
        waiter.hold.unref();
        waiter.start();
      }
    } finally {
      this.#pumping = false;
    }
  }

  #nextTurn(): void {
    this.#startsThisTurn = 0;
    this.#pump();
  }

  #append(waiter: Waiter): void {
    waiter.older = this.#newest;
    if (this.#newest) this.#newest.newer = waiter;
    else this.#oldest = waiter;
    this.#newest = waiter;
    this.#queued++;
  }

  #unlink(waiter: Waiter): void {
    if (waiter.older) waiter.older.newer = waiter.newer;
    else this.#oldest = waiter.newer;
    if (waiter.newer) waiter.newer.older = waiter.older;
    else this.#newest = waiter.older;
    waiter.older = undefined;
    waiter.newer = undefined;
    this.#queued--;
  }
}
