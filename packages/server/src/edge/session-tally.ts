/** Options of `SessionTally`. */
export interface SessionTallyOptions {
  readonly log: (level: "info", message: string) => void;
  /** Time between summaries (ms, default 60,000). */
  readonly periodMs?: number;
}

/**
 * Counts the edge sessions that open and close, and says so at info once per period when any
 * did: "edge sessions: 15000 open; in the last 60 s 212 opened, 198 closed". Each session's own
 * lines are debug (issue 20): at 15,000 agents one info line per session open and close was
 * noise in the log and CPU in the server during a reconnect storm. The timer runs only while
 * there is something to say, and never keeps the process alive.
 *
 * @example
 * const tally = new SessionTally({ log });
 * tally.opened(); // when a session's welcome was sent
 * tally.closed(); // when it ends
 */
export class SessionTally {
  readonly #log: SessionTallyOptions["log"];
  readonly #periodMs: number;
  #open = 0;
  #opened = 0;
  #closed = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: SessionTallyOptions) {
    this.#log = options.log;
    this.#periodMs = options.periodMs ?? 60_000;
    if (!(this.#periodMs > 0)) throw new RangeError("periodMs must be positive.");
  }

  /** Sessions open now. */
  get open(): number {
    return this.#open;
  }

  /** A session opened. */
  opened(): void {
    this.#open++;
    this.#opened++;
    this.#start();
  }

  /** A session that `opened()` ended. */
  closed(): void {
    this.#open = Math.max(0, this.#open - 1);
    this.#closed++;
    this.#start();
  }

  /** Logs the period's summary if any session opened or closed in it; called by the timer, public for tests. */
  summarize(): void {
    if (this.#opened === 0 && this.#closed === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }
    this.#log("info", `edge sessions: ${this.#open} open; in the last ${Math.round(this.#periodMs / 1000)} s ${this.#opened} opened, ${this.#closed} closed`);
    this.#opened = 0;
    this.#closed = 0;
  }

  #start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.summarize(), this.#periodMs);
    this.#timer.unref();
  }
}
