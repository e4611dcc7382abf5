import { ServerError, copyStore } from "@pier/server";
import { parseCommand, required } from "../args.ts";
import { CliError, exitCodes } from "../errors.ts";
import type { Output } from "../output.ts";

const usage = `Usage: pier store <command> [options]

Pier's store (the database under the server).

Commands:
  copy  --from DATA/pier.db --to postgres://USER:PASSWORD@HOST:PORT/DB [--secret-file FILE]
        Copies a single server's SQLite store into an empty PostgreSQL database, in one
        transaction, keeping ids. With --secret-file (the replicas' secret file), also stores
        DATA's built-in CA, server key, JWT secret and uploaded mTLS set there, encrypted, so
        replicas keep the same CA, the SPKI pin of every EDGE_KEY and the logins.
        Stop the single server first. The URL may also come from PIER_DATABASE_URL and the
        secret file from PIER_SECRET_FILE.`;

/**
 * `pier store copy`: moves a single server's `DATA/pier.db` into PostgreSQL (docs/deploy.md,
 * "From one server to replicas").
 *
 * @example
 * await storeCommand(["copy", "--from", "/var/lib/pier/pier.db", "--to", url, "--secret-file", "/run/secrets/pier-secret"], out);
 */
export async function storeCommand(argv: string[], out: Output): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "help" || sub === "--help" || sub === "-h") return out.help(usage);
  if (sub !== "copy") throw new CliError("usage", `Unknown command "pier store ${sub}".\n\n${usage}`);
  const { values, positionals } = parseCommand("store copy", rest, {
    from: { type: "string" },
    to: { type: "string" },
    "secret-file": { type: "string" },
  });
  if (values.help) return out.help(usage);
  if (positionals.length > 0) throw new CliError("usage", `pier store copy takes no positional arguments, got: ${positionals.join(" ")}.`);
  const from = required(values.from, "--from", "store copy");
  const to = required(values.to ?? process.env.PIER_DATABASE_URL, "--to", "store copy");
  const secretFile = values["secret-file"] ?? (process.env.PIER_SECRET_FILE || undefined);
  try {
    const result = await copyStore({ from, to, ...(secretFile === undefined ? {} : { secretFile }) });
    const rows = Object.entries(result.rows).map(([table, count]) => `${table} ${count}`).join(", ");
    out.line(`Copied ${from} into PostgreSQL: ${rows}.`);
    out.line(result.files.length > 0 ? `Stored ${result.files.length} shared files, encrypted: ${result.files.join(", ")}.` : "No shared files stored (no --secret-file): give one to keep this server's CA, server key and logins on the replicas.");
    return exitCodes.ok;
  } catch (error) {
    if (error instanceof ServerError) throw new CliError("failed", `the store copy failed: ${error.message}${error.fix ? ` ${error.fix}` : ""}`, { cause: error });
    throw error;
  }
}
