import { useState } from "react";
import type { Endpoint } from "../api/types.ts";

/** A list's selection, kept across pages by id, and what the page shown has of it. */
export interface Selection {
  readonly chosen: readonly Endpoint[];
  readonly size: number;
  readonly has: (id: number) => boolean;
  /** Every row of the page shown is selected (and there is one). */
  readonly allOnPage: boolean;
  readonly someOnPage: boolean;
  readonly toggle: (environments: readonly Endpoint[], on: boolean) => void;
  /** Replaces the selection ("Select all N matching"). */
  readonly set: (environments: readonly Endpoint[]) => void;
  readonly clear: () => void;
}

/**
 * The selection of a paged environment list.
 *
 * @example
 * const selection = useSelection(page.items);
 * selection.toggle([environment], true);
 */
export function useSelection(shown: readonly Endpoint[]): Selection {
  const [selected, setSelected] = useState<ReadonlyMap<number, Endpoint>>(new Map());
  const onPage = shown.filter((environment) => selected.has(environment.Id)).length;
  return {
    chosen: [...selected.values()],
    size: selected.size,
    has: (id) => selected.has(id),
    allOnPage: shown.length > 0 && onPage === shown.length,
    someOnPage: onPage > 0,
    toggle: (environments, on) =>
      setSelected((current) => {
        const next = new Map(current);
        for (const environment of environments) {
          if (on) next.set(environment.Id, environment);
          else next.delete(environment.Id);
        }
        return next;
      }),
    set: (environments) => setSelected(new Map(environments.map((environment) => [environment.Id, environment]))),
    clear: () => setSelected(new Map()),
  };
}
