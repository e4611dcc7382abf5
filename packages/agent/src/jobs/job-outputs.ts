import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fleetLimits } from "@pier/protocol";

/**
 * What the agent keeps of its edge jobs in `DATA/fleet/jobs/` (docs/fleet.md "Edge jobs"): the
 * last output of each job (`<id>/last.log`, 0600, at most `fleetLimits.jobLogBytes`), and which
 * one-off jobs already ran at which version (`state.json`), so a restart does not run them again.
 */

/** The directory of the job files under the agent's data directory. */
export function jobsDir(dataDir: string): string {
  return join(dataDir, "fleet", "jobs");
}

/** Writes `path` whole or not at all (a temporary file renamed over it), mode 0600. */
async function writeAtomically(path: string, content: string | Buffer): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, content, { mode: 0o600 });
  await rename(temporary, path);
}

/**
 * Keeps `output` (its last `fleetLimits.jobLogBytes` bytes) as job `jobId`'s last output.
 *
 * @example
 * await writeLastOutput("/data", 7, Buffer.from("done\n"));
 */
export async function writeLastOutput(dataDir: string, jobId: number, output: Buffer): Promise<void> {
  const dir = join(jobsDir(dataDir), String(jobId));
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeAtomically(join(dir, "last.log"), output.subarray(Math.max(0, output.length - fleetLimits.jobLogBytes)));
}

/** The last output of job `jobId` as text, `undefined` when it never ran here. */
export async function readLastOutput(dataDir: string, jobId: number): Promise<string | undefined> {
  try {
    return (await readFile(join(jobsDir(dataDir), String(jobId), "last.log"))).toString();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** One-off jobs that ran: job id → the version that ran. */
export type DoneJobs = Record<string, number>;

/** Reads `state.json`; an absent or unreadable file is an empty record (a one-off job may then run again, never be lost). */
export async function readDoneJobs(dataDir: string): Promise<DoneJobs> {
  try {
    const parsed = JSON.parse(await readFile(join(jobsDir(dataDir), "state.json"), "utf8")) as unknown;
    const done = (parsed as { done?: unknown } | null)?.done;
    if (typeof done !== "object" || done === null) return {};
    return Object.fromEntries(Object.entries(done).filter((entry): entry is [string, number] => typeof entry[1] === "number"));
  } catch {
    return {};
  }
}

/** Writes `state.json` (0600) with the one-off jobs that ran. */
export async function writeDoneJobs(dataDir: string, done: DoneJobs): Promise<void> {
  await mkdir(jobsDir(dataDir), { recursive: true, mode: 0o700 });
  await writeAtomically(join(jobsDir(dataDir), "state.json"), JSON.stringify({ done }));
}
