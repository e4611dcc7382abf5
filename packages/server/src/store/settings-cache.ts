import { ServerError } from "../errors.ts";
import type { Settings, SettingsStore } from "./store.ts";

/** Options of `SettingsCache`. */
export interface SettingsCacheOptions {
  /** How long a read is served from memory at most (ms, default 1000), even if no change was heard of. */
  readonly maxAgeMs?: number;
  readonly now?: () => number;
}

/**
 * The settings for hot paths (every edge hello read them: one query per reconnect in a storm of
 * thousands), kept in memory for at most `maxAgeMs` and forgotten at once when a change is heard
 * of (`forget`: the server calls it on `settings_changed`, which every settings write announces,
 * on this replica at once and on the others through the events bus, and after the bus's
 * resync). So a change made here applies to the next hello, one made on another replica within
 * the announcement's delay, and one whose announcement was lost within `maxAgeMs`. A read that
 * started before a `forget` is not kept.
 *
 * @example
 * const settings = new SettingsCache(store.settings);
 * events.subscribe((event) => { if (event.type === "settings_changed") settings.forget(); });
 * const { edgeComputeEnabled } = await settings.get();
 */
export class SettingsCache implements Pick<SettingsStore, "get"> {
  readonly #source: Pick<SettingsStore, "get">;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  /** The last read (possibly still under way) and when it began; `forget` drops it. */
  #cached: { readonly settings: Promise<Settings>; readonly at: number } | undefined;

  constructor(source: Pick<SettingsStore, "get">, options: SettingsCacheOptions = {}) {
    this.#source = source;
    this.#maxAgeMs = options.maxAgeMs ?? 1000;
    this.#now = options.now ?? Date.now;
    if (!(this.#maxAgeMs >= 0)) {
      throw new ServerError("config_invalid", `The settings cache's maxAgeMs must be 0 or more, not ${this.#maxAgeMs}.`, { field: "maxAgeMs", fix: "Pass a number of milliseconds ≥ 0, or none for the default (1000)." });
    }
  }

  /** The settings: from memory when read within `maxAgeMs` and since the last `forget`, else from the store. */
  get(): Promise<Settings> {
    const now = this.#now();
    const cached = this.#cached;
    if (cached && now - cached.at <= this.#maxAgeMs) return cached.settings;
    // Concurrent hellos share one read; a failed read is not kept.
    const settings = this.#source.get();
    this.#cached = { settings, at: now };
    settings.catch(() => {
      if (this.#cached?.settings === settings) this.#cached = undefined;
    });
    return settings;
  }

  /** A change was made or announced: the next `get` reads the store. */
  forget(): void {
    this.#cached = undefined;
  }
}
