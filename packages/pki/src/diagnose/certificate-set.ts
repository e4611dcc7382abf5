import { isIP } from "node:net";
import { createPrivateKey, type KeyObject } from "node:crypto";
import { Oid } from "../asn1/oids.ts";
import { type CertificateInfo, isIssuedBy, parseCertificate } from "../certificate.ts";
import { type CrlInfo, parseCrl } from "../crl.ts";
import { extKeyUsageName } from "../extensions.ts";
import { keysMatch } from "../keys.ts";
import { formatSan } from "../names.ts";
import { type PkiFile, type PkiObject, describeKind, readPkiFile } from "../pki-object.ts";

/** A file handed to the doctor: its name (for messages) and its bytes. */
export interface InputFile {
  readonly path: string;
  readonly data: Buffer;
}

/** The role a certificate set is meant to play in TLS. */
export type TlsRole = "client" | "server";

/** One problem: what is wrong and what to do about it. */
export interface Finding {
  readonly code: FindingCode;
  readonly severity: "error" | "warning";
  readonly file: string;
  readonly problem: string;
  readonly fix: string;
}

/** Stable codes of every defect `pier doctor` names. */
export type FindingCode =
  | "file_empty"
  | "not_pem_or_der"
  | "der_not_pem"
  | "wrong_input_type"
  | "ca_not_a_ca"
  | "ca_cannot_sign_certificates"
  | "ca_expired"
  | "chain_wrong_order"
  | "intermediate_not_a_ca"
  | "not_issued_by_ca"
  | "issuer_key_mismatch"
  | "expired"
  | "not_yet_valid"
  | "eku_missing"
  | "key_usage_missing"
  | "leaf_is_ca"
  | "san_missing"
  | "san_mismatch"
  | "key_mismatch"
  | "key_encrypted"
  | "weak_key"
  | "weak_signature"
  | "unknown_critical_extension"
  | "revoked"
  | "crl_expired"
  | "crl_wrong_issuer";

/** What the doctor checks and what it found. */
export interface CertificateSetInput {
  readonly ca?: InputFile;
  readonly cert: InputFile;
  readonly key?: InputFile;
  readonly crl?: InputFile;
  readonly role: TlsRole;
  /** Host name or IP the server certificate must cover. */
  readonly host?: string;
  readonly now?: Date;
}

export interface CertificateSetReport {
  /** True when nothing of severity "error" was found. */
  readonly ok: boolean;
  readonly findings: Finding[];
  /** What checked out, one line each. */
  readonly passed: string[];
}

const day = (d: Date) => d.toISOString().replace(".000Z", "Z");

class Findings {
  readonly list: Finding[] = [];
  readonly passed: string[] = [];
  error(code: FindingCode, file: string, problem: string, fix: string): void {
    this.list.push({ code, severity: "error", file, problem, fix });
  }
  warn(code: FindingCode, file: string, problem: string, fix: string): void {
    this.list.push({ code, severity: "warning", file, problem, fix });
  }
}

function openFile(file: InputFile, expected: "certificate" | "private key" | "CRL", found: Findings): PkiFile {
  const parsed = readPkiFile(file.data);
  if (parsed.encoding === "empty") found.error("file_empty", file.path, "the file is empty", `put the ${expected} in PEM form in ${file.path}`);
  else if (parsed.encoding === "garbage" && parsed.pemProblem !== undefined) found.error("not_pem_or_der", file.path, `this PEM text does not parse: ${parsed.pemProblem.replace(/^The file's /, "").replace(/\.$/, "")}`, `write the whole ${expected} file again, by writing a new file and renaming it over this one so that no reader sees it half-written`);
  else if (parsed.encoding === "garbage") found.error("not_pem_or_der", file.path, "this is neither PEM nor DER; it is not a certificate, key or CRL", `check that ${file.path} is the ${expected} file and was not truncated or edited`);
  else if (parsed.encoding === "der" && expected !== "CRL") {
    const convert = expected === "certificate" ? `openssl x509 -inform der -in ${file.path} -out ${file.path}.pem` : `openssl pkey -inform der -in ${file.path} -out ${file.path}.pem`;
    found.error("der_not_pem", file.path, `the ${expected} is DER (binary); Pier and Portainer read PEM`, `convert it: ${convert}`);
  }
  return parsed;
}

function wrongKind(file: InputFile, object: PkiObject, expected: string, found: Findings): void {
  const hint =
    object.kind === "csr" ? "this is the signing request; sign it first (pier ca sign) and use the resulting certificate"
    : object.kind === "private-key" || object.kind === "encrypted-private-key" ? `pass the key with --key and ${expected} here`
    : object.kind === "certificate" ? "pass certificates with --cert/--ca and the private key with --key"
    : `give a file holding ${expected}`;
  found.error("wrong_input_type", file.path, `expected ${expected}, found ${describeKind(object.kind)}`, hint);
}

