import { createHash } from "node:crypto";
import { fleetLimits, type DesiredState } from "@pier/protocol";
import { maxAnnouncedEnvironments, type ClusterEvents } from "../cluster/cluster-events.ts";
import { ServerError } from "../errors.ts";
import type { Store } from "../store/store.ts";
import type { DesiredStateSources, FleetChanges } from "./fleet-contracts.ts";
import { type Membership, membership } from "./membership.ts";

/** Options of `DesiredStateService`. */
export interface DesiredStateServiceOptions {
  /** `edgeGroups`: the groups of each environment computed, read once and handed to every source. */
  readonly store: Pick<Store, "environments" | "desiredStateVersions" | "edgeGroups">;
  readonly events: Pick<ClusterEvents, "publish">;
  /** What each feature asks of an environment; read through a getter so parts registered later are seen. */
  readonly sources: () => DesiredStateSources;
  readonly log: (level: "debug" | "info" | "warn" | "error", message: string) => void;
  /** Environments computed at once during a change (default 16): the sources' queries, not the devices, bound it. */
  readonly concurrency?: number;
  /** Bytes of JSON a document may take (default `fleetLimits.desiredStateBytes`); tests lower it. */
  readonly maxBytes?: number;
  /** Documents kept for the fetches that follow a change (default 20,000 environments)… */
  readonly cacheEntries?: number;
  /** …and at most this many bytes of JSON in all (default 128 MiB). */
  readonly cacheBytes?: number;
  /** Environments computed between two yields to the event loop during a change (default 32), so heartbeats are served meanwhile. */
  readonly yieldEvery?: number;
}

/** A computed document and its size. */
interface Computed {
  readonly state: DesiredState;
  readonly bytes: number;
}

/** A cached document and when its computation started (a later start wins). */
interface Cached extends Computed {
  readonly started: number;
}

/** Environments whose desired state is computed, stored and announced together. */
const batchSize = maxAnnouncedEnvironments;
/** Bytes of ids in one announcement: PostgreSQL's NOTIFY carries at most 8000 with the envelope. */
const maxAnnouncedIdBytes = 7_000;

/**
 * JSON with object keys sorted at every depth, so one state always hashes to one version
 * whatever order its parts built their objects in. `undefined` members are left out, as
 * `JSON.stringify` does.
 *
 * @example
 * canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] }); // '{"a":[{"c":3,"d":2}],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? "null" : canonicalJson(item))).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, member]) => member !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, member]) => `${JSON.stringify(key)}:${canonicalJson(member)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * The version of a desired state: SHA-256 (hex) of the canonical JSON of everything but the version.
 *
 * @example
 * desiredStateVersion({ stacks: [], jobs: [] }); // "ab…" (64 hex digits)
 */
export function desiredStateVersion(state: Omit<DesiredState, "version">): string {
  return createHash("sha256").update(canonicalJson(state)).digest("hex");
}

