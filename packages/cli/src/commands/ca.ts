import { resolve } from "node:path";
import {
  CertificateAuthority,
  caPaths,
  canonicalSerial,
  colonHex,
  inspectPkiFile,
  isSlowKeyType,
  parseKeyType,
  parseRevocationReason,
  parsePem,
  parseSanList,
  readPkiFile,
  writeFileAtomic,
  writeNewFile,
  type IssuedRecord,
  type KeyType,
} from "@pier/pki";
import { optionalInteger, parseCommand, readInputFile, readPassphrase, required } from "../args.ts";
import { CliError, exitCodes } from "../errors.ts";
import { withProgress } from "../progress.ts";
import type { Output } from "../output.ts";

const usage = `Usage: pier ca <command> [options]

Pier's built-in certificate authority, kept in a directory (ca.crt, ca.key, ca-state.json, issued/).

Commands:
  init    --dir DIR [--key-type TYPE] [--cn NAME] [--days N] [--passphrase-file F]
  issue   server --dir DIR --san DNS:name,IP:addr [--cn NAME] [--days N] [--key-type TYPE] --out PREFIX
  issue   client --dir DIR --cn NAME [--san …] [--days N] [--key-type TYPE] --out PREFIX
  sign    --dir DIR --csr FILE --profile client|server [--cn NAME] [--san …] [--days N] --out FILE
  revoke  --dir DIR (--cert FILE | --serial HEX | HEX) [--reason REASON]
          (a server's DATA/ca also takes the serial of a device certificate it issued)
  crl     --dir DIR --out FILE [--days N]
  list    --dir DIR [--json]
  inspect FILE

Key types: ecdsa-p256 (default), ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096, rsa-8192.
The CA key passphrase comes from --passphrase-file or PIER_CA_PASSPHRASE, never from a flag value.
Issued keys are written with mode 0600; existing files are never overwritten.`;

function keyTypeOption(value: string | boolean | undefined): KeyType | undefined {
  return typeof value === "string" ? parseKeyType(value) : undefined;
}

function openCa(dir: string | boolean | undefined, passphraseFile: string | boolean | undefined, command: string): CertificateAuthority {
  const passphrase = readPassphrase(passphraseFile);
  return CertificateAuthority.open(required(dir, "--dir", command), passphrase === undefined ? {} : { passphrase });
}

function describeRecord(record: IssuedRecord): string {
  return `serial ${record.serialNumber}, ${record.subject}${record.subjectAltNames.length ? `, SAN ${record.subjectAltNames.join(", ")}` : ""}, valid until ${record.notAfter}`;
}

async function init(argv: string[], out: Output): Promise<number> {
  const { values } = parseCommand("ca init", argv, {
    dir: { type: "string" },
    "key-type": { type: "string" },
    cn: { type: "string" },
    days: { type: "string" },
    "passphrase-file": { type: "string" },
  });
  if (values.help) return out.help(usage);
  const dir = required(values.dir, "--dir", "ca init");
  const keyType = keyTypeOption(values["key-type"]) ?? "ecdsa-p256";
  const passphrase = readPassphrase(values["passphrase-file"]);
  const days = optionalInteger(values.days, "--days");
  const ca = await withProgress(
    `Generating ${keyType} CA key`,
    CertificateAuthority.create(dir, {
      keyType,
      ...(values.cn === undefined ? {} : { commonName: values.cn }),
      ...(days === undefined ? {} : { days }),
      ...(passphrase === undefined ? {} : { passphrase }),
    }),
    isSlowKeyType(keyType),
  );
  const paths = caPaths(resolve(dir));
  out.line(`Created CA "${ca.certificate.subjectText}" (${ca.certificate.key.label}, valid until ${ca.certificate.notAfter.toISOString()})`);
  out.line(`  ${paths.certificate}  CA certificate: give it to servers (--sslcacert / --mtlscacert) and agents (--mtlscacert)`);
  out.line(`  ${paths.key}  CA private key, mode 0600${passphrase === undefined ? "" : ", encrypted with your passphrase"}: keep it secret and backed up`);
  out.line(`  SHA-256 fingerprint ${colonHex(ca.certificate.fingerprintSha256)}`);
  return exitCodes.ok;
}

