import { readdirSync, readFileSync } from "node:fs";
import { clockTicks } from "./server-process.ts";

/** A process found under /proc: its id, parent and command name. */
interface ProcessEntry {
  readonly pid: number;
  readonly ppid: number;
  readonly name: string;
}

function entry(pid: number): ProcessEntry | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { pid, ppid: Number(fields[1]), name: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")) };
  } catch {
    return undefined; // gone meanwhile
  }
}

/** The live processes whose parent is `ppid` (optionally with command name `name`). */
export function childrenOf(ppid: number, name?: string): number[] {
  const found: number[] = [];
  for (const dir of readdirSync("/proc")) {
    if (!/^\d+$/.test(dir)) continue;
    const process = entry(Number(dir));
    if (process && process.ppid === ppid && (name === undefined || process.name === name)) found.push(process.pid);
  }
  return found;
}

/**
 * CPU seconds (user + system) of a process and everything under it: its own time, the time of
 * the children it has reaped (cutime, cstime) and of its live children, one level down. That is
 * the whole of PostgreSQL (the postmaster and its backends, also the ones that ended).
 *
 * @example
 * const before = treeCpuSeconds(postmaster); … const used = treeCpuSeconds(postmaster) - before;
 */
export function treeCpuSeconds(pid: number): number {
  const own = (target: number, withReaped: boolean): number => {
    try {
      const stat = readFileSync(`/proc/${target}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // utime, stime, cutime, cstime: fields 14–17 of stat(5), 11–14 after the state field.
      const ticks = Number(fields[11]) + Number(fields[12]) + (withReaped ? Number(fields[13]) + Number(fields[14]) : 0);
      return ticks / clockTicks;
    } catch {
      return 0;
    }
  };
  return own(pid, true) + childrenOf(pid).reduce((sum, child) => sum + own(child, true), 0);
}