/** Splits ids into announcements of at most 1,000 ids and 7,000 bytes. */
function announcements(ids: readonly number[]): number[][] {
  const chunks: number[][] = [];
  let chunk: number[] = [];
  let bytes = 2;
  for (const id of ids) {
    const size = String(id).length + 1;
    if (chunk.length > 0 && (chunk.length >= maxAnnouncedEnvironments || bytes + size > maxAnnouncedIdBytes)) {
      chunks.push(chunk);
      chunk = [];
      bytes = 2;
    }
    chunk.push(id);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

/** Runs `work` over `items`, at most `limit` at a time; resolves once all settled. */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * What each device must run (docs/fleet.md "Desired state"): composes the sources of stacks,
 * jobs and agent updates into one document per environment, versions it with its SHA-256,
 * stores the version beside the environment (written only when it changed) and announces the
 * change on the cluster bus, where the replica holding each session pushes it
 * (`followDesiredStateChanges`). A document over `fleetLimits.desiredStateBytes` is not
 * delivered: the device keeps the previous one, and the reason is stored and logged.
 *
 * @example
 * const desired = new DesiredStateService({ store, events, sources: () => sources, log });
 * await desired.changed([7]); // recomputes environment 7; pushes `status` if its version moved
 * const state = await desired.document(7); // what GET /api/edge/v1/desired-state answers
 */
export class DesiredStateService implements FleetChanges {
  readonly #options: DesiredStateServiceOptions;
  readonly #membership: Membership;
  readonly #concurrency: number;
  readonly #maxBytes: number;
  readonly #yieldEvery: number;
  readonly #cacheEntries: number;
  readonly #cacheBytes: number;
  /** The last document computed here per environment (insertion order = least recently used first). */
  readonly #cache = new Map<number, Cached>();
  /** Computations started so far: orders them, so an older one finishing late never replaces a newer document. */
  #started = 0;
  #cachedBytes = 0;
  /** The computation under way per environment: concurrent misses share it. */
  readonly #inflight = new Map<number, Promise<Computed>>();

  constructor(options: DesiredStateServiceOptions) {
    this.#options = options;
    this.#membership = membership(options.store.edgeGroups);
    this.#concurrency = options.concurrency ?? 16;
    this.#maxBytes = options.maxBytes ?? fleetLimits.desiredStateBytes;
    this.#yieldEvery = Math.max(1, options.yieldEvery ?? 32);
    this.#cacheEntries = options.cacheEntries ?? 20_000;
    this.#cacheBytes = options.cacheBytes ?? 128 * 1024 * 1024;
  }

  /**
   * The document environment `environmentId` must run now, its version included. `payload_too_large`
   * when it exceeds the limit (the device keeps the one it holds).
   *
   * `storedVersion` is the version stored for the environment (read with its row by the caller):
   * the document the last change computed here is served only when its version is that one;
   * otherwise (another replica computed it, or nothing is cached, or the cache is older than the
   * store) it is computed once — concurrent fetches of one environment share the computation —
   * served and kept. Without `storedVersion` it is always computed.
   */
  async document(environmentId: number, storedVersion?: string): Promise<DesiredState> {
    const cached = this.#cache.get(environmentId);
    if (cached !== undefined && storedVersion !== undefined && cached.state.version === storedVersion) {
      this.#cache.delete(environmentId);
      this.#cache.set(environmentId, cached);
      return cached.state;
    }
    const running = this.#inflight.get(environmentId);
    let computed = await (running ?? this.#computeFresh(environmentId));
    if (running !== undefined && storedVersion !== undefined && computed.state.version !== storedVersion) {
      // The computation joined may have started before the stored version was written: compute
      // afresh, which reads at least what the store holds now (a change still being stored may
      // make it newer than `storedVersion`; that change announces it).
      computed = await this.#computeFresh(environmentId);
    }
    if (computed.bytes > this.#maxBytes) throw this.#tooLarge(environmentId, computed.bytes);
    return computed.state;
  }

  /** Documents held in the cache (tests, metrics). */
  get cachedDocuments(): number {
    return this.#cache.size;
  }

  /** A new computation (later fetches share it), its result cached unless a newer one is. */
  #computeFresh(environmentId: number): Promise<Computed> {
    const started = ++this.#started;
    const computation = this.#compute(environmentId).then(
      (computed) => {
        this.#remember(environmentId, { ...computed, started });
        return computed;
      },
      (error: unknown) => {
        if ((this.#cache.get(environmentId)?.started ?? 0) < started) this.#forget(environmentId);
        throw error;
      },
    );
    this.#inflight.set(environmentId, computation);
    const done = () => {
      if (this.#inflight.get(environmentId) === computation) this.#inflight.delete(environmentId);
    };
    computation.then(done, done);
    return computation;
  }

  #remember(environmentId: number, computed: Cached): void {
    if ((this.#cache.get(environmentId)?.started ?? 0) > computed.started) return;
    this.#forget(environmentId);
    // A document that cannot be delivered is not kept: each fetch computes it and is refused.
    if (computed.bytes > this.#maxBytes || computed.bytes > this.#cacheBytes) return;
    this.#cache.set(environmentId, computed);
    this.#cachedBytes += computed.bytes;
    for (const [oldest, entry] of this.#cache) {
      if (this.#cache.size <= this.#cacheEntries && this.#cachedBytes <= this.#cacheBytes) break;
      this.#cache.delete(oldest);
      this.#cachedBytes -= entry.bytes;
    }
  }

  #forget(environmentId: number): void {
    const entry = this.#cache.get(environmentId);
    if (entry === undefined) return;
    this.#cache.delete(environmentId);
    this.#cachedBytes -= entry.bytes;
  }

  async changed(environmentIds: readonly number[] | "all"): Promise<void> {
    const ids = environmentIds === "all" ? await this.#options.store.desiredStateVersions.associated() : [...new Set(environmentIds)];
    for (let start = 0; start < ids.length; start += batchSize) {
      await this.#recompute(ids.slice(start, start + batchSize));
    }
  }

  /** One batch: the associated ones among `ids` computed, the changes stored, then announced. */
  async #recompute(ids: readonly number[]): Promise<void> {
    const { store, log } = this.#options;
    const environments = (await store.environments.getMany(ids)).filter((environment) => environment.userTrusted);
    const states: { environmentId: number; version: string | null; error: string | null }[] = [];
    let sinceYield = 0;
    await eachLimited(environments, this.#concurrency, async (environment) => {
      if (++sinceYield >= this.#yieldEvery) {
        // SQLite answers synchronously: let the heartbeats and fetches waiting meanwhile through.
        sinceYield = 0;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      try {
        // Fresh: a fetch's computation under way may have read the store before this change.
        const { state, bytes } = await this.#computeFresh(environment.id);
        if (bytes > this.#maxBytes) {
          const error = this.#tooLarge(environment.id, bytes);
          if (environment.desiredStateError !== error.message) log("warn", `environment ${environment.id}: ${error.message}`);
          states.push({ environmentId: environment.id, version: null, error: error.message });
          return;
        }
        states.push({ environmentId: environment.id, version: state.version, error: null });
      } catch (error) {
        // One environment whose sources fail keeps its previous state; the others go on.
        log("error", `environment ${environment.id}: its desired state could not be computed, the device keeps the previous one: ${error instanceof Error ? error.message : String(error)}`);
      }
    });
    const changed = (await store.desiredStateVersions.record(states)).sort((a, b) => a - b);
    if (changed.length === 0) return;
    log("debug", `desired state changed for ${changed.length} environment(s)`);
    for (const environmentIds of announcements(changed)) await this.#options.events.publish({ type: "desired_state_changed", environmentIds });
  }

  async #compute(environmentId: number): Promise<Computed> {
    const sources = this.#options.sources();
    // One read for the three sources: each read the groups itself, 3 of a new device's 13 hello queries.
    const groupIds = await this.#membership.groupsOf(environmentId);
    const [stacks, jobs, agentUpdate] = await Promise.all([sources.stacks(environmentId, groupIds), sources.jobs(environmentId, groupIds), sources.agentUpdate(environmentId, groupIds)]);
    const body: Omit<DesiredState, "version"> = {
      stacks: [...stacks].sort((a, b) => a.id - b.id),
      jobs: [...jobs].sort((a, b) => a.id - b.id),
      ...(agentUpdate === undefined ? {} : { agentUpdate }),
    };
    const state: DesiredState = { version: desiredStateVersion(body), ...body };
    if (state.stacks.length > fleetLimits.stacksPerDevice || state.jobs.length > fleetLimits.jobsPerDevice) {
      // Counted as too large: the agent's schema refuses it just the same.
      return { state, bytes: Number.POSITIVE_INFINITY };
    }
    return { state, bytes: Buffer.byteLength(JSON.stringify(state)) };
  }

  #tooLarge(environmentId: number, bytes: number): ServerError {
    const size = Number.isFinite(bytes) ? `${bytes} bytes, over the ${this.#maxBytes} a device takes` : `more than ${fleetLimits.stacksPerDevice} stacks or ${fleetLimits.jobsPerDevice} jobs`;
    return new ServerError("payload_too_large", `The desired state of environment ${environmentId} is ${size}; the device keeps running its previous one.`, {
      fix: "Remove stacks or jobs from the groups this environment belongs to, or make their files smaller.",
    });
  }
}
