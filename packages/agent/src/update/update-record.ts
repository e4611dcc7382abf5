import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "@pier/pki";

/**
 * The agent update under way or last done, kept in `DATA/fleet/agent-update.json` (0600): the
 * file the old agent, the swap helper and the new agent hand the update over with
 * (docs/fleet.md "Agent updates"). It lives in `/data`, which the three share.
 *
 * - `swapping`: the old agent started the helper; the helper waits for the new agent.
 * - `updated`: the new agent was welcomed by the server (it writes this itself, then reports).
 * - `rolled_back`: the helper put the old container back (it reports at its start).
 * - `failed`: nothing was swapped (not in a container, the helper could not start).
 */
export interface UpdateRecord {
  readonly id: number;
  readonly image: string;
  readonly state: "swapping" | "updated" | "rolled_back" | "failed";
  readonly error?: string;
  /** The report of this state is in the outbox. */
  readonly reported?: boolean;
}

/** The record's path under the data directory. */
export function updateRecordPath(dataDir: string): string {
  return join(dataDir, "fleet", "agent-update.json");
}

/** Reads the record; `undefined` when there is none or it is not one. */
export function readUpdateRecord(dataDir: string): UpdateRecord | undefined {
  const path = updateRecordPath(dataDir);
  if (!existsSync(path)) return undefined;
  try {
    const value = JSON.parse(readFileSync(path, "utf8")) as Partial<UpdateRecord>;
    if (typeof value.id !== "number" || typeof value.image !== "string" || !["swapping", "updated", "rolled_back", "failed"].includes(value.state as string)) return undefined;
    return value as UpdateRecord;
  } catch {
    return undefined;
  }
}

/** Writes the record (atomically, 0600; the directory 0700). */
export function writeUpdateRecord(dataDir: string, record: UpdateRecord): void {
  mkdirSync(join(dataDir, "fleet"), { recursive: true, mode: 0o700 });
  writeFileAtomic(updateRecordPath(dataDir), JSON.stringify(record), 0o600);
}
