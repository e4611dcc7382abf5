import { messageOf } from "./client.ts";

/** Requests a bulk action keeps in flight at once: enough to be quick, few enough not to queue behind each other. */
const bulkConcurrency = 8;

/** What a bulk action did: each item's answer or why it failed, in the items' order. */
export type BulkOutcome<T, R> = { item: T; ok: true; value: R } | { item: T; ok: false; error: string };

/**
 * Runs `action` on every item, `bulkConcurrency` at a time, and reports each outcome: one
 * failure neither stops the others nor is lost.
 *
 * @example
 * const outcomes = await forEachInBulk(devices, (device) => api("DELETE", `/api/endpoints/${device.Id}`));
 */
export async function forEachInBulk<T, R>(items: readonly T[], action: (item: T) => Promise<R>): Promise<BulkOutcome<T, R>[]> {
  const outcomes = new Array<BulkOutcome<T, R>>(items.length);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < items.length) {
      const index = next;
      next += 1;
      const item = items[index] as T;
      try {
        outcomes[index] = { item, ok: true, value: await action(item) };
      } catch (failure) {
        outcomes[index] = { item, ok: false, error: messageOf(failure) };
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(bulkConcurrency, items.length) }, worker));
  return outcomes;
}