function certificatesOf(file: InputFile, parsed: PkiFile, expected: string, found: Findings): CertificateInfo[] {
  const out: CertificateInfo[] = [];
  for (const object of parsed.objects) {
    if (object.kind === "certificate") out.push(parseCertificate(object.der));
    else wrongKind(file, object, expected, found);
  }
  return out;
}

function checkValidity(info: CertificateInfo, file: string, what: string, now: Date, found: Findings): void {
  if (now > info.notAfter) {
    found.error(what === "CA" ? "ca_expired" : "expired", file, `the ${what} certificate (${info.subjectText}) expired on ${day(info.notAfter)} (valid ${day(info.notBefore)} → ${day(info.notAfter)})`, what === "CA" ? "create a new CA and re-issue its certificates, or rotate to a new CA" : "issue a new certificate (pier ca issue …) and replace this one");
  } else if (now < info.notBefore) {
    found.error("not_yet_valid", file, `the ${what} certificate (${info.subjectText}) is not valid until ${day(info.notBefore)} (now ${day(now)})`, "check the clock of the machine that issued it and of this machine (NTP), or wait until then");
  }
}

function checkStrength(info: CertificateInfo, file: string, found: Findings): void {
  if ((info.key.algorithm === "rsa" && info.key.bits < 2048) || (info.key.algorithm === "ec" && info.key.bits < 256)) {
    found.error("weak_key", file, `${info.subjectText} has a weak ${info.key.label} key`, "re-issue with ECDSA P-256 (Pier's default) or RSA ≥ 2048");
  }
  if (info.signatureAlgorithm.weak && !info.selfIssued) {
    found.error("weak_signature", file, `${info.subjectText} is signed with ${info.signatureAlgorithm.name}, which TLS libraries reject`, "re-issue it with SHA-256 or better");
  }
  if (info.extensions.unknownCritical.length > 0) {
    found.error("unknown_critical_extension", file, `${info.subjectText} has critical extensions TLS peers will not understand: ${info.extensions.unknownCritical.join(", ")}`, "re-issue it without them");
  }
}

function checkCaCertificate(ca: CertificateInfo, file: string, now: Date, found: Findings, what = "CA"): void {
  if (!ca.isCa) {
    found.error(what === "CA" ? "ca_not_a_ca" : "intermediate_not_a_ca", file, `${ca.subjectText} is not a CA certificate (basicConstraints CA:TRUE is ${ca.extensions.basicConstraints ? "false" : "missing"})`, what === "CA" ? "pass the CA certificate that issued your certificates, not a server or client certificate" : "the chain contains a leaf where an intermediate CA belongs; rebuild the bundle from the real intermediate");
  } else if (ca.extensions.keyUsage && !ca.extensions.keyUsage.includes("keyCertSign")) {
    found.error("ca_cannot_sign_certificates", file, `${ca.subjectText} has keyUsage without keyCertSign, so it cannot sign certificates`, "re-create the CA with keyUsage keyCertSign, cRLSign");
  }
  checkValidity(ca, file, what, now, found);
}

/** Walks leaf → intermediates → CA anchors. Returns the anchor used, if any. */
function checkChain(leaf: CertificateInfo, intermediates: CertificateInfo[], anchors: CertificateInfo[], files: { cert: string; ca: string }, now: Date, found: Findings): CertificateInfo | undefined {
  let current = leaf;
  const seen = new Set<CertificateInfo>();
  for (let depth = 0; depth < 8; depth++) {
    const anchor = anchors.find((a) => isIssuedBy(current, a));
    if (anchor) return anchor;
    if (current.selfIssued && current.x509.verify(current.publicKey)) {
      found.error("not_issued_by_ca", files.cert, `${current.subjectText} is self-signed and is not the CA in ${files.ca}`, `use a certificate issued by the CA in ${files.ca}, or pass the CA that issued this one`);
      return undefined;
    }
    const next = intermediates.find((i) => !seen.has(i) && isIssuedBy(current, i));
    if (!next) {
      const sameName = [...anchors, ...intermediates].find((c) => c.subjectText === current.issuerText);
      // A same-named certificate that is not a CA was already reported as "not a CA".
      if (sameName && !sameName.isCa) return undefined;
      if (sameName) {
        found.error("issuer_key_mismatch", files.cert, `${current.subjectText} names ${current.issuerText} as issuer, but that CA's key did not sign it (the CA was re-created, or two CAs share a name)`, `re-issue the certificate from the CA in ${files.ca}, or use the CA file that matches it`);
      } else {
        const anchorNames = anchors.map((a) => a.subjectText).join("; ") || "(none)";
        found.error("not_issued_by_ca", files.cert, `${current.subjectText} was issued by "${current.issuerText}", which is not the CA in ${files.ca} (${anchorNames})`, `if "${current.issuerText}" is an intermediate CA under that root, append it to ${files.cert} after the leaf; otherwise this certificate comes from a different CA: use the matching CA file or re-issue it`);
      }
      return undefined;
    }
    seen.add(next);
    checkCaCertificate(next, files.cert, now, found, "intermediate CA");
    current = next;
  }
  return undefined;
}

