import { setImmediate as nextTurn } from "node:timers/promises";
import v8 from "node:v8";
import vm from "node:vm";
import { vi } from "vitest";

/**
 * Runs a full garbage collection (V8's `gc`, exposed at run time: vitest's workers are not
 * started with `--expose-gc`), after a turn of the event loop so WeakRefs made meanwhile may clear.
 *
 * @example
 * await collectGarbage();
 * expect(ref.deref()).toBeUndefined();
 */
export async function collectGarbage(): Promise<void> {
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc") as () => void;
  await nextTurn();
  gc();
}

/**
 * Watches the timers `run` starts with one of `durations` (ms) through `setTimeout`, and returns
 * weak references to them: a test can then tell whether anything still holds a cleared one.
 *
 * @example
 * const [deadline] = await weakTimersOf([9_871], () => front.connect());
 * await collectGarbage();
 * expect(deadline?.deref()).toBeUndefined();
 */
export async function weakTimersOf(durations: readonly number[], run: () => unknown): Promise<WeakRef<NodeJS.Timeout>[]> {
  const timers: WeakRef<NodeJS.Timeout>[] = [];
  const original = globalThis.setTimeout;
  const spy = vi.spyOn(globalThis, "setTimeout").mockImplementation((callback: () => void, ms?: number) => {
    const timer = original(callback, ms);
    if (ms !== undefined && durations.includes(ms)) timers.push(new WeakRef(timer));
    return timer;
  });
  try {
    await run();
  } finally {
    // The spy's record of results would hold the timers itself.
    spy.mockClear();
    spy.mockRestore();
  }
  return timers;
}
