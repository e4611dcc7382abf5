/** Why the clock ends a session. */
export type SessionDue = "hello" | "silence" | "expired";

/** What the clock watches of one session stream; the session updates the fields as it goes. */
export interface ClockedSession {
  /** When the agent last sent anything (ms). */
  lastFrameAt: number;
  /** The session's check-in interval (s): three silent intervals (plus slack) end it. */
  intervalSeconds: number;
  /** When the hello must have arrived (ms); `undefined` once it has. */
  helloDeadline: number | undefined;
  /** `notAfter` of the certificate the session was opened with (ms); `undefined`: no such watch. */
  expiresAt: number | undefined;
  /** Called once, at the first sweep that finds the session due; the clock has dropped it already. */
  readonly due: (reason: SessionDue) => void;
}

/** Slack on top of three check-in intervals before a silent session ends (a heartbeat late by a slow link). */
export const silenceSlackSeconds = 10;

/** Options of `SessionClock`. */
export interface SessionClockOptions {
  /** Time between sweeps (ms, default 1000): how late a deadline may be noticed. */
  readonly tickMs?: number;
  readonly now?: () => number;
}

/**
 * One timer for the deadlines of every session stream: the hello deadline, the silence rule
 * (no frame for three check-in intervals plus 10 s) and the expiry of the certificate the
 * session was opened with. A sweep every `tickMs` looks at each session; 50,000 sessions take
 * well under a millisecond, where a timer (or two, or three) per session cost a `Timeout` object
 * each, a timer list per distinct expiry, and an interval callback per session every 5 s.
 * The timer runs only while a session is watched, and never keeps the process alive.
 *
 * @example
 * const clock = new SessionClock();
 * const watched = { lastFrameAt: Date.now(), intervalSeconds: 5, helloDeadline: Date.now() + 10_000, expiresAt: undefined, due: (why) => end(why) };
 * const unwatch = clock.watch(watched);
 * watched.lastFrameAt = Date.now(); // on every frame
 * unwatch();                        // when the stream closes
 */
export class SessionClock {
  readonly #sessions = new Set<ClockedSession>();
  readonly #tickMs: number;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: SessionClockOptions = {}) {
    this.#tickMs = options.tickMs ?? 1000;
    this.#now = options.now ?? Date.now;
    if (!(this.#tickMs > 0)) throw new RangeError("tickMs must be positive.");
  }

  /** How many sessions are watched. */
  get size(): number {
    return this.#sessions.size;
  }

  /** Watches `session` until it is due or the returned function is called. */
  watch(session: ClockedSession): () => void {
    this.#sessions.add(session);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.sweep(), this.#tickMs);
      this.#timer.unref();
    }
    return () => this.#unwatch(session);
  }

  /** Ends every watched session that is due at `now`. Called by the timer; public for tests. */
  sweep(now = this.#now()): void {
    for (const session of this.#sessions) {
      const reason = dueReason(session, now);
      if (reason === undefined) continue;
      this.#unwatch(session);
      session.due(reason);
    }
  }

  #unwatch(session: ClockedSession): void {
    this.#sessions.delete(session);
    if (this.#sessions.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}

function dueReason(session: ClockedSession, now: number): SessionDue | undefined {
  if (session.helloDeadline !== undefined) return now >= session.helloDeadline ? "hello" : undefined;
  if (session.expiresAt !== undefined && now >= session.expiresAt) return "expired";
  if (now - session.lastFrameAt > (3 * session.intervalSeconds + silenceSlackSeconds) * 1000) return "silence";
  return undefined;
}
