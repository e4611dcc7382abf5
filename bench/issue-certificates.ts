/**
 * Benchmark: issuing ECDSA P-256 client certificates (key generation + signing).
 *
 *   npm run bench:issue [-- --seconds 3 --openssl-count 200]
 *
 * Prints certificates per second for:
 *   1. Pier's issuance path in process (generate key, build + sign the certificate, PEM-encode
 *      certificate and key) — the operation the server performs per enrolment;
 *   2. Pier's CA directory (`CertificateAuthority.issueWithNewKey`), which also locks the
 *      directory, updates the index and writes the certificate with fsync;
 *   3. openssl doing the same job in the same run: one `openssl req -x509 -CA …` per
 *      certificate (key generation + signing by the CA, one process each), the way scripts
 *      and the seeds use it;
 *   4. `openssl speed ecdsap256` signatures per second, the library's raw ceiling.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CertificateAuthority, caPaths } from "@pier/pki";
import { InProcessIssuer } from "./fleet/fleet-pki.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "3" }, "openssl-count": { type: "string", default: "200" }, "ca-count": { type: "string", default: "300" } } });
const seconds = Number(values.seconds);
const work = mkdtempSync(join(tmpdir(), "pier-bench-issue-"));

function rate(count: number, ms: number): string {
  return `${Math.round((count * 1000) / ms).toLocaleString("en-US")}/s`;
}

try {
  const ca = await CertificateAuthority.create(join(work, "ca"), { commonName: "Bench CA" });
  const issuer = new InProcessIssuer(ca);

  // 1. In-process issuance, time-bounded.
  let count = 0;
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) {
    const now = Date.now();
    issuer.issue(`device-${count}`, new Date(now), new Date(now + 30 * 86_400_000));
    count++;
  }
  const inProcessMs = performance.now() - started;

  // 2. Through the CA directory (index + fsync'd files).
  const caCount = Number(values["ca-count"]);
  const caStarted = performance.now();
  for (let i = 0; i < caCount; i++) await ca.issueWithNewKey({ profile: "client", commonName: `indexed-${i}` });
  const caMs = performance.now() - caStarted;

  // 3. openssl CLI, same job, one process per certificate.
  const opensslCount = Number(values["openssl-count"]);
  const caCert = caPaths(ca.dir).certificate;
  const caKeyPath = caPaths(ca.dir).key;
  const opensslStarted = performance.now();
  for (let i = 0; i < opensslCount; i++) {
    const result = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(work, "o.key"), "-out", join(work, "o.crt"), "-subj", `/CN=device-${i}`, "-CA", caCert, "-CAkey", caKeyPath, "-days", "30", "-addext", "extendedKeyUsage=clientAuth"], { stdio: ["ignore", "ignore", "pipe"] });
    if (result.status !== 0) throw new Error(`openssl failed: ${result.stderr.toString()}`);
  }
  const opensslMs = performance.now() - opensslStarted;

  // 4. openssl's raw signing speed.
  const speed = spawnSync("openssl", ["speed", "-seconds", "1", "ecdsap256"], { encoding: "utf8" });
  const signPerSecond = /nistp256\)\s+\S+\s+\S+\s+([\d.]+)/.exec(speed.stdout)?.[1];

  const version = spawnSync("openssl", ["version"], { encoding: "utf8" }).stdout.trim();
  console.log(`Issuing ECDSA P-256 client certificates (key generation + signing); Node ${process.version}, ${version}`);
  console.log(`  pier, in process:              ${rate(count, inProcessMs)}  (${count} certificates in ${(inProcessMs / 1000).toFixed(1)} s)`);
  console.log(`  pier, CA directory + index:    ${rate(caCount, caMs)}  (${caCount} certificates, each fsync'd to issued/ and the index)`);
  console.log(`  openssl req -x509 -CA, per process: ${rate(opensslCount, opensslMs)}  (${opensslCount} certificates)`);
  console.log(`  openssl speed ecdsap256:       ${signPerSecond ? `${Math.round(Number(signPerSecond)).toLocaleString("en-US")} signatures/s (signing only, no key generation or encoding)` : "n/a"}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