function checkPurpose(leaf: CertificateInfo, role: TlsRole, file: string, found: Findings): void {
  const wanted = role === "client" ? Oid.clientAuth : Oid.serverAuth;
  const eku = leaf.extensions.extKeyUsage;
  if (eku && !eku.includes(wanted) && !eku.includes(Oid.anyExtendedKeyUsage)) {
    const name = extKeyUsageName(wanted);
    found.error("eku_missing", file, `extendedKeyUsage is ${eku.map(extKeyUsageName).join(", ")}, without ${name}: TLS ${role === "client" ? "servers" : "clients"} refuse it for the ${role} role`, `issue a ${role} certificate: pier ca issue ${role} … (openssl: -extfile with "extendedKeyUsage=${name}")`);
  }
  const ku = leaf.extensions.keyUsage;
  if (ku && !ku.includes("digitalSignature") && !(leaf.key.algorithm === "rsa" && ku.includes("keyEncipherment"))) {
    found.error("key_usage_missing", file, `keyUsage (${ku.join(", ")}) lacks digitalSignature, which TLS needs`, "re-issue with keyUsage digitalSignature");
  }
  if (leaf.isCa) {
    found.warn("leaf_is_ca", file, `${leaf.subjectText} is a CA certificate used as a ${role} certificate`, `issue a dedicated ${role} certificate; never give a CA's key to a ${role}`);
  }
}

function checkNames(leaf: CertificateInfo, host: string | undefined, role: TlsRole, file: string, found: Findings): void {
  const sans = leaf.extensions.subjectAltNames ?? [];
  if (role === "server" && sans.length === 0) {
    found.error("san_missing", file, "the certificate has no subjectAltName; TLS clients ignore the CN and will report a name mismatch", `re-issue with a SAN: pier ca issue server --san DNS:${host ?? "your.server.name"} (openssl: "subjectAltName=DNS:…")`);
    return;
  }
  if (host === undefined) return;
  const covered = isIP(host) ? leaf.x509.checkIP(host) !== undefined : leaf.x509.checkHost(host, { subject: "never" }) !== undefined;
  if (!covered) {
    found.error("san_mismatch", file, `the certificate's names (${sans.map(formatSan).join(", ") || "none"}) do not cover "${host}"`, `re-issue with --san ${isIP(host) ? "IP" : "DNS"}:${host}, or connect using one of the names it has`);
  }
}

function loadKey(file: InputFile, found: Findings): KeyObject | undefined {
  const parsed = openFile(file, "private key", found);
  const [object, ...rest] = parsed.objects;
  if (!object) return undefined;
  if (object.kind === "encrypted-private-key") {
    found.error("key_encrypted", file.path, "the private key is encrypted with a passphrase; Pier's server and agent need it unencrypted", `decrypt it to a file with mode 0600: openssl pkey -in ${file.path} -out ${file.path}.plain`);
    return undefined;
  }
  if (object.kind !== "private-key") {
    wrongKind(file, object, "a private key", found);
    return undefined;
  }
  if (rest.some((o) => o.kind === "private-key")) found.warn("wrong_input_type", file.path, "the key file holds more than one private key; only the first is used", "keep only the key that belongs to the certificate");
  const type = object.label === "RSA PRIVATE KEY" ? "pkcs1" : object.label === "EC PRIVATE KEY" ? "sec1" : "pkcs8";
  try {
    return createPrivateKey({ key: object.der, format: "der", type });
  } catch {
    return createPrivateKey({ key: object.der, format: "der", type: "pkcs8" });
  }
}

