import { createHash } from "node:crypto";

/** The `prevHash` of the first entry of the trail: 64 zeros. */
export const auditGenesisHash = "0".repeat(64);

/** The fields of an audit entry its hash covers (docs/security.md "Activity log: hash chain"). */
export interface AuditChainFields {
  readonly id: number;
  /** A Date, or milliseconds since the epoch. */
  readonly at: Date | number;
  readonly kind: string;
  readonly environmentId: number | null;
  readonly edgeId: string | null;
  readonly sourceAddress: string | null;
  readonly actor: string | null;
  readonly detail: Record<string, unknown>;
}

/** An entry as the chain links it: its fields, the hash of the entry before it, and its own. */
export interface AuditChainEntry extends AuditChainFields {
  readonly prevHash: string;
  readonly hash: string;
}

/**
 * The canonical encoding of an entry: a JSON array of a version tag and the fields in a fixed
 * order, `at` in milliseconds and `detail` as its own JSON text, so the same entry encodes to the
 * same bytes whichever engine stored it and whether it is read from the database or an export.
 *
 * @example
 * canonicalAuditEntry({ id: 1, at: 0, kind: "removed", environmentId: 7, edgeId: null, sourceAddress: null, actor: "admin", detail: {} });
 * // '["pier-audit-1",1,0,"removed",7,null,null,"admin","{}"]'
 */
export function canonicalAuditEntry(entry: AuditChainFields): string {
  const at = typeof entry.at === "number" ? entry.at : entry.at.getTime();
  return JSON.stringify(["pier-audit-1", entry.id, at, entry.kind, entry.environmentId, entry.edgeId, entry.sourceAddress, entry.actor, JSON.stringify(entry.detail)]);
}

/**
 * `SHA-256(prevHash || canonicalAuditEntry(entry))` in lowercase hex: the entry's link in the chain.
 *
 * @example
 * const hash = auditEntryHash(auditGenesisHash, firstEntry);
 */
export function auditEntryHash(prevHash: string, entry: AuditChainFields): string {
  return createHash("sha256").update(prevHash, "utf8").update(canonicalAuditEntry(entry), "utf8").digest("hex");
}

/** What is wrong with an entry: `altered` (its hash does not match its fields) or `unlinked` (an entry before it was removed, added or reordered). */
export interface AuditChainBreak {
  readonly id: number;
  readonly problem: "altered" | "unlinked";
  readonly message: string;
}

/**
 * Checks a chain entry by entry, in chain order (ascending id), without holding it in memory.
 *
 * @example
 * const verifier = new AuditChainVerifier(auditGenesisHash);
 * for (const entry of entries) { const broken = verifier.check(entry); if (broken) throw new Error(broken.message); }
 * console.log(verifier.checked, verifier.head);
 */
export class AuditChainVerifier {
  /** Entries checked so far. */
  checked = 0;
  /** The hash of the last entry checked: the head once all are checked (`firstPrevHash` while none is). */
  head: string;
  /** The first entry's `prevHash`: the expected one, or the one it carried when none was expected. */
  firstPrevHash: string | undefined;
  #lastId: number | undefined;

  /** @param expectedFirstPrevHash what the first entry must link to; `undefined` takes the first entry's as given (an export that starts mid-chain). */
  constructor(expectedFirstPrevHash?: string) {
    this.firstPrevHash = expectedFirstPrevHash;
    this.head = expectedFirstPrevHash ?? "";
  }

  /** Checks the next entry; `null` when it is sound, else what is wrong with it (checking should stop there). */
  check(entry: AuditChainEntry): AuditChainBreak | null {
    const previous = this.#lastId === undefined ? "the start of the chain" : `entry ${this.#lastId}`;
    if (this.checked === 0 && this.firstPrevHash === undefined) this.firstPrevHash = entry.prevHash;
    else if (entry.prevHash !== this.head) {
      return { id: entry.id, problem: "unlinked", message: `entry ${entry.id} does not link to ${previous} (its prevHash is ${entry.prevHash}, ${previous} has hash ${this.head}): an entry between them was removed, added or reordered` };
    }
    const expected = auditEntryHash(entry.prevHash, entry);
    if (entry.hash !== expected) {
      return { id: entry.id, problem: "altered", message: `entry ${entry.id} was altered: its stored hash is ${entry.hash}, but its fields hash to ${expected}` };
    }
    this.checked++;
    this.head = entry.hash;
    this.#lastId = entry.id;
    return null;
  }
}

/**
 * The acting user of an event written before entries had an `actor`, and of callers that name it
 * only in `detail`: Pier's routes put the user's name in `detail.by` or `detail.user`.
 *
 * @example
 * actorFromDetail({ by: "admin" }); // "admin"
 */
export function actorFromDetail(detail: Record<string, unknown>): string | null {
  const named = detail["by"] ?? detail["user"];
  return typeof named === "string" && named !== "" ? named : null;
}
