import { createReadStream, existsSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { type AuditVerification, ServerError, verifyAuditExport, verifyStoredAuditChain } from "@pier/server";
import { parseCommand } from "../args.ts";
import { CliError, exitCodes } from "../errors.ts";
import type { Output } from "../output.ts";

const usage = `Usage: pier audit verify (--data DIR | --database-url URL | --file EXPORT.jsonl)

Checks the activity log's hash chain (docs/security.md, "Activity log: hash chain"): that each
entry's hash matches its fields (else the entry was altered) and that it links to the entry
before it (else an entry was removed, added or reordered). Prints the entries checked and the
head hash; keep the head elsewhere and compare it next time, since whoever can write the
database can also recompute the whole chain.

Options:
  --data DIR            the server's data directory (its SQLite store, DIR/pier.db)
  --database-url URL    the replicas' PostgreSQL (default: PIER_DATABASE_URL)
  --file FILE           an export (JSON lines, GET /api/audit/export?format=jsonl); its first
                        entry's prevHash is taken as given and printed, to compare

Exit status: 0 when the chain holds, 1 when it is broken (naming the first bad entry).`;

/**
 * `pier audit verify`: checks the audit trail's hash chain in a store or in an export.
 *
 * @example
 * await auditCommand(["verify", "--file", "activity.jsonl"], out);
 */
export async function auditCommand(argv: string[], out: Output): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "help" || sub === "--help" || sub === "-h") return out.help(usage);
  if (sub !== "verify") throw new CliError("usage", `Unknown command "pier audit ${sub}".\n\n${usage}`);
  const { values, positionals } = parseCommand("audit verify", rest, {
    data: { type: "string" },
    "database-url": { type: "string" },
    file: { type: "string" },
  });
  if (values.help) return out.help(usage);
  if (positionals.length > 0) throw new CliError("usage", `pier audit verify takes no positional arguments, got: ${positionals.join(" ")}.`);
  const databaseUrl = values["database-url"] ?? (values.data === undefined && values.file === undefined ? process.env.PIER_DATABASE_URL || undefined : undefined);
  const given = [values.data, databaseUrl, values.file].filter((value) => value !== undefined);
  if (given.length !== 1) throw new CliError("usage", "Give exactly one of --data, --database-url or --file. See: pier audit verify --help");
  try {
    if (values.file !== undefined) return report(await verifyFile(values.file), `the export ${values.file}`, out, true);
    const file = join(values.data ?? "", "pier.db");
    // Opening a SQLite path creates it: a mistyped --data must not leave an empty store behind.
    if (databaseUrl === undefined && !existsSync(file)) throw new CliError("input", `No Pier store at ${file}: give the server's --data directory.`);
    const target = databaseUrl === undefined ? { path: file } : { url: databaseUrl };
    return report(await verifyStoredAuditChain(target), databaseUrl === undefined ? `the store in ${values.data ?? ""}` : "the PostgreSQL store", out, false);
  } catch (error) {
    if (error instanceof ServerError) throw new CliError("failed", `the audit check failed: ${error.message}${error.fix ? ` ${error.fix}` : ""}`, { cause: error });
    throw error;
  }
}

async function verifyFile(path: string): Promise<AuditVerification> {
  const input = createReadStream(path, { encoding: "utf8" });
  const opened = new Promise<void>((resolve, reject) => {
    input.once("open", () => resolve());
    input.once("error", reject);
  });
  try {
    await opened;
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message;
    throw new CliError("input", `Cannot read --file ${path}: ${reason}.`, { cause: error });
  }
  const lines = createInterface({ input, crlfDelay: Infinity });
  try {
    return await verifyAuditExport(lines);
  } finally {
    lines.close();
    input.destroy();
  }
}

function report(found: AuditVerification, what: string, out: Output, export_: boolean): number {
  if (export_ && found.firstPrevHash !== "") out.line(`First entry's prevHash (taken as given): ${found.firstPrevHash}`);
  if (found.broken !== null) {
    out.line(`Broken chain in ${what}: ${found.broken.message}.`);
    out.line(`Entries checked before it: ${found.checked}; last sound hash: ${found.head || "(none)"}`);
    return exitCodes.problems;
  }
  out.line(`Entries checked: ${found.checked}`);
  out.line(`Head hash: ${found.checked === 0 ? "(no entries)" : found.head}`);
  out.line(`The chain in ${what} holds. Keep the head hash elsewhere and compare it next time.`);
  return exitCodes.ok;
}
