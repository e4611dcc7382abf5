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
 * damaged; returns an empty list when there is no PEM at all.
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
  if (out.length === 0 && looksLikePem(text)) {
    throw new PkiError("malformed_pem", "The file has a PEM BEGIN line without a matching END line (truncated file?).");
  }
  return out;
}
