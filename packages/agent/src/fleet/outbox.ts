import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "@pier/pki";
import { edgePaths, fleetLimits, type AgentUpdateReport, type JobLogsUpload, type JobRunReport, type StackReport } from "@pier/protocol";
import { backoffDelay } from "../backoff.ts";
import type { Logger } from "../logger.ts";
import type { FleetConnection } from "./fleet-connection.ts";
import type { FleetReporter } from "./fleet-contracts.ts";

/** What waits to be sent, as kept in `DATA/fleet/outbox.json`. */
interface Pending {
  stacks: StackReport[];
  jobs: JobRunReport[];
  /** The last output asked for, one per job (a newer upload of the same job replaces it). */
  jobLogs: JobLogsUpload[];
  /** The last agent update result (update/agent-updater.ts); a newer one replaces it. */
  agentUpdate?: AgentUpdateReport;
}

/** Events (stack transitions and job runs) kept at most; past it the oldest are coalesced. */
export const maxOutboxEvents = 1_000;
/** Job outputs kept at most (each up to `fleetLimits.jobLogBytes`). */
const maxPendingJobLogs = 8;
/** A report's body stays under the server's cap, with room for the envelope. */
const maxReportBodyBytes = fleetLimits.reportBytes - 1024;

/** Options of `Outbox`. */
export interface OutboxOptions {
  /** The agent's data directory; the outbox lives in `fleet/outbox.json` (0600, directory 0700). */
  readonly dataDir: string;
  readonly log: Logger;
  /** Retries wait `backoffDelay(attempt)`; tests shorten it. */
  readonly retryDelay?: (attempt: number) => number;
}

const emptyPending = (): Pending => ({ stacks: [], jobs: [], jobLogs: [] });

/**
 * The agent's reports on their way to the server (docs/fleet.md "Reports"): queued in memory
 * and in `DATA/fleet/outbox.json` at once, so none is lost to a restart or a network outage;
 * sent when connected (at connection and after each enqueue), removed only after a 2xx, retried
 * with backoff. At most 1,000 events: past that, the oldest transitions of a stack version that
 * has later ones are dropped first (the last of each stays), then the oldest events.
 *
 * @example
 * const outbox = new Outbox({ dataDir, log });
 * outbox.stack({ stackId: 1, version: 2, type: 7, time: Math.floor(Date.now() / 1000) });
 * outbox.connected(sessionConnection(http2)); // sends it
 */
export class Outbox implements FleetReporter {
  readonly #path: string;
  readonly #log: Logger;
  readonly #retryDelay: (attempt: number) => number;
  #pending: Pending;
  /** The connection reports go on; `undefined` while disconnected. */
  #connection: FleetConnection | undefined;
  /** The flush under way (one at a time), and whether another was asked for meanwhile. */
  #flushing: Promise<void> | undefined;
  #again = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #attempt = 0;
  /** A write of the file is due at the end of this turn of the event loop. */
  #saveScheduled = false;
  /** Aborts the request in flight when the connection goes or the agent stops. */
  #activity = new AbortController();

  constructor(options: OutboxOptions) {
    const dir = join(options.dataDir, "fleet");
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.#path = join(dir, "outbox.json");
    this.#log = options.log;
    this.#retryDelay = options.retryDelay ?? backoffDelay;
    this.#pending = this.#load();
  }

  /** Events and job outputs waiting. */
  get size(): number {
    return this.#pending.stacks.length + this.#pending.jobs.length + this.#pending.jobLogs.length + (this.#pending.agentUpdate ? 1 : 0);
  }

  stack(report: StackReport): void {
    this.#pending.stacks.push(report);
    this.#enqueued();
  }

  job(run: JobRunReport): void {
    this.#pending.jobs.push(run);
    this.#enqueued();
  }

  jobLogs(upload: JobLogsUpload): void {
    this.#pending.jobLogs = [...this.#pending.jobLogs.filter((pending) => pending.jobId !== upload.jobId), upload].slice(-maxPendingJobLogs);
    this.#enqueued();
  }

  /** Written to the file at once: the updater marks the result reported right after (update/agent-updater.ts). */
  agentUpdate(report: AgentUpdateReport): void {
    this.#pending.agentUpdate = report;
    this.#save();
    this.#flush();
  }

  /** Reports go on `connection` from now on; what waits is sent at once. */
  connected(connection: FleetConnection): void {
    this.#connection = connection;
    this.#attempt = 0;
    this.#flush();
  }

