/**
 * Heap snapshots of a process under benchmark, loaded into it with
 * `NODE_OPTIONS="--import <this file>"` and `PIER_HEAP_SNAPSHOT_DIR=<dir>`: each SIGWINCH writes
 * `heap-<pid>-<n>.heapsnapshot` there (written under a temporary name and renamed when complete,
 * so a reader never sees half a file). bench/fleet/heap-snapshot.ts sends the signal and waits;
 * bench/fleet/heap-snapshot-summary.ts summarises the file.
 */
import { renameSync } from "node:fs";
import { join } from "node:path";
import { writeHeapSnapshot } from "node:v8";

const dir = process.env.PIER_HEAP_SNAPSHOT_DIR;
if (dir) {
  let taken = 0;
  process.on("SIGWINCH", () => {
    taken += 1;
    const file = join(dir, `heap-${process.pid}-${taken}.heapsnapshot`);
    renameSync(writeHeapSnapshot(`${file}.partial`), file);
  });
}