function writeIssued(prefix: string, certificatePem: string, privateKeyPem?: string): { certPath: string; keyPath?: string } {
  const certPath = `${prefix}.crt`;
  const keyPath = `${prefix}.key`;
  if (privateKeyPem !== undefined) writeNewFile(keyPath, privateKeyPem, 0o600);
  writeNewFile(certPath, certificatePem, 0o644);
  return privateKeyPem === undefined ? { certPath } : { certPath, keyPath };
}

async function issue(argv: string[], out: Output): Promise<number> {
  const { values, positionals } = parseCommand("ca issue", argv, {
    dir: { type: "string" },
    san: { type: "string", multiple: true },
    cn: { type: "string" },
    days: { type: "string" },
    "key-type": { type: "string" },
    out: { type: "string" },
    "passphrase-file": { type: "string" },
  });
  if (values.help) return out.help(usage);
  const profile = positionals[0];
  if (profile !== "server" && profile !== "client") throw new CliError("usage", `pier ca issue needs a profile: "server" or "client"${profile ? `, not "${profile}"` : ""}.`);
  const prefix = required(values.out, "--out", "ca issue");
  const ca = openCa(values.dir, values["passphrase-file"], "ca issue");
  const keyType = keyTypeOption(values["key-type"]) ?? "ecdsa-p256";
  const days = optionalInteger(values.days, "--days");
  const subjectAltNames = (values.san ?? []).flatMap((s) => parseSanList(s));
  const issued = await withProgress(
    `Generating ${keyType} key`,
    ca.issueWithNewKey({
      profile,
      keyType,
      subjectAltNames,
      ...(values.cn === undefined ? {} : { commonName: values.cn }),
      ...(days === undefined ? {} : { days }),
    }),
    isSlowKeyType(keyType),
  );
  const paths = writeIssued(prefix, issued.certificatePem, issued.privateKeyPem);
  out.line(`Issued ${profile} certificate: ${describeRecord(issued.record)}`);
  out.line(`  ${paths.certPath}  certificate (EKU ${profile === "server" ? "serverAuth" : "clientAuth"}, signed by ${ca.certificate.subjectText})`);
  out.line(`  ${paths.keyPath ?? ""}  private key, mode 0600`);
  return exitCodes.ok;
}

async function sign(argv: string[], out: Output): Promise<number> {
  const { values } = parseCommand("ca sign", argv, {
    dir: { type: "string" },
    csr: { type: "string" },
    profile: { type: "string" },
    cn: { type: "string" },
    san: { type: "string", multiple: true },
    days: { type: "string" },
    out: { type: "string" },
    "passphrase-file": { type: "string" },
  });
  if (values.help) return out.help(usage);
  const profile = required(values.profile, "--profile", "ca sign");
  if (profile !== "server" && profile !== "client") throw new CliError("usage", `--profile must be "client" or "server", not "${profile}".`);
  const outPath = required(values.out, "--out", "ca sign");
  const csrPath = required(values.csr, "--csr", "ca sign");
  const file = readPkiFile(readInputFile(csrPath, "--csr"));
  const csr = file.objects[0];
  if (!csr || csr.kind !== "csr") throw new CliError("input", `${csrPath} does not hold a certificate signing request (found ${csr ? csr.kind : file.encoding}).`);
  const ca = openCa(values.dir, values["passphrase-file"], "ca sign");
  const days = optionalInteger(values.days, "--days");
  const signed = await ca.signCsr(csr.der, {
    profile,
    subjectAltNames: (values.san ?? []).flatMap((s) => parseSanList(s)),
    ...(values.cn === undefined ? {} : { commonName: values.cn }),
    ...(days === undefined ? {} : { days }),
  });
  writeNewFile(outPath, signed.certificatePem, 0o644);
  out.line(`Signed ${profile} certificate: ${describeRecord(signed.record)}`);
  out.line(`  ${outPath}`);
  for (const note of signed.ignored) out.line(`  note: ${note}`);
  return exitCodes.ok;
}

