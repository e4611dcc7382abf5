import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const damonAdmin = "/sys/kernel/mm/damon/admin/kdamonds";

/**
 * Says whether the kernel's DAMON sampler runs, and with which operations and scheme actions:
 * on this benchmark's VM a running `kdamond` (physical addresses, a `pageout` scheme) made the
 * server's event loop late by tens of ms every ~575 ms and cost ~30 % more CPU per check-in
 * (docs/architecture.md, "The kernel's DAMON sampler"). `undefined` when no kdamond is on (or
 * the kernel has no DAMON sysfs).
 *
 * @example
 * const note = damonNote(); // "kernel DAMON on (kdamond 0: paddr, pageout) — …"
 */
export function damonNote(admin = damonAdmin): string | undefined {
  const running: string[] = [];
  for (const name of list(admin)) {
    const dir = join(admin, name);
    if (read(join(dir, "state")) !== "on") continue;
    const contexts = join(dir, "contexts");
    const described = list(contexts).map((context) => {
      const schemes = join(contexts, context, "schemes");
      const actions = list(schemes).map((scheme) => read(join(schemes, scheme, "action")) ?? "?");
      return [read(join(contexts, context, "operations")) ?? "?", ...actions].join(", ");
    });
    running.push(`kdamond ${name}: ${described.join("; ") || "no context"}`);
  }
  if (running.length === 0) return undefined;
  return `kernel DAMON on (${running.join("; ")}): it made this VM's event loops late by tens of ms every ~575 ms; to measure without it, as root: echo off > ${admin}/N/state`;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return undefined;
  }
}

/** The numbered entries of a DAMON sysfs directory (kdamonds, contexts, schemes); none when it is missing. */
function list(dir: string): string[] {
  try {
    return readdirSync(dir).filter((name) => /^\d+$/.test(name));
  } catch {
    return [];
  }
}
