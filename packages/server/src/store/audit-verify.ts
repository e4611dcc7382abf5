import { type AuditChainBreak, type AuditChainEntry, AuditChainVerifier, auditGenesisHash } from "./audit-chain.ts";
import { SqlAuditLog } from "./audit.ts";
import { type StoreTarget, openDatabase } from "./database.ts";
import { isRecord } from "./row-readers.ts";

/** What `pier audit verify` found. */
export interface AuditVerification {
  /** Entries whose hash and link were checked and found sound (those before `broken`). */
  readonly checked: number;
  /** The last sound entry's hash: the head, when nothing is broken. */
  readonly head: string;
  /** The first entry's `prevHash` (64 zeros when the chain starts at the first entry ever written). */
  readonly firstPrevHash: string;
  /** The first entry that does not hold, or `null`. */
  readonly broken: (Omit<AuditChainBreak, "problem"> & { problem: AuditChainBreak["problem"] | "unreadable" }) | null;
}

function result(verifier: AuditChainVerifier, broken: AuditVerification["broken"]): AuditVerification {
  return { checked: verifier.checked, head: verifier.head, firstPrevHash: verifier.firstPrevHash ?? "", broken };
}

/**
 * Checks the whole audit trail in a database, oldest first: each entry's hash, and that it links
 * to the one before (the first to 64 zeros). Reads a batch at a time; never writes (no migration).
 *
 * @example
 * const { checked, head, broken } = await verifyStoredAuditChain({ path: "/var/lib/pier/pier.db" });
 */
export async function verifyStoredAuditChain(target: StoreTarget): Promise<AuditVerification> {
  const database = await openDatabase(target);
  try {
    const verifier = new AuditChainVerifier(auditGenesisHash);
    for await (const batch of new SqlAuditLog(database).export({})) {
      for (const entry of batch) {
        const broken = verifier.check(entry);
        if (broken !== null) return result(verifier, broken);
      }
    }
    return result(verifier, null);
  } finally {
    await database.close();
  }
}

/** One line of a JSON Lines export as a chain entry; a string says what is wrong with it. */
export function parseAuditExportLine(line: string): AuditChainEntry | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return "is not JSON";
  }
  if (!isRecord(value)) return "is not a JSON object";
  const { id, at, kind, environmentId, edgeId, sourceAddress, actor, detail, prevHash, hash } = value;
  const nullableText = (field: unknown) => field === null || typeof field === "string";
  if (typeof id !== "number" || !Number.isSafeInteger(id)) return "has no whole-number id";
  const millis = typeof at === "string" ? Date.parse(at) : Number.NaN;
  if (Number.isNaN(millis)) return `(entry ${id}) has no ISO date in "at"`;
  if (typeof kind !== "string") return `(entry ${id}) has no kind`;
  if (!(environmentId === null || (typeof environmentId === "number" && Number.isSafeInteger(environmentId)))) return `(entry ${id}) has an environmentId that is neither null nor a whole number`;
  if (!nullableText(edgeId) || !nullableText(sourceAddress) || !nullableText(actor)) return `(entry ${id}) has an edgeId, sourceAddress or actor that is neither null nor text`;
  if (!isRecord(detail)) return `(entry ${id}) has a detail that is not an object`;
  if (typeof prevHash !== "string" || typeof hash !== "string") return `(entry ${id}) has no prevHash or hash`;
  return { id, at: millis, kind, environmentId, edgeId: edgeId, sourceAddress: sourceAddress, actor: actor, detail, prevHash, hash };
}

/**
 * Checks a JSON Lines export (`GET /api/audit/export?format=jsonl`), line by line: each entry's
 * hash, and that it links to the line before. The first line's `prevHash` is taken as given (an
 * export may start mid-chain); compare it, and the head, with values kept elsewhere.
 *
 * @example
 * const found = await verifyAuditExport(createInterface({ input: createReadStream("activity.jsonl") }));
 */
export async function verifyAuditExport(lines: AsyncIterable<string> | Iterable<string>): Promise<AuditVerification> {
  const verifier = new AuditChainVerifier();
  let number = 0;
  for await (const line of lines) {
    number++;
    if (line.trim() === "") continue;
    const entry = parseAuditExportLine(line);
    if (typeof entry === "string") {
      const id = /^\(entry (\d+)\)/.exec(entry)?.[1];
      return result(verifier, { id: id === undefined ? Number.NaN : Number(id), problem: "unreadable", message: `line ${number} ${entry}` });
    }
    const broken = verifier.check(entry);
    if (broken !== null) return result(verifier, broken);
  }
  return result(verifier, null);
}