  /** The connection went away: nothing is sent until the next one. */
  disconnected(connection?: FleetConnection): void {
    if (connection !== undefined && connection !== this.#connection) return;
    this.#connection = undefined;
    clearTimeout(this.#retryTimer);
    this.#activity.abort();
    this.#activity = new AbortController();
  }

  /** Stops sending (the agent stops); what waits stays in the file. */
  async close(): Promise<void> {
    this.disconnected();
    await this.#flushing;
    this.#save();
  }

  #enqueued(): void {
    this.#bound();
    // The events of one reconcile step arrive together: one write (and fsync) for all of them.
    if (!this.#saveScheduled) {
      this.#saveScheduled = true;
      setImmediate(() => {
        this.#saveScheduled = false;
        this.#save();
      });
    }
    this.#flush();
  }

  /** Keeps at most `maxOutboxEvents`: coalesces a stack version's older transitions first, then drops the oldest. */
  #bound(): void {
    const over = () => this.#pending.stacks.length + this.#pending.jobs.length - maxOutboxEvents;
    if (over() <= 0) return;
    const lastOf = new Map<string, StackReport>();
    for (const report of this.#pending.stacks) lastOf.set(`${report.stackId}/${report.version}`, report);
    let excess = over();
    const dropped = new Set<StackReport>();
    for (const report of this.#pending.stacks) {
      if (excess <= 0) break;
      if (lastOf.get(`${report.stackId}/${report.version}`) === report) continue;
      dropped.add(report);
      excess--;
    }
    this.#pending.stacks = this.#pending.stacks.filter((report) => !dropped.has(report));
    if (over() > 0) this.#pending.jobs.splice(0, Math.min(over(), this.#pending.jobs.length));
    if (over() > 0) this.#pending.stacks.splice(0, over());
    this.#log.log("warn", `the fleet outbox holds more than ${maxOutboxEvents} events while the server is unreachable; the oldest were coalesced or dropped`);
  }

  #flush(): void {
    if (this.#flushing) {
      this.#again = true;
      return;
    }
    if (!this.#connection || this.size === 0) return;
    clearTimeout(this.#retryTimer);
    this.#flushing = this.#send(this.#connection, this.#activity.signal).finally(() => {
      this.#flushing = undefined;
      if (this.#again) {
        this.#again = false;
        this.#flush();
      }
    });
  }

  /** Sends what waits, one report (≤ 200 events, ≤ 256 KiB) or job output at a time, until empty or failing. */
  async #send(connection: FleetConnection, signal: AbortSignal): Promise<void> {
    try {
      while (!signal.aborted && this.size > 0) {
        const upload = this.#pending.jobLogs[0];
        const report = this.#nextReport();
        const [path, body] = report.stacks.length + report.jobs.length > 0 || report.agentUpdate ? [edgePaths.report, JSON.stringify(report)] : [edgePaths.jobLogs, JSON.stringify(upload)];
        const answer = await connection.request("POST", path, body, { signal, maxAnswerBytes: 64 * 1024 });
        if (answer.status === 400 || answer.status === 413) {
          // Refused as invalid: sending it again cannot help, and it would block every later report.
          this.#log.log("error", `the server refused a fleet report as invalid (${answer.status}: ${answer.body.slice(0, 300)}); it was dropped`);
        } else if (answer.status < 200 || answer.status > 299) {
          throw new Error(`the server answered ${answer.status}: ${answer.body.slice(0, 300)}`);
        }
        if (path === edgePaths.report) {
          const sentStacks = new Set(report.stacks);
          const sentJobs = new Set(report.jobs);
          this.#pending.stacks = this.#pending.stacks.filter((event) => !sentStacks.has(event));
          this.#pending.jobs = this.#pending.jobs.filter((event) => !sentJobs.has(event));
          if (report.agentUpdate && this.#pending.agentUpdate === report.agentUpdate) delete this.#pending.agentUpdate;
        } else {
          this.#pending.jobLogs = this.#pending.jobLogs.filter((pending) => pending !== upload);
        }
        this.#save();
        this.#attempt = 0;
      }
    } catch (error) {
      if (signal.aborted) return;
      const delay = this.#retryDelay(this.#attempt++);
      this.#log.log(this.#attempt === 1 ? "warn" : "debug", `could not send ${this.size} fleet report(s) (${error instanceof Error ? error.message : String(error)}); retrying in ${Math.round(delay / 1000)} s`);
      this.#retryTimer = setTimeout(() => this.#flush(), delay);
      this.#retryTimer.unref();
    }
  }

  /** The oldest events that fit one report. */
  #nextReport(): { stacks: StackReport[]; jobs: JobRunReport[]; agentUpdate?: AgentUpdateReport } {
    const report: { stacks: StackReport[]; jobs: JobRunReport[]; agentUpdate?: AgentUpdateReport } = { stacks: [], jobs: [], ...(this.#pending.agentUpdate ? { agentUpdate: this.#pending.agentUpdate } : {}) };
    let bytes = 32;
    const fits = (event: unknown) => {
      const size = JSON.stringify(event).length + 1;
      if (report.stacks.length + report.jobs.length >= fleetLimits.reportEvents || bytes + size > maxReportBodyBytes) return false;
      bytes += size;
      return true;
    };
    for (const event of this.#pending.stacks) if (fits(event)) report.stacks.push(event);
    for (const event of this.#pending.jobs) if (fits(event)) report.jobs.push(event);
    return report;
  }

  #load(): Pending {
    if (!existsSync(this.#path)) return emptyPending();
    try {
      const value = JSON.parse(readFileSync(this.#path, "utf8")) as Partial<Pending>;
      return { stacks: Array.isArray(value.stacks) ? value.stacks : [], jobs: Array.isArray(value.jobs) ? value.jobs : [], jobLogs: Array.isArray(value.jobLogs) ? value.jobLogs : [], ...(value.agentUpdate ? { agentUpdate: value.agentUpdate } : {}) };
    } catch (error) {
      this.#log.log("warn", `${this.#path} could not be read (${error instanceof Error ? error.message : String(error)}); its reports are lost, the agent starts a new outbox`);
      return emptyPending();
    }
  }

  #save(): void {
    try {
      writeFileAtomic(this.#path, JSON.stringify(this.#pending), 0o600);
    } catch (error) {
      this.#log.log("error", `could not write ${this.#path} (${error instanceof Error ? error.message : String(error)}); reports wait in memory only`);
    }
  }
}
