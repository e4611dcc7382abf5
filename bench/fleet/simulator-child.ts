/**
 * A child simulator process: drives one share of the fleet (`LocalFleetPart`) for a parent
 * benchmark (fleet-group.ts) that forked it with an IPC channel. Each request names an
 * operation of `FleetPartOperations`; the answer carries its result or its error. The child
 * ends when the channel closes, so it never outlives its parent (even one killed with -9), and
 * leaves Ctrl-C to the parent, which stops it.
 */
import { LocalFleetPart, type FleetPartOperations } from "./fleet-parts.ts";

/** A call from the parent. */
export interface PartRequest {
  readonly id: number;
  readonly op: keyof FleetPartOperations;
  readonly args: readonly unknown[];
}

/** The answer to `PartRequest` `id`. */
export type PartReply = { readonly id: number; readonly result: unknown } | { readonly id: number; readonly error: string };

const part = new LocalFleetPart();
const send = (reply: PartReply) => process.send?.(reply);

process.on("SIGINT", () => {
  // The parent stops the run (and this process) on Ctrl-C.
});
process.on("disconnect", () => {
  part.stop();
  process.exit(0);
});
process.on("message", (request: PartRequest) => {
  try {
    const operation = part[request.op].bind(part) as (...args: unknown[]) => unknown;
    send({ id: request.id, result: operation(...request.args) });
  } catch (error) {
    send({ id: request.id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
});
