/**
 * Benchmark: issuing device certificates the way the server does (docs/pki.md, "Issuing for a
 * server"), with an ECDSA P-256 CA.
 *
 *   npm run bench:device-signer [-- --count 5000 --indexed-count 1000]
 *
 * The devices' keys are made before timing (a device makes its own key; the server only signs).
 * Prints the time per certificate for:
 *   1. `CertificateAuthority.deviceSigner().sign` — build, sign, PEM, SPKI and certificate
 *      hashes, nothing written: the server's path for enrolment and renewal;
 *   2. `CertificateAuthority.issueForKey` (the CLI's path: lock, rewrite the JSON index, write
 *      issued/SERIAL.crt with fsync), for the first and the last tenth of `--indexed-count`
 *      certificates, to show the index rewrite growing with every issuance.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CertificateAuthority, generateKeyPairSync } from "@pier/pki";

const { values } = parseArgs({ options: { count: { type: "string", default: "5000" }, "indexed-count": { type: "string", default: "1000" } } });
const count = Number(values.count);
const indexedCount = Number(values["indexed-count"]);
const work = mkdtempSync(join(tmpdir(), "pier-bench-device-signer-"));

const micro = (ms: number, n: number) => `${((ms * 1000) / n).toFixed(0)} µs`;

try {
  const ca = await CertificateAuthority.create(join(work, "ca"), { commonName: "Bench CA", keyType: "ecdsa-p256" });
  const keys = Array.from({ length: Math.max(count, indexedCount) }, () => generateKeyPairSync("ecdsa-p256").publicKey);
  const signer = await ca.deviceSigner();
  const request = (i: number) => ({
    profile: "client" as const,
    commonName: `edge-${i}`,
    subjectAltNames: [{ type: "uri" as const, value: `spiffe://pier.local/edge/edge-${i}` }],
    crlDistributionPoints: ["https://pier.example.com:9443/api/pki/crl"],
    lifetimeSeconds: 30 * 86_400,
  });

  // Warm-up: the first signatures pay for JIT and OpenSSL's lazy set-up.
  for (let i = 0; i < 200; i++) signer.sign(keys[i]!, request(i));
  const started = performance.now();
  for (let i = 0; i < count; i++) signer.sign(keys[i]!, request(i));
  const signerMs = performance.now() - started;

  const tenth = Math.max(1, Math.floor(indexedCount / 10));
  const indexedMs: number[] = [];
  for (let i = 0; i < indexedCount; i++) {
    const at = performance.now();
    await ca.issueForKey(keys[i]!, request(i));
    indexedMs.push(performance.now() - at);
  }
  const sum = (list: number[]) => list.reduce((a, b) => a + b, 0);

  console.log(`Device certificates, ECDSA P-256 CA; Node ${process.version}`);
  console.log(`  deviceSigner().sign (in memory):        ${micro(signerMs, count)} per certificate, ${Math.round((count * 1000) / signerMs).toLocaleString("en-US")}/s (${count} certificates)`);
  console.log(`  issueForKey (index + fsync), first ${tenth}: ${micro(sum(indexedMs.slice(0, tenth)), tenth)} per certificate`);
  console.log(`  issueForKey (index + fsync), last ${tenth}:  ${micro(sum(indexedMs.slice(-tenth)), tenth)} per certificate (index of ${indexedCount - tenth}+ entries)`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
