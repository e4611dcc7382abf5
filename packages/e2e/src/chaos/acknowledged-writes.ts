import { setTimeout as sleep } from "node:timers/promises";
import type { PierApi } from "../pier-api.ts";

/** An audit entry an acknowledged write promised: its kind and what its detail (or environment) must say. */
interface ExpectedAudit {
  readonly kind: string;
  readonly environmentId?: number;
  readonly detail: Readonly<Record<string, string | number>>;
}

/** The stack version a `2xx` answered, and the file it was answered for. */
interface AcknowledgedStack {
  readonly name: string;
  readonly version: number;
  readonly file: string;
}

/** What the write loops are given. */
export interface WritePlan {
  /** Environments waiting in the waiting room, associated one by one. */
  readonly waiting: readonly number[];
  /** The edge group every stack targets. */
  readonly edgeGroupId: number;
  /** Concurrent loops per kind of write. */
  readonly loopsPerKind: number;
  /** A name part that keeps this run's stacks and tags apart. */
  readonly runId: string;
}

/** What the server said after its restart about the acknowledged writes. */
export interface Verification {
  readonly acknowledged: number;
  readonly found: number;
  /** One line per acknowledged write not found as acknowledged (at most 20). */
  readonly missing: readonly string[];
  /** Changes of these loops found after the restart (acknowledged or not: a write in flight may have landed), each needing its audit entry. */
  readonly landed: number;
  readonly audited: number;
  /** One line per landed change without its audit entry (at most 20). */
  readonly unaudited: readonly string[];
  /** Per kind: acknowledged and found. */
  readonly byKind: Readonly<Record<"associations" | "stack versions" | "tags" | "audit entries", { acknowledged: number; found: number }>>;
}

const composeFile = (runId: string, stack: number, revision: number) =>
  `services:\n  web:\n    image: nginx:1.27-alpine\n    environment:\n      - PIER_CHAOS_RUN=${runId}\n      - STACK=${stack}\n      - REVISION=${revision}\n`;

/** Tags one run creates at most (of the 1,000 a server keeps; a quiet machine made 1,000 in 20 s). */
const tagBudget = 900;

/**
 * Writes through the real API from concurrent loops (associations of waiting devices, edge stack
 * creates and updates, tag creates), and keeps, for every write the server acknowledged (a 2xx
 * answer received), what it said: the ledger a crash must not shorten. A write that got no answer
 * (the server died with it in flight) is counted, not recorded: it may or may not have landed.
 *
 * @example
 * const writes = new AcknowledgedWrites(api, plan);
 * const done = writes.run(signal);
 * // … kill -9 the server …
 * await done;
 * const verdict = await writes.verify(apiOfTheRestartedServer);
 */
export class AcknowledgedWrites {
  readonly #api: PierApi;
  readonly #plan: WritePlan;
  readonly #associated = new Set<number>();
  readonly #stacks = new Map<number, AcknowledgedStack>();
  readonly #tags = new Map<number, string>();
  readonly #audit: ExpectedAudit[] = [];
  #nextWaiting = 0;
  #nextTag = 0;
  #nextStack = 0;
  /** Requests that got no answer (in flight at the kill) or a non-2xx one. */
  unanswered = 0;
  refused = 0;
  readonly refusals: string[] = [];

  constructor(api: PierApi, plan: WritePlan) {
    this.#api = api;
    this.#plan = plan;
  }

  /** Writes acknowledged so far, every kind. */
  get acknowledged(): number {
    return this.#associated.size + [...this.#stacks.values()].reduce((sum, stack) => sum + stack.version, 0) + this.#tags.size;
  }

  /** Runs every loop until `signal` aborts or a loop's request fails (the server is gone); never rejects. */
  async run(signal: AbortSignal): Promise<void> {
    const loops: Promise<void>[] = [];
    for (let i = 0; i < this.#plan.loopsPerKind; i++) {
      loops.push(this.#loop(signal, () => this.#associate()));
      loops.push(this.#loop(signal, () => this.#stackWrites(signal)));
      loops.push(this.#loop(signal, () => this.#createTag()));
    }
    await Promise.all(loops);
  }

  async #loop(signal: AbortSignal, step: () => Promise<boolean>): Promise<void> {
    while (!signal.aborted) {
      let more: boolean;
      try {
        more = await step();
      } catch {
        // No answer: the server died with this request in flight. Until it answers again, nothing is acknowledged.
        this.unanswered++;
        return;
      }
      if (!more) await sleep(50);
    }
  }

  #refused(what: string, status: number, body: unknown): false {
    this.refused++;
    if (this.refusals.length < 5) this.refusals.push(`${what} answered ${status}: ${JSON.stringify(body).slice(0, 200)}`);
    return false;
  }

  async #associate(): Promise<boolean> {
    const id = this.#plan.waiting[this.#nextWaiting++];
    if (id === undefined) return false;
    const answer = await this.#api.call("POST", `/api/endpoints/${id}/edge/trust`);
    if (answer.status !== 204) return this.#refused(`POST /api/endpoints/${id}/edge/trust`, answer.status, answer.body);
    this.#associated.add(id);
    this.#audit.push({ kind: "associated", environmentId: id, detail: {} });
    return true;
  }

