import { useCallback, useEffect, useRef, useState } from "react";
import { isAbort, messageOf } from "../api/client.ts";

/** What a polled resource looks like to a screen. */
export interface Polled<T> {
  data: T | undefined;
  /** The last failure's message; cleared by the next success. */
  error: string | undefined;
  loading: boolean;
  /** Fetches now (after an action) instead of waiting for the next tick. */
  refresh: () => Promise<void>;
}

/**
 * Loads a resource and reloads it every `intervalMs` (0: once) while the screen is shown. A
 * load in flight is aborted when a new one starts or the screen goes away, so answers never
 * land out of order or after unmount.
 *
 * @example
 * const environments = usePolling((signal) => api<Endpoint[]>("GET", "/api/endpoints", { signal }), 3000);
 *
 * A new `key` (another environment) drops the data shown, unless `keepDataOnKeyChange` (a newer
 * version of the same thing): then the old data stays until the new arrives.
 */
export function usePolling<T>(load: (signal: AbortSignal) => Promise<T>, intervalMs: number, key = "", options: { keepDataOnKeyChange?: boolean } = {}): Polled<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string>();
  const [loading, setLoading] = useState(true);
  const loadRef = useRef(load);
  const inFlight = useRef<AbortController | undefined>(undefined);
  // An action's "refresh after" may come back after the screen is gone: no request then.
  const mounted = useRef(false);

  useEffect(() => {
    loadRef.current = load;
  });

  const refresh = useCallback(async () => {
    if (!mounted.current) return;
    inFlight.current?.abort();
    const controller = new AbortController();
    inFlight.current = controller;
    try {
      const value = await loadRef.current(controller.signal);
      if (controller.signal.aborted) return;
      setData(value);
      setError(undefined);
    } catch (failure) {
      if (isAbort(failure) || controller.signal.aborted) return;
      setError(messageOf(failure));
    } finally {
      if (!controller.signal.aborted) setLoading(false);
    }
  }, []);

  const keepData = options.keepDataOnKeyChange === true;
  useEffect(() => {
    mounted.current = true;
    if (!keepData) {
      setData(undefined);
      setLoading(true);
    }
    void refresh();
    const timer = intervalMs > 0 ? window.setInterval(() => void refresh(), intervalMs) : undefined;
    return () => {
      mounted.current = false;
      window.clearInterval(timer);
      inFlight.current?.abort();
    };
  }, [refresh, intervalMs, key, keepData]);

  return { data, error, loading, refresh };
}
