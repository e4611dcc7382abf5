/**
 * Runs tasks at most `perTurn` in one turn of the event loop, the others in order in the turns
 * after (each after the loop's I/O had its turn). A simulator process runs thousands of agents on
 * one event loop; real devices dial on their own CPUs. Without pacing, the backoff timers of
 * thousands of agents cut by a server's kill fire together, and their dials (each ~1.5 ms of
 * TLS client work) stalled the process by up to 3.7 s, holding back the heartbeat acks of its
 * other agents: the simulator's stall, reported as the server's latency.
 *
 * @example
 * const dials = new TurnPacer(16);
 * dials.run(() => agent.open(target));
 */
export class TurnPacer {
  readonly #perTurn: number;
  #queue: (() => void)[] = [];
  #head = 0;
  #thisTurn = 0;

  constructor(perTurn: number) {
    if (!Number.isInteger(perTurn) || perTurn < 1) throw new RangeError("perTurn must be a whole number ≥ 1.");
    this.#perTurn = perTurn;
  }

  /** Tasks waiting for a later turn. */
  get waiting(): number {
    return this.#queue.length - this.#head;
  }

  /** Runs `task` now if this turn has room and nothing waits, else in a later turn. */
  run(task: () => void): void {
    if (this.waiting > 0 || !this.#take()) this.#queue.push(task);
    else task();
  }

  /** Counts one task against this turn; the turn's first schedules the next turn. */
  #take(): boolean {
    if (this.#thisTurn >= this.#perTurn) return false;
    if (this.#thisTurn++ === 0) setImmediate(() => this.#nextTurn()).unref();
    return true;
  }

  #nextTurn(): void {
    this.#thisTurn = 0;
    while (this.waiting > 0 && this.#take()) {
      const task = this.#queue[this.#head++];
      task?.();
    }
    if (this.waiting === 0) {
      this.#queue = [];
      this.#head = 0;
    }
  }
}