async function revoke(argv: string[], out: Output): Promise<number> {
  const { values, positionals } = parseCommand("ca revoke", argv, {
    dir: { type: "string" },
    cert: { type: "string" },
    serial: { type: "string" },
    reason: { type: "string" },
  });
  if (values.help) return out.help(usage);
  const ca = openCa(values.dir, undefined, "ca revoke");
  if (positionals.length > 1) throw new CliError("usage", `ca revoke takes one serial, got ${positionals.length}: ${positionals.join(" ")}.`);
  const serialText = values.serial ?? positionals[0];
  if ((values.cert === undefined) === (serialText === undefined) || (values.serial !== undefined && positionals.length > 0)) {
    throw new CliError("usage", "Give exactly one of --cert FILE, --serial HEX or the serial itself.");
  }
  let serial: string;
  if (values.cert !== undefined) {
    const [block] = parsePem(readInputFile(values.cert, "--cert"));
    if (!block) throw new CliError("input", `${values.cert} holds no PEM certificate.`);
    serial = ca.serialOf(block.der);
  } else {
    serial = canonicalSerial(serialText ?? "");
  }
  const reason = values.reason === undefined ? "unspecified" : parseRevocationReason(values.reason);
  const record = await ca.revoke(serial, reason);
  if ("external" in record) {
    out.line(`Revoked device certificate serial ${record.serialNumber}, reason ${reason} (recorded in ${ca.dir}/ca-state.json; a running Pier server using this CA picks it up).`);
    return exitCodes.ok;
  }
  out.line(`Revoked ${record.subject} (serial ${record.serialNumber}), reason ${reason}.`);
  out.line(`Publish a new CRL so servers see it: pier ca crl --dir ${ca.dir} --out crl.pem`);
  return exitCodes.ok;
}

async function crl(argv: string[], out: Output): Promise<number> {
  const { values } = parseCommand("ca crl", argv, {
    dir: { type: "string" },
    out: { type: "string" },
    days: { type: "string" },
    "passphrase-file": { type: "string" },
  });
  if (values.help) return out.help(usage);
  const outPath = required(values.out, "--out", "ca crl");
  const ca = openCa(values.dir, values["passphrase-file"], "ca crl");
  const days = optionalInteger(values.days, "--days");
  const result = await ca.generateCrl(days === undefined ? {} : { days });
  writeFileAtomic(outPath, result.pem, 0o644);
  const revoked = ca.list().filter((c) => c.status === "revoked").length;
  out.line(`Wrote CRL number ${result.crlNumber} with ${revoked} revoked certificate(s) to ${outPath}; next update due ${result.nextUpdate.toISOString()}.`);
  return exitCodes.ok;
}

function list(argv: string[], out: Output): number {
  const { values } = parseCommand("ca list", argv, { dir: { type: "string" }, json: { type: "boolean" } });
  if (values.help) return out.help(usage);
  const ca = openCa(values.dir, undefined, "ca list");
  const entries = ca.list();
  if (values.json) {
    out.line(JSON.stringify(entries, null, 2));
    return exitCodes.ok;
  }
  out.line(`CA ${ca.certificate.subjectText}, valid until ${ca.certificate.notAfter.toISOString()}; ${entries.length} certificate(s) issued`);
  const rows = [["SERIAL", "SUBJECT", "PROFILE", "NOT AFTER", "STATUS"], ...entries.map((e) => [e.serialNumber, e.subject, e.profile, e.notAfter, e.revoked ? `revoked (${e.revoked.reason})` : e.status])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  for (const row of rows) out.line(row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ").trimEnd());
  return exitCodes.ok;
}

function inspect(argv: string[], out: Output): number {
  const { values, positionals } = parseCommand("ca inspect", argv, {});
  if (values.help) return out.help(usage);
  const path = positionals[0];
  if (!path) throw new CliError("usage", "pier ca inspect needs a FILE.");
  const lines = inspectPkiFile(readInputFile(path, "FILE"));
  for (const line of lines) out.line(line);
  return readPkiFile(readInputFile(path, "FILE")).objects.some((o) => o.kind !== "unknown") ? exitCodes.ok : exitCodes.problems;
}

/** `pier ca …` */
export async function caCommand(argv: string[], out: Output): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case "init":
      return init(rest, out);
    case "issue":
      return issue(rest, out);
    case "sign":
      return sign(rest, out);
    case "revoke":
      return revoke(rest, out);
    case "crl":
      return crl(rest, out);
    case "list":
      return list(rest, out);
    case "inspect":
      return inspect(rest, out);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      return out.help(usage);
    default:
      throw new CliError("usage", `Unknown command "pier ca ${sub}".\n\n${usage}`);
  }
}
