import { parseArgs, type ParseArgsOptionsConfig } from "node:util";

/** A numeric option's checker (see `numberOption`). */
export type NumberOption = (name: string, text: string, check: (n: number) => boolean, rule: string) => number;

/**
 * A numeric command-line option of a benchmark, checked: returns the number, or throws naming
 * the option, the rule and the usage.
 *
 * @example
 * const number = numberOption(usage);
 * const agents = number("agents", values.agents, (n) => Number.isInteger(n) && n >= 1, "a whole number ≥ 1");
 */
export function numberOption(usage: string): NumberOption {
  return (name, text, check, rule) => {
    const value = Number(text);
    if (!check(value)) throw new Error(`--${name} must be ${rule}, got "${text}".\n${usage}`);
    return value;
  };
}

const helpOption = { help: { type: "boolean", short: "h" } } as const;

/** What `benchmarkOptions` read: the raw values and checkers that throw with the usage. */
export interface BenchmarkArguments<T extends ParseArgsOptionsConfig> {
  readonly values: ReturnType<typeof parseArgs<{ args: string[]; options: T & typeof helpOption }>>["values"];
  readonly number: NumberOption;
  /** An integer option from `min` to `max`. */
  readonly integer: (name: string, text: string, min: number, max: number) => number;
  /** A number of seconds from `min` to `max` (fractions allowed). */
  readonly seconds: (name: string, text: string, min: number, max: number) => number;
}

/**
 * Reads a benchmark's command line: `options` plus `--help`/`-h`, which prints `usage` and exits
 * 0. An unknown option throws (the caller exits 2).
 *
 * @example
 * const { values, integer } = benchmarkOptions(argv, usage, { agents: { type: "string", default: "2000" } });
 * const agents = integer("agents", values.agents, 1, 60_000);
 */
export function benchmarkOptions<const T extends ParseArgsOptionsConfig>(argv: string[], usage: string, options: T): BenchmarkArguments<T> {
  const { values } = parseArgs({ args: joinStringValues(argv, options), options: { ...options, ...helpOption } });
  if ((values as { help?: boolean }).help) {
    console.log(usage);
    process.exit(0);
  }
  const number = numberOption(usage);
  return {
    values,
    number,
    integer: (name, text, min, max) => number(name, text, (n) => Number.isInteger(n) && n >= min && n <= max, `an integer from ${min} to ${max}`),
    seconds: (name, text, min, max) => number(name, text, (n) => n >= min && n <= max, `a number of seconds from ${min} to ${max}`),
  };
}

/**
 * `--name VALUE` as `--name=VALUE` for the string options, so a value may begin with a dash
 * (`--server-args "--max-concurrent-handshakes 256"`), which parseArgs otherwise refuses as ambiguous.
 */
function joinStringValues(argv: readonly string[], options: ParseArgsOptionsConfig): string[] {
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    const name = arg.startsWith("--") ? arg.slice(2) : undefined;
    if (name !== undefined && options[name]?.type === "string" && i + 1 < argv.length) joined.push(`${arg}=${argv[++i] ?? ""}`);
    else joined.push(arg);
  }
  return joined;
}

/**
 * String options with their defaults, for `benchmarkOptions`.
 *
 * @example
 * stringOptions({ agents: "2000" }); // { agents: { type: "string", default: "2000" } }
 */
export function stringOptions<const T extends Record<string, string>>(defaults: T): { [K in keyof T]: { type: "string"; default: T[K] } } {
  return Object.fromEntries(Object.entries(defaults).map(([name, value]) => [name, { type: "string", default: value }])) as { [K in keyof T]: { type: "string"; default: T[K] } };
}

/** The flags bench/fleet-simulator.ts and bench/storm.ts share, for `benchmarkOptions`. */
export const fleetFlags = {
  processes: { type: "string" },
  "server-cpu-prof": { type: "string" },
  "server-node-options": { type: "string" },
  replicas: { type: "string" },
  haproxy: { type: "boolean", default: false },
} as const;

/** Agents per simulator process by default: one process's handshakes and timers stay cheap enough. */
const agentsPerProcess = 12_500;

/** `--processes`: simulator processes for the fleet, by default ceil(agents / 12,500). */
export function simulatorProcesses(number: NumberOption, text: string | undefined, agents: number): number {
  return number("processes", text ?? String(Math.ceil(agents / agentsPerProcess)), (n) => Number.isInteger(n) && n >= 1 && n <= 16 && n <= agents, "an integer from 1 to 16, at most --agents");
}

/** The longest `--server-node-options` taken. */
const maxNodeOptionsLength = 1000;

/**
 * `--server-node-options "FLAGS"`: Node/V8 flags for the server (e.g. `--max-semi-space-size=4`),
 * each a `--flag` or `--flag=value` token. Throws with the usage for anything else.
 */
export function nodeOptionsFlag(text: string | undefined, usage: string): { serverNodeFlags?: string } {
  if (text === undefined || text.trim() === "") return {};
  const tokens = text.trim().split(/\s+/);
  if (text.length > maxNodeOptionsLength || !tokens.every((token) => /^--[a-z0-9][a-z0-9_-]*(=\S+)?$/i.test(token))) {
    throw new Error(`--server-node-options must be Node flags such as "--max-semi-space-size=4" (each --name or --name=value, ${maxNodeOptionsLength} characters at most), got "${text.slice(0, 100)}".\n${usage}`);
  }
  return { serverNodeFlags: tokens.join(" ") };
}

/** `--server-cpu-prof DIR` and `--server-node-options` as the server's NODE_OPTIONS, for the options of a server start. */
export function serverNodeOptions(options: { readonly serverCpuProfDir?: string; readonly serverNodeFlags?: string }): { serverNodeOptions?: string } {
  const flags = [options.serverCpuProfDir ? `--cpu-prof --cpu-prof-dir=${options.serverCpuProfDir}` : undefined, options.serverNodeFlags].filter(Boolean).join(" ");
  return flags ? { serverNodeOptions: flags } : {};
}
