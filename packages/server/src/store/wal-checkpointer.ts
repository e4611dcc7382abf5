import type { DatabaseSync } from "node:sqlite";
import { Worker } from "node:worker_threads";

/** Options of `startWalCheckpointer`. */
export interface WalCheckpointerOptions {
  /** Time between checkpoints (ms, default 1000). */
  readonly intervalMs?: number;
  /** How long a checkpoint waits for a lock (ms); the store's busy timeout. */
  readonly busyTimeoutMs: number;
}

/** A background checkpointer; `stop()` ends it (its last checkpoint runs on its own thread). */
export interface WalCheckpointer {
  stop(): void;
}

/** SQLite's own default `wal_autocheckpoint` (pages), restored if the thread fails. */
const sqliteAutoCheckpointPages = 1000;

// CommonJS, run with `eval`: no loader or file path to resolve in the worker.
const workerSource = `
const { parentPort, workerData } = require("node:worker_threads");
const { DatabaseSync } = require("node:sqlite");
const db = new DatabaseSync(workerData.path, { timeout: workerData.busyTimeoutMs });
const checkpoint = () => db.prepare("PRAGMA wal_checkpoint(PASSIVE)").get();
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on("message", () => {
  clearInterval(timer);
  try { checkpoint(); } finally { db.close(); parentPort.close(); }
});
`;

/**
 * Moves SQLite's WAL checkpoints off the event loop. By default the connection that commits
 * past 1,000 WAL pages copies them into the database file (and syncs it) inside that commit:
 * 15–70 ms of a blocked event loop on the shared 2-core box, several times a minute once a
 * large fleet's check-ins are flushed. Here the store's connection never checkpoints
 * (`wal_autocheckpoint = 0`) and a worker thread with its own connection runs a PASSIVE
 * checkpoint (it never waits for the writer or readers) every `intervalMs`. Should the thread
 * fail, the connection checkpoints itself again as before.
 *
 * @example
 * const checkpointer = startWalCheckpointer(db, "/var/lib/pier/pier.db", { busyTimeoutMs: 5000 });
 * checkpointer.stop(); // before closing db
 */
export function startWalCheckpointer(connection: DatabaseSync, path: string, options: WalCheckpointerOptions): WalCheckpointer {
  connection.exec("PRAGMA wal_autocheckpoint = 0");
  const worker = new Worker(workerSource, { eval: true, workerData: { path, busyTimeoutMs: options.busyTimeoutMs, intervalMs: options.intervalMs ?? 1000 } });
  // A checkpointer alone does not keep the process alive.
  worker.unref();
  let stopped = false;
  const fallBack = () => {
    if (!stopped && connection.isOpen) connection.exec(`PRAGMA wal_autocheckpoint = ${sqliteAutoCheckpointPages}`);
  };
  worker.on("error", fallBack);
  worker.on("exit", fallBack);
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      worker.postMessage("stop");
    },
  };
}