  /** One stack: created, then updated until the signal (each PUT a new version). */
  async #stackWrites(signal: AbortSignal): Promise<boolean> {
    const index = this.#nextStack++;
    const name = `chaos-${this.#plan.runId}-${index}`;
    let file = composeFile(this.#plan.runId, index, 1);
    const created = await this.#api.call<{ Id: number; Version: number }>("POST", "/api/edge_stacks/create/string", { name, stackFileContent: file, edgeGroups: [this.#plan.edgeGroupId], deploymentType: 0 });
    if (created.status !== 200) return this.#refused("POST /api/edge_stacks/create/string", created.status, created.body);
    const id = created.body.Id;
    this.#stacks.set(id, { name, version: created.body.Version, file });
    this.#audit.push({ kind: "edge_stack_created", detail: { stackId: id, version: created.body.Version } });
    for (let revision = 2; revision <= 40 && !signal.aborted; revision++) {
      file = composeFile(this.#plan.runId, index, revision);
      const updated = await this.#api.call<{ Version: number }>("PUT", `/api/edge_stacks/${id}`, { stackFileContent: file, edgeGroups: [this.#plan.edgeGroupId] });
      if (updated.status !== 200) return this.#refused(`PUT /api/edge_stacks/${id}`, updated.status, updated.body);
      this.#stacks.set(id, { name, version: updated.body.Version, file });
      this.#audit.push({ kind: "edge_stack_updated", detail: { stackId: id, version: updated.body.Version } });
    }
    return true;
  }

  async #createTag(): Promise<boolean> {
    // The server keeps at most 1,000 tags: past them a create is a refusal, not a write.
    if (this.#nextTag >= tagBudget) return false;
    const name = `chaos-${this.#plan.runId}-${this.#nextTag++}`;
    const answer = await this.#api.call<{ ID: number; Name: string }>("POST", "/api/tags", { Name: name });
    if (answer.status !== 200) return this.#refused("POST /api/tags", answer.status, answer.body);
    this.#tags.set(answer.body.ID, name);
    this.#audit.push({ kind: "tag_created", detail: { tagId: answer.body.ID, name } });
    return true;
  }

  /**
   * Reads back, from a server started again on the same data, every acknowledged write: each
   * associated device trusted, each stack at its acknowledged version or later (at it: the same
   * file), each tag, each audit entry the writes made.
   */
  async verify(api: PierApi): Promise<Verification> {
    const missing: string[] = [];
    const miss = (line: string) => {
      if (missing.length < 20) missing.push(line);
    };

    const trusted = new Set((await api.endpoints({ edgeDeviceUntrusted: false })).filter((endpoint) => endpoint.UserTrusted).map((endpoint) => endpoint.Id));
    let associationsFound = 0;
    for (const id of this.#associated) {
      if (trusted.has(id)) associationsFound++;
      else miss(`environment ${id}: association acknowledged, not trusted after the restart`);
    }

    let versionsAcknowledged = 0;
    let versionsFound = 0;
    for (const [id, acked] of this.#stacks) {
      versionsAcknowledged += acked.version;
      const stack = await api.call<{ Version: number; Name: string }>("GET", `/api/edge_stacks/${id}`);
      if (stack.status !== 200) {
        miss(`stack ${id} (${acked.name}): version ${acked.version} acknowledged, GET answered ${stack.status}`);
        continue;
      }
      if (stack.body.Version < acked.version) {
        versionsFound += stack.body.Version;
        miss(`stack ${id}: version ${acked.version} acknowledged, ${stack.body.Version} after the restart`);
        continue;
      }
      // A later version than acknowledged is a PUT in flight at the kill that landed; the acknowledged one is kept under it.
      const file = await api.call<{ StackFileContent: string }>("GET", `/api/edge_stacks/${id}/file?version=${acked.version}`);
      if (file.status !== 200 || file.body.StackFileContent !== acked.file) {
        miss(`stack ${id}: version ${acked.version} acknowledged, not its file after the restart (GET …/file?version=${acked.version} answered ${file.status})`);
        continue;
      }
      versionsFound += acked.version;
    }

    const tags = await api.call<{ ID: number; Name: string }[]>("GET", "/api/tags");
    if (tags.status !== 200) throw new Error(`GET /api/tags answered ${tags.status}: ${JSON.stringify(tags.body)}`);
    const tagNames = new Map(tags.body.map((tag) => [tag.ID, tag.Name]));
    let tagsFound = 0;
    for (const [id, name] of this.#tags) {
      if (tagNames.get(id) === name) tagsFound++;
      else miss(`tag ${id} (${name}): acknowledged, ${tagNames.has(id) ? `named ${tagNames.get(id)}` : "absent"} after the restart`);
    }

    const entries = await this.#auditEntries(api);
    let auditFound = 0;
    for (const expected of this.#audit) {
      const key = auditKey(expected.kind, expected.environmentId ?? null, expected.detail);
      if (entries.has(key)) auditFound++;
      else miss(`audit entry ${key}: its write was acknowledged, the entry is absent after the restart`);
    }

    // What landed, acknowledged or not, must be in the activity log: a change without its entry
    // is one an auditor cannot see.
    const unaudited: string[] = [];
    let landed = 0;
    const expectEntry = (key: string, what: string) => {
      landed++;
      if (entries.has(key)) return true;
      if (unaudited.length < 20) unaudited.push(`${what} landed without its audit entry (${key})`);
      return false;
    };
    let audited = 0;
    for (const id of this.#plan.waiting) if (trusted.has(id) && expectEntry(auditKey("associated", id, {}), `association of environment ${id}`)) audited++;
    const prefix = `chaos-${this.#plan.runId}-`;
    const stacks = await api.call<{ Id: number; Name: string; Version: number }[]>("GET", "/api/edge_stacks");
    if (stacks.status !== 200) throw new Error(`GET /api/edge_stacks answered ${stacks.status}: ${JSON.stringify(stacks.body).slice(0, 300)}`);
    for (const stack of stacks.body.filter((candidate) => candidate.Name.startsWith(prefix))) {
      for (let version = 1; version <= stack.Version; version++) {
        const kind = version === 1 ? "edge_stack_created" : "edge_stack_updated";
        if (expectEntry(auditKey(kind, null, { stackId: stack.Id, version }), `version ${version} of stack ${stack.Id}`)) audited++;
      }
    }
    for (const tag of tags.body.filter((candidate) => candidate.Name.startsWith(prefix))) if (expectEntry(auditKey("tag_created", null, { tagId: tag.ID }), `tag ${tag.ID}`)) audited++;

    const byKind = {
      associations: { acknowledged: this.#associated.size, found: associationsFound },
      "stack versions": { acknowledged: versionsAcknowledged, found: versionsFound },
      tags: { acknowledged: this.#tags.size, found: tagsFound },
      "audit entries": { acknowledged: this.#audit.length, found: auditFound },
    };
    const kinds = Object.values(byKind);
    return { acknowledged: kinds.reduce((sum, kind) => sum + kind.acknowledged, 0), found: kinds.reduce((sum, kind) => sum + kind.found, 0), missing, landed, audited, unaudited, byKind };
  }

  /** Every entry of the kinds the writes make, as `auditKey`s, from the JSON lines export. */
  async #auditEntries(api: PierApi): Promise<Set<string>> {
    const keys = new Set<string>();
    for (const kind of ["associated", "edge_stack_created", "edge_stack_updated", "tag_created"]) {
      const answer = await api.call<string>("GET", `/api/audit/export?format=jsonl&kind=${kind}`);
      if (answer.status !== 200) throw new Error(`GET /api/audit/export answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 300)}`);
      // One entry is parsed as JSON by the client already; more are lines of text.
      const lines = typeof answer.body === "string" ? answer.body.split("\n").filter((line) => line.trim() !== "") : answer.body === undefined ? [] : [JSON.stringify(answer.body)];
      for (const line of lines) {
        const entry = JSON.parse(line) as { kind: string; environmentId: number | null; detail: Record<string, unknown> };
        keys.add(auditKey(entry.kind, entry.environmentId, entry.detail));
      }
    }
    return keys;
  }
}

/** What identifies an audit entry of these writes: kind, environment, and the detail fields checked. */
function auditKey(kind: string, environmentId: number | null, detail: Readonly<Record<string, unknown>>): string {
  const scalar = (value: unknown) => (typeof value === "number" || typeof value === "string" ? String(value) : "");
  return `${kind} env=${environmentId ?? ""} id=${scalar(detail["stackId"] ?? detail["tagId"])} v=${scalar(detail["version"])}`;
}
