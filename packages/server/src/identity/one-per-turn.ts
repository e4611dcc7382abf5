import { setImmediate as nextTurn } from "node:timers/promises";

/**
 * Runs tasks one at a time, each in its own turn of the event loop. Node serves every socket
 * that is ready before it runs the next task, so a burst of tasks adds one task's duration to a
 * heartbeat's latency instead of the whole burst's. Renewals need it: the store's calls are
 * synchronous (node:sqlite) and resolve in microtasks, so 50 renewals arriving together (one
 * second of the fleet rate) used to run back to back — certificate signing, CSR and chain
 * checks, three SQLite writes each, ≈ 2 ms — and heartbeat acks of every session waited
 * behind them (docs/identity.md, "Renewal storm": p99 551 ms during a 15,000-device storm).
 *
 * @example
 * const turns = new OnePerTurn();
 * const grant = await turns.run(() => renew(request));
 */
export class OnePerTurn {
  #tail: Promise<unknown> = Promise.resolve();
  #waiting = 0;

  /** Tasks queued or running. */
  get waiting(): number {
    return this.#waiting;
  }

  /** Runs `task` after every task queued before it, in a later turn of the event loop; settles as `task` does. */
  run<T>(task: () => Promise<T>): Promise<T> {
    this.#waiting++;
    const result = this.#tail.then(() => nextTurn()).then(task);
    const done = result.then(
      () => void this.#waiting--,
      () => void this.#waiting--,
    );
    this.#tail = done;
    return result;
  }
}
