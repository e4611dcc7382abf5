import { edgeGroupsApi, registriesApi, tagsApi } from "../api/fleet.ts";
import type { EdgeGroup, Registry, Tag } from "../api/fleet-types.ts";
import { type Polled, usePolling } from "./use-polling.ts";

/** Every tag, reloaded every `intervalMs` (0: once). */
export function useTags(intervalMs = 0): Polled<Tag[]> {
  return usePolling((signal) => tagsApi.list({ signal }), intervalMs, "tags");
}

/** Every edge group, reloaded every `intervalMs` (0: once). */
export function useEdgeGroups(intervalMs = 0): Polled<EdgeGroup[]> {
  return usePolling((signal) => edgeGroupsApi.list({ signal }), intervalMs, "edge-groups");
}

/** Every registry (for the stack editor's picker), loaded once. */
export function useRegistries(): Polled<Registry[]> {
  return usePolling((signal) => registriesApi.list({ signal }), 0, "registries");
}

/** Names by id, for showing the ids an answer holds. */
export function namesById<T>(items: readonly T[] | undefined, id: (item: T) => number, name: (item: T) => string): Map<number, string> {
  return new Map((items ?? []).map((item) => [id(item), name(item)]));
}
