import { useEffect } from "react";

/**
 * Sets the browser tab's title to the screen's ("Edge stacks · Pier") while it is shown.
 *
 * @example
 * usePageTitle("Edge groups");
 */
export function usePageTitle(title: string): void {
  useEffect(() => {
    const previous = document.title;
    document.title = `${title} · Pier`;
    return () => {
      document.title = previous;
    };
  }, [title]);
}