function checkRevocation(leaf: CertificateInfo, anchor: CertificateInfo | undefined, file: InputFile, certPath: string, now: Date, found: Findings): void {
  const parsed = openFile(file, "CRL", found);
  const object = parsed.objects[0];
  if (!object) return;
  if (object.kind !== "crl") {
    wrongKind(file, object, "a CRL", found);
    return;
  }
  const crl: CrlInfo = parseCrl(object.der);
  const issuer = anchor ?? undefined;
  if (issuer && (crl.issuerText !== issuer.subjectText || !crl.verifySignature(issuer.publicKey))) {
    found.error("crl_wrong_issuer", file.path, `the CRL was issued by ${crl.issuerText}${crl.issuerText === issuer.subjectText ? " but its signature does not verify with that CA's key" : ""}, not by the CA that issued the certificate (${issuer.subjectText})`, "use the CRL of the CA that issued the certificate: pier ca crl --dir CA_DIR --out crl.pem");
  }
  if (crl.nextUpdate && crl.nextUpdate < now) {
    found.error("crl_expired", file.path, `the CRL is out of date: its next update was due ${day(crl.nextUpdate)}`, "publish a fresh CRL: pier ca crl --dir CA_DIR --out crl.pem");
  }
  const entry = crl.revoked.find((r) => r.serialNumber === leaf.serialNumber);
  if (entry && (!issuer || crl.issuerText === leaf.issuerText)) {
    found.error("revoked", certPath, `certificate serial ${leaf.serialNumber} (${leaf.subjectText}) was revoked on ${day(entry.revokedAt)}, reason ${entry.reason} (according to ${file.path})`, "issue the device a new certificate; a revoked one cannot be reinstated");
  }
}

/**
 * Checks whether a CA file, certificate and key would work together for a TLS role, naming
 * each defect with its fix. Nothing here trusts file names: every input is classified by
 * content, so a key passed as a certificate or a DER file is reported as such.
 *
 * @example
 * const report = diagnoseCertificateSet({ ca, cert, key, role: "client" });
 * for (const f of report.findings) console.log(`✗ ${f.file}: ${f.problem} — ${f.fix}`);
 */
export function diagnoseCertificateSet(input: CertificateSetInput): CertificateSetReport {
  const now = input.now ?? new Date();
  const found = new Findings();
  const certFile = openFile(input.cert, "certificate", found);
  const certificates = certificatesOf(input.cert, certFile, "a certificate", found);
  const anchors = input.ca ? certificatesOf(input.ca, openFile(input.ca, "certificate", found), "a CA certificate", found) : [];
  for (const ca of anchors) checkCaCertificate(ca, input.ca!.path, now, found);

  const leafIndex = certificates.findIndex((c) => !c.isCa);
  const leaf = leafIndex >= 0 ? certificates[leafIndex]! : certificates[0];
  if (!leaf) return { ok: !found.list.some((f) => f.severity === "error"), findings: found.list, passed: found.passed };
  if (leafIndex > 0) {
    found.error("chain_wrong_order", input.cert.path, `the bundle starts with ${certificates[0]!.subjectText} (a CA), and the ${input.role} certificate ${leaf.subjectText} comes at position ${leafIndex + 1}`, `put the ${input.role} certificate first, then its intermediates (leaf → root order)`);
  }
  const intermediates = certificates.filter((c) => c !== leaf);
  checkValidity(leaf, input.cert.path, input.role, now, found);
  checkStrength(leaf, input.cert.path, found);
  checkPurpose(leaf, input.role, input.cert.path, found);
  checkNames(leaf, input.host, input.role, input.cert.path, found);
  let anchor: CertificateInfo | undefined;
  if (input.ca && anchors.length > 0) {
    anchor = checkChain(leaf, intermediates, anchors, { cert: input.cert.path, ca: input.ca.path }, now, found);
    if (anchor) found.passed.push(`${leaf.subjectText} chains to ${anchor.subjectText}`);
  }
  if (input.key) {
    const key = loadKey(input.key, found);
    if (key && !keysMatch(key, leaf.publicKey)) {
      found.error("key_mismatch", input.key.path, `the private key does not belong to ${leaf.subjectText} (its public key differs from the certificate's)`, "use the key generated with this certificate's CSR; compare with: openssl x509 -noout -pubkey -in CERT | openssl sha256 and openssl pkey -pubout -in KEY | openssl sha256");
    } else if (key) found.passed.push("the private key matches the certificate");
  }
  if (input.crl) checkRevocation(leaf, anchor, input.crl, input.cert.path, now, found);
  if (!found.list.some((f) => f.file === input.cert.path)) {
    const eku = leaf.extensions.extKeyUsage?.map(extKeyUsageName).join(", ") ?? "any purpose";
    found.passed.unshift(`${leaf.subjectText}: ${leaf.key.label}, ${eku}, valid until ${day(leaf.notAfter)}${input.host ? `, covers ${input.host}` : ""}`);
  }
  return { ok: !found.list.some((f) => f.severity === "error"), findings: found.list, passed: found.passed };
}
