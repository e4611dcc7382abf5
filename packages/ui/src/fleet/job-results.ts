/**
 * What an edge job's task says, for people: the last run's outcome and the state of its logs
 * (Portainer's `LogsStatus`: 1 idle, 2 asked for, 3 collected), in the UI's language.
 */

import type { EdgeJobTask, JobRun, LogsStatus } from "../api/fleet-types.ts";
import { i18n } from "../i18n/index.ts";

const logsStatusKeys: Record<LogsStatus, "notCollected" | "requested" | "collected"> = { 1: "notCollected", 2: "requested", 3: "collected" };

/**
 * The logs' state in words, in the UI's language; an unknown number as such.
 *
 * @example
 * logsStatusName(2); // "Requested: waiting for the device"
 */
export function logsStatusName(status: number): string {
  const key = (logsStatusKeys as Record<number, (typeof logsStatusKeys)[LogsStatus] | undefined>)[status];
  return key ? i18n.t(`fleet:logsStatus.${key}`) : i18n.t("fleet:logsStatus.other", { status });
}

/** A run's outcome as the table shows it. */
export interface RunOutcome {
  label: string;
  color: string;
  /** Seconds the run took, when both ends are known. */
  seconds: number | undefined;
  startedAt: Date | undefined;
}

/** A time the server gave as milliseconds since the epoch or as an ISO string. */
function dateOf(value: number | string | undefined | null): Date | undefined {
  if (value === undefined || value === null || value === "" || value === 0) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/**
 * The outcome of a task's last run: never run, succeeded (exit 0), failed with its exit code, or
 * could not start (an error without exit code).
 *
 * @example
 * runOutcome({ StartedAt: 1000, FinishedAt: 3000, ExitCode: 1 }); // { label: "Exit code 1", color: "red", seconds: 2, … }
 */
export function runOutcome(run: JobRun | null | undefined): RunOutcome {
  if (!run) return { label: i18n.t("fleet:run.notRun"), color: "gray", seconds: undefined, startedAt: undefined };
  const startedAt = dateOf(run.StartedAt);
  const finishedAt = dateOf(run.FinishedAt);
  const seconds = startedAt && finishedAt ? Math.max(0, Math.round((finishedAt.getTime() - startedAt.getTime()) / 1000)) : undefined;
  if (run.ExitCode === undefined || run.ExitCode === null) return { label: run.Error ? i18n.t("fleet:run.didNotRun") : i18n.t("fleet:run.finished"), color: run.Error ? "red" : "gray", seconds, startedAt };
  return { label: run.ExitCode === 0 ? i18n.t("fleet:run.succeeded") : i18n.t("fleet:run.exitCode", { code: run.ExitCode }), color: run.ExitCode === 0 ? "green" : "red", seconds, startedAt };
}

/** Whether any task waits for a device's logs (the screen then polls faster). */
export function waitingForLogs(tasks: readonly Pick<EdgeJobTask, "LogsStatus">[] | undefined): boolean {
  return (tasks ?? []).some((task) => task.LogsStatus === 2);
}

/**
 * The file name a task's logs download as.
 *
 * @example
 * logFileName("nightly backup", "berlin-01"); // "nightly-backup-berlin-01.log"
 */
export function logFileName(jobName: string, environmentName: string): string {
  const safe = (text: string) => text.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^-+|-+$/g, "") || "job";
  return `${safe(jobName)}-${safe(environmentName)}.log`;
}
