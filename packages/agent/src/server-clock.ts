import { describeClockSkew, isReportableSkew } from "@pier/protocol/wire";
import type { Logger } from "./logger.ts";

/** Readings of the HTTP `Date` header (whole seconds) move a finer estimate only by more than this. */
const dateHeaderSlackMs = 2000;

/**
 * The server's time as this device knows it (docs/identity.md "Clock skew"): the offset between
 * the server's clock and the device's, from every reading the server gives (`welcome.time`,
 * `ack.time`, and the HTTP `Date` of the session's answer, which arrives before any frame). The
 * agent judges its certificate's validity and renewal moment by `now()`, so a device whose clock
 * is hours off neither renews late, nor thinks a fresh certificate expired. Until the first
 * reading, the device's own clock is all there is. Logs once when the device's clock is a minute
 * or more off (with the amount and what to do), again when the amount moves by a minute or more,
 * and when it is back in line.
 *
 * @example
 * const clock = new ServerClock(log);
 * clock.learn(welcome.time);   // "this device's clock is 5 h 2 min behind the server's …"
 * store.load(new Date(clock.now()));
 */
export class ServerClock {
  readonly #log: Logger | undefined;
  /** Server clock minus device clock, ms. */
  #offsetMs = 0;
  /** Whether the offset comes from a frame (ms resolution) rather than a `Date` header or nothing. */
  #fine = false;
  /** The offset last logged as reportable, if the device's clock is off now. */
  #reported: number | undefined;
  /** Aborted when the offset moved by a minute or more: timers set in server time wake to recompute. */
  #moved = new AbortController();

  constructor(log?: Logger) {
    this.#log = log;
  }

  /** The server's time now, as far as this device knows (ms since the epoch). */
  now(): number {
    return Date.now() + this.#offsetMs;
  }

  /** The server's clock minus this device's, ms (0 until a reading). */
  get offsetMs(): number {
    return this.#offsetMs;
  }

  /** A moment of the server's clock as this device's clock reads it (for timers). */
  toLocal(serverTime: Date): Date {
    return new Date(serverTime.getTime() - this.#offsetMs);
  }

  /** A moment of this device's clock (a file's mtime) in the server's time. */
  toServer(localTime: Date): Date {
    return new Date(localTime.getTime() + this.#offsetMs);
  }

  /** Aborted when the offset moves by a minute or more (a clock set by NTP meanwhile, a first reading). */
  get movedSignal(): AbortSignal {
    return this.#moved.signal;
  }

  /**
   * A reading of the server's clock (`serverTimeMs`, from a frame) that arrived at `receivedAt`
   * (this device's clock). Returns true when the offset moved by a minute or more.
   */
  learn(serverTimeMs: number | undefined, receivedAt = Date.now()): boolean {
    if (serverTimeMs === undefined) return false;
    this.#fine = true;
    return this.#set(serverTimeMs - receivedAt);
  }

  /**
   * The HTTP `Date` of an answer (whole seconds): used when no frame gave a reading yet, or when
   * it tells something new (the device's clock was set meanwhile).
   */
  learnDateHeader(date: string | undefined, receivedAt = Date.now()): boolean {
    const serverTimeMs = date === undefined ? Number.NaN : Date.parse(date);
    if (!Number.isFinite(serverTimeMs)) return false;
    const offset = serverTimeMs - receivedAt;
    if (this.#fine && Math.abs(offset - this.#offsetMs) <= dateHeaderSlackMs) return false;
    return this.#set(offset);
  }

  #set(offsetMs: number): boolean {
    const moved = isReportableSkew(offsetMs - this.#offsetMs);
    this.#offsetMs = offsetMs;
    // The device's clock minus the server's: negative when the device is behind.
    const skew = -offsetMs;
    if (isReportableSkew(skew)) {
      if (this.#reported === undefined || isReportableSkew(skew - this.#reported)) {
        this.#reported = skew;
        const device = new Date(Date.now()).toISOString();
        const server = new Date(this.now()).toISOString();
        this.#log?.log(
          "warn",
          `clock skew: this device's clock is ${describeClockSkew(skew)} the server's (device ${device}, server ${server}); set this device's clock (NTP). Until then the agent judges its certificate's validity and renewal by the server's time.`,
        );
      }
    } else if (this.#reported !== undefined) {
      this.#reported = undefined;
      this.#log?.log("info", `clock skew: this device's clock now agrees with the server's (within ${Math.round(Math.abs(skew) / 1000)} s).`);
    }
    if (moved) {
      this.#moved.abort();
      this.#moved = new AbortController();
    }
    return moved;
  }
}
