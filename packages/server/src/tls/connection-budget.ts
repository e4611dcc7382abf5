import { sourceKey } from "../net/source-key.ts";

/** How many connections the server keeps open at once. */
export interface ConnectionBudgetOptions {
  /** Open connections across every listener sharing the budget. */
  readonly maxTotal: number;
  /** Open connections from one source address (IPv6: one /64). */
  readonly maxPerSource: number;
}

/**
 * Why a connection was not admitted: the connection budget (`total`, `per-source`), or a full
 * queue of connections waiting for a TLS handshake (`handshake-queue`, tls/handshake-gate.ts).
 */
export interface ConnectionShed {
  readonly remoteAddress: string;
  readonly reason: "total" | "per-source" | "handshake-queue";
  /** The limit that was reached. */
  readonly limit: number;
}

/** The answer of `ConnectionBudget.admit`. */
export type Admission = { readonly admitted: true; readonly release: () => void } | ({ readonly admitted: false } & ConnectionShed);

// Devices behind one NAT share an address; a few hundred per address is still far below
// what one address could open to exhaust file descriptors.
export const defaultConnectionBudget: ConnectionBudgetOptions = Object.freeze({ maxTotal: 20_000, maxPerSource: 512 });

/**
 * Counts open connections per source and in total; both TLS fronts share one. A connection
 * over either limit is not admitted (the caller closes it); an admitted one calls `release`
 * once, when it closes.
 *
 * @example
 * const budget = new ConnectionBudget({ maxTotal: 20_000, maxPerSource: 512 });
 * const admission = budget.admit(socket.remoteAddress);
 * if (!admission.admitted) socket.destroy();
 * else socket.once("close", admission.release);
 */
export class ConnectionBudget {
  readonly #options: ConnectionBudgetOptions;
  readonly #perSource = new Map<string, number>();
  #total = 0;

  constructor(options: ConnectionBudgetOptions = defaultConnectionBudget) {
    for (const [name, value] of Object.entries(options)) {
      if (!Number.isInteger(value) || (value as number) < 1) throw new RangeError(`${name} must be a whole number ≥ 1.`);
    }
    this.#options = options;
  }

  /** The limits in force. */
  get options(): ConnectionBudgetOptions {
    return this.#options;
  }

  /** Connections open now. */
  get open(): number {
    return this.#total;
  }

  /** Admits a connection from `remoteAddress`, or says which limit it would pass. */
  admit(remoteAddress: string | undefined): Admission {
    const key = sourceKey(remoteAddress);
    const fromSource = this.#perSource.get(key) ?? 0;
    const address = remoteAddress ?? "unknown";
    if (this.#total >= this.#options.maxTotal) return { admitted: false, remoteAddress: address, reason: "total", limit: this.#options.maxTotal };
    if (fromSource >= this.#options.maxPerSource) return { admitted: false, remoteAddress: address, reason: "per-source", limit: this.#options.maxPerSource };
    this.#total++;
    this.#perSource.set(key, fromSource + 1);
    let released = false;
    return {
      admitted: true,
      release: () => {
        if (released) return;
        released = true;
        this.#total--;
        const left = (this.#perSource.get(key) ?? 1) - 1;
        if (left > 0) this.#perSource.set(key, left);
        else this.#perSource.delete(key);
      },
    };
  }
}

function shedReason(shed: ConnectionShed): string {
  switch (shed.reason) {
    case "total":
      return `${shed.limit} connections are open in total (--max-connections ${shed.limit})`;
    case "per-source":
      return `${shed.limit} connections from ${sourceKey(shed.remoteAddress)} are open (--max-connections-per-source ${shed.limit})`;
    case "handshake-queue":
      return `${shed.limit} connections already wait for a TLS handshake (the queue behind --max-concurrent-handshakes); the client retries with its backoff`;
  }
}

/**
 * Turns shed connections into log lines an attacker cannot flood: the first at once, then at
 * most one per `intervalMs`, counting the connections shed in between.
 *
 * @example
 * const onShed = shedLogger((message) => log("warn", message));
 */
export function shedLogger(log: (message: string) => void, intervalMs = 10_000, now: () => number = Date.now): (shed: ConnectionShed) => void {
  let lastAt = Number.NEGATIVE_INFINITY;
  let unreported = 0;
  return (shed) => {
    unreported++;
    const at = now();
    if (at - lastAt < intervalMs) return;
    const more = unreported > 1 ? ` (${unreported} connections shed since the last such line)` : "";
    log(`shedding connections: closed one from ${shed.remoteAddress} at accept, ${shedReason(shed)}${more}`);
    lastAt = at;
    unreported = 0;
  };
}
