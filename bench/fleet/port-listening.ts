import { closeSync, openSync, readSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { wallNow } from "./fleet.ts";

/**
 * True when a socket listens on 127.0.0.1:`port`, from /proc/net/tcp (listeners come first in it,
 * so the head is enough). Not a TCP connect: while a restarted server's accept backlog is full
 * of reconnecting agents, a probe's SYN would be dropped and retried for seconds.
 */
export function listens(port: number): boolean {
  const entry = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")} 00000000:0000 0A`;
  const fd = openSync("/proc/net/tcp", "r");
  try {
    const buffer = Buffer.alloc(256 * 1024);
    return buffer.toString("latin1", 0, readSync(fd, buffer, 0, buffer.length, null)).includes(entry);
  } finally {
    closeSync(fd);
  }
}

/**
 * The first moment (wall ms) 127.0.0.1:`port` listens, polled every 10 ms; NaN once `gone()` says it will not.
 *
 * @example
 * const listeningAt = await listening(server.tunnelPort, () => !server.running, signal);
 */
export async function listening(port: number, gone: () => boolean, signal: AbortSignal): Promise<number> {
  for (;;) {
    signal.throwIfAborted();
    if (listens(port)) return wallNow();
    if (gone()) return Number.NaN;
    await sleep(10, undefined, { signal });
  }
}
