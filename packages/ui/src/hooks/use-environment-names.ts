import { api } from "../api/client.ts";
import type { Endpoint } from "../api/types.ts";
import { type Polled, usePolling } from "./use-polling.ts";

/** How many environments the fleet screens name at most; past it an environment is shown by id. */
export const namedEnvironmentsLimit = 1000;

/**
 * The names of the environments (the Home list, by name, at most 1,000), for the fleet screens
 * that hold environment ids: group members, stack statuses, job tasks.
 *
 * @example
 * const names = useEnvironmentNames();
 * names.data?.get(4); // "berlin-01"
 */
export function useEnvironmentNames(intervalMs = 0): Polled<Map<number, string>> {
  return usePolling(
    async (signal) => {
      const environments = await api<Endpoint[]>("GET", `/api/endpoints?waitingRoom=false&start=0&limit=${namedEnvironmentsLimit}&sort=Name`, { signal });
      return new Map(environments.map((environment) => [environment.Id, environment.Name]));
    },
    intervalMs,
    "environment-names",
  );
}

/** An environment's name, or its id when the name is not known. */
export function environmentName(names: ReadonlyMap<number, string> | undefined, id: number): string {
  return names?.get(id) ?? `Environment ${id}`;
}
