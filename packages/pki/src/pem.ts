import { PkiError } from "./errors.ts";

/** One PEM block: its label (`CERTIFICATE`, `PRIVATE KEY`…) and the DER it carries. */
export interface PemBlock {
  readonly label: string;
  readonly der: Buffer;
}

const blockPattern = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** Wraps DER in PEM armour with 64-character lines (RFC 7468). */
export function toPem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** True when the bytes look like PEM text rather than binary DER. */
export function looksLikePem(data: Buffer | string): boolean {
  return (typeof data === "string" ? data : data.toString("latin1")).includes("-----BEGIN ");
}

/**
 * Every PEM block in the text, in order. Throws `malformed_pem` when a block's base64 is
 * damaged or a block has no END line (also after complete ones: a file cut short); returns an
 * empty list when there is no PEM at all.
 *
 * @example
 * const [first] = parsePem(readFileSync("bundle.crt"));
 */
export function parsePem(data: Buffer | string): PemBlock[] {
  const text = typeof data === "string" ? data : data.toString("latin1");
  const out: PemBlock[] = [];
  for (const match of text.matchAll(blockPattern)) {
    const label = match[1] ?? "";
    const body = (match[2] ?? "").split("\n").filter((line) => !line.includes(":")).join("");
    const compact = body.replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) {
      throw new PkiError("malformed_pem", `The PEM block "${label}" has damaged base64 content (was the file edited or truncated?).`);
    }
    out.push({ label, der: Buffer.from(compact, "base64") });
  }
  // A block cut short after complete ones (a bundle read while it is being written) would
  // otherwise vanish silently: a client CA bundle would lose a CA and its devices (issue 22).
  const begins = text.match(/-----BEGIN /g)?.length ?? 0;
  const lastEnd = text.lastIndexOf("-----END ");
  const tail = lastEnd === -1 ? "" : text.slice(text.indexOf("-----", lastEnd + 9) + 5).trim();
  // Cut inside the next BEGIN line itself ("-----BEG").
  const cutInBegin = tail !== "" && ("-----BEGIN ".startsWith(tail) || tail.startsWith("-----BEGIN"));
  if (begins > out.length || (out.length > 0 && cutInBegin)) {
    const problem = out.length === 0 ? "The file has a PEM BEGIN line without a matching END line" : `The file's PEM block ${out.length + 1} has a BEGIN line without a matching END line, after ${out.length} complete one(s)`;
    throw new PkiError("malformed_pem", `${problem} (truncated, or read while it was being written?).`);
  }
  return out;
}
