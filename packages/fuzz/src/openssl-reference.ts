import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** What `openssl x509|req|crl -inform DER` made of one input. */
export interface OpensslView {
  readonly accepted: boolean;
  readonly serial?: string;
  /** Attribute values of the subject (CRL: issuer), sorted: compared as a multiset. */
  readonly nameValues?: string[];
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  readonly spkiSha256?: string;
  /** CSR: the self-signature verified. */
  readonly signatureValid?: boolean;
  /** CRL facts. */
  readonly crlNumber?: number;
  readonly revokedSerials?: string[];
}

/** Which openssl command reads the input: `x509`, `req` or `crl`. */
export type OpensslKind = "certificate" | "csr" | "crl";

const commands: Record<OpensslKind, string[]> = {
  certificate: ["x509", "-noout", "-nameopt", "RFC2253", "-serial", "-subject", "-startdate", "-enddate", "-pubkey"],
  csr: ["req", "-noout", "-nameopt", "RFC2253", "-subject", "-pubkey", "-verify"],
  crl: ["crl", "-noout", "-nameopt", "RFC2253", "-issuer", "-lastupdate", "-nextupdate", "-crlnumber", "-text"],
};

/** `CN=a,O=b+OU=c` (RFC 2253, simple values only) → sorted values. */
export function rfc2253Values(text: string): string[] {
  return text.length === 0 ? [] : text.split(/[,+]/).map((part) => part.slice(part.indexOf("=") + 1)).sort();
}

function parseView(kind: OpensslKind, code: number, stdout: string, stderr: string): OpensslView {
  // `req -verify` exits 1 when the signature cannot be checked, after reading the request.
  // and before printing anything when it cannot even try (unknown algorithm, unusable key).
  const readAnyway = kind === "csr" && (/^subject=/m.test(stdout) || /ASN1_item_verify/.test(stderr));
  if (code !== 0 && !readAnyway) return { accepted: false };
  const line = (key: string) => new RegExp(`^${key}=(.*)$`, "m").exec(stdout)?.[1];
  const date = (text: string | undefined) => (text === undefined || text === "NONE" ? undefined : new Date(text));
  const pem = /-----BEGIN PUBLIC KEY-----([\s\S]*?)-----END PUBLIC KEY-----/.exec(stdout)?.[1];
  const spkiSha256 = pem ? createHash("sha256").update(Buffer.from(pem.replace(/\s+/g, ""), "base64")).digest("hex") : undefined;
  switch (kind) {
    case "certificate":
      return { accepted: true, serial: line("serial")?.toLowerCase(), nameValues: rfc2253Values(line("subject") ?? ""), notBefore: date(line("notBefore")), notAfter: date(line("notAfter")), ...(spkiSha256 ? { spkiSha256 } : {}) };
    case "csr":
      return { accepted: true, ...(line("subject") === undefined ? {} : { nameValues: rfc2253Values(line("subject")!) }), ...(spkiSha256 ? { spkiSha256 } : {}), signatureValid: /verify OK/.test(stderr) };
    case "crl": {
      const number = line("crlNumber");
      return {
        accepted: true,
        nameValues: rfc2253Values(line("issuer") ?? ""),
        notBefore: date(line("lastUpdate")),
        notAfter: date(line("nextUpdate")),
        ...(number && number.startsWith("0x") ? { crlNumber: Number.parseInt(number.slice(2), 16) } : {}),
        revokedSerials: [...stdout.matchAll(/^\s+Serial Number: (-?[0-9A-F]+)$/gm)].map((m) => m[1]!.toLowerCase()),
      };
    }
  }
}

/**
 * Runs openssl once per input, `concurrency` at a time (openssl 3 has no batch mode for
 * `x509`/`req`/`crl` on many DER files; spawning costs ~5 ms, hence a sample).
 */
export async function opensslViews(kind: OpensslKind, inputs: readonly Buffer[], concurrency = 2): Promise<OpensslView[]> {
  const dir = mkdtempSync(join(tmpdir(), "pier-fuzz-openssl-"));
  const out: OpensslView[] = new Array<OpensslView>(inputs.length);
  let next = 0;
  const worker = async () => {
    for (let index = next++; index < inputs.length; index = next++) {
      const file = join(dir, `${index}.der`);
      writeFileSync(file, inputs[index]!);
      out[index] = await new Promise<OpensslView>((resolve) => {
        execFile("openssl", [commands[kind][0]!, "-inform", "DER", "-in", file, ...commands[kind].slice(1)], { timeout: 10_000, maxBuffer: 4 << 20 }, (error, stdout, stderr) => {
          const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
          resolve(parseView(kind, code, stdout, stderr));
        });
      });
      rmSync(file, { force: true });
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
