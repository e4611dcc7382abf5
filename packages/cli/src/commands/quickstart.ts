import { existsSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join, relative } from "node:path";
import { CertificateAuthority, caPaths, diagnoseCertificateSet, parseSanList, writeNewFile } from "@pier/pki";
import { parseCommand } from "../args.ts";
import { exitCodes } from "../errors.ts";
import type { Output } from "../output.ts";

const usage = `Usage: pier quickstart [--dir DIR] [--server-name NAME] [--device NAME]

Creates (or reuses) a built-in CA in DIR (default ./pier-pki), a server certificate for NAME
(default: this machine's host name, plus localhost and 127.0.0.1) and a client certificate
for one device, checks both with pier doctor, and prints how to use them.`;

async function ensureLeaf(ca: CertificateAuthority, dir: string, name: string, request: Parameters<CertificateAuthority["issueWithNewKey"]>[0], out: Output): Promise<void> {
  const certPath = join(dir, `${name}.crt`);
  if (existsSync(certPath)) {
    out.line(`  kept      ${certPath} (already there)`);
    return;
  }
  const issued = await ca.issueWithNewKey(request);
  writeNewFile(join(dir, `${name}.key`), issued.privateKeyPem, 0o600);
  writeNewFile(certPath, issued.certificatePem);
  out.line(`  issued    ${certPath} + ${name}.key (0600): ${issued.record.subject}${issued.record.subjectAltNames.length ? `, SAN ${issued.record.subjectAltNames.join(", ")}` : ""}, EKU ${request.profile === "server" ? "serverAuth" : "clientAuth"}`);
}

/** `pier quickstart`: the first-run path of the README. */
export async function quickstartCommand(argv: string[], out: Output): Promise<number> {
  const { values } = parseCommand("quickstart", argv, { dir: { type: "string" }, "server-name": { type: "string" }, device: { type: "string" } });
  if (values.help) return out.help(usage);
  const dir = values.dir ?? "pier-pki";
  const serverName = (values["server-name"] ?? hostname()).toLowerCase();
  const device = values.device ?? "edge-device-1";
  const show = (path: string) => relative(process.cwd(), path) || path;

  out.line(`Pier quickstart in ${dir}/`);
  let ca: CertificateAuthority;
  if (existsSync(caPaths(dir).certificate)) {
    ca = CertificateAuthority.open(dir);
    out.line(`  kept      ${show(caPaths(dir).certificate)}: ${ca.certificate.subjectText} (already there)`);
  } else {
    ca = await CertificateAuthority.create(dir, { commonName: "Pier Quickstart CA" });
    out.line(`  created   ${show(caPaths(dir).certificate)} + ca.key (0600): ${ca.certificate.subjectText}, ${ca.certificate.key.label}, valid until ${ca.certificate.notAfter.toISOString().slice(0, 10)}`);
  }
  const sans = parseSanList([`DNS:${serverName}`, ...(serverName === "localhost" ? [] : ["DNS:localhost"]), "IP:127.0.0.1"].join(","));
  await ensureLeaf(ca, dir, "server", { profile: "server", commonName: serverName, subjectAltNames: sans }, out);
  await ensureLeaf(ca, dir, "client", { profile: "client", commonName: device }, out);

  const file = (name: string) => ({ path: join(dir, name), data: readFileSync(join(dir, name)) });
  const checks = [
    diagnoseCertificateSet({ role: "server", ca: file("ca.crt"), cert: file("server.crt"), key: file("server.key"), host: "localhost" }),
    diagnoseCertificateSet({ role: "client", ca: file("ca.crt"), cert: file("client.crt"), key: file("client.key") }),
  ];
  out.line("");
  out.line("Checked with pier doctor:");
  for (const check of checks) for (const line of check.passed) out.line(`  ✓ ${line}`);
  for (const check of checks) for (const f of check.findings) out.line(`  ✗ ${f.file}: ${f.problem} — ${f.fix}`);
  const d = show(dir);
  out.line("");
  out.line("Next steps:");
  out.line(`  Inspect a certificate:   npx pier ca inspect ${d}/server.crt`);
  out.line(`  Issue one per device:    npx pier ca issue client --dir ${d} --cn DEVICE_ID --out ${d}/DEVICE_ID`);
  out.line(`  Revoke and publish:      npx pier ca revoke --dir ${d} --cert ${d}/client.crt && npx pier ca crl --dir ${d} --out ${d}/crl.pem`);
  out.line(`  Try mutual TLS now:      openssl s_server -accept 9443 -www -cert ${d}/server.crt -key ${d}/server.key -CAfile ${d}/ca.crt -Verify 1`);
  out.line(`                           curl --cacert ${d}/ca.crt --cert ${d}/client.crt --key ${d}/client.key https://localhost:9443/`);
  out.line(`  Probe a live endpoint:   npx pier doctor --connect localhost:9443 --ca ${d}/ca.crt --cert ${d}/client.crt --key ${d}/client.key`);
  return checks.every((c) => c.ok) ? exitCodes.ok : exitCodes.problems;
}
