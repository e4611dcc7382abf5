import { parseArgs, type ParseArgsConfig } from "node:util";
import { readFileSync } from "node:fs";
import { CliError } from "./errors.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Parses a subcommand's arguments strictly; unknown flags become usage errors naming the command. */
export function parseCommand<T extends Options>(command: string, argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
  } catch (error) {
    throw new CliError("usage", `${(error as Error).message.replace(/\. To specify a positional argument.*$/, "")}. See: pier ${command} --help`);
  }
}

/** A required string option. */
export function required(value: string | boolean | undefined, flag: string, command: string): string {
  if (typeof value !== "string" || value === "") throw new CliError("usage", `${flag} is required. See: pier ${command} --help`);
  return value;
}

/** An optional whole-number option. */
export function optionalInteger(value: string | boolean | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !/^\d+$/.test(value)) throw new CliError("usage", `${flag} needs a whole number, got "${String(value)}".`);
  return Number(value);
}

/** Reads a file the user named, with an error that says which flag it came from. */
export function readInputFile(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message;
    throw new CliError("input", `Cannot read ${flag} ${path}: ${reason}.`, { cause: error });
  }
}

/**
 * The CA passphrase, from `--passphrase-file` or `PIER_CA_PASSPHRASE`; never from a flag value,
 * which would leak into shell history and `ps`.
 */
export function readPassphrase(file: string | boolean | undefined): string | undefined {
  if (typeof file === "string") {
    const text = readInputFile(file, "--passphrase-file").toString("utf8").replace(/\r?\n$/, "");
    if (text.length === 0) throw new CliError("input", `The passphrase file ${file} is empty.`);
    return text;
  }
  const fromEnvironment = process.env.PIER_CA_PASSPHRASE;
  return fromEnvironment === undefined || fromEnvironment === "" ? undefined : fromEnvironment;
}
