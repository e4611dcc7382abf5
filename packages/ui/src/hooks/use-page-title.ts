import { useEffect } from "react";

/**
 * Sets the browser tab's title to the screen's ("Edge stacks · Pier"). Every screen sets its
 * own, so the title never outlives the screen it names (no restore on unmount: the next screen's
 * effect and this one's cleanup would race).
 *
 * @example
 * usePageTitle("Edge groups");
 */
export function usePageTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · Pier`;
  }, [title]);
}
