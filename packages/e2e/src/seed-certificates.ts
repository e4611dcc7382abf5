import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bash } from "./run.ts";

/** The FQDN the seeds leave to the reader (`<YOURFQDNHERE>`): loopback, so agents can dial it. */
export const seedServerName = "localhost";

/**
 * The seeds' commands, verbatim (blog posts, "Create a CA, server and client certificate"):
 * RSA 8192 CA, RSA 4096 server and client keys, openssl x509 -req with an extfile for the
 * SAN/EKU. Writes ca.cert/ca.key, server.cert/server.key and client.cert/client.key. The three
 * keys are independent, so the two RSA 4096 keys are made while the CA's RSA 8192 key is (its
 * generation alone takes 10 s to over a minute on a loaded machine); the signing steps wait.
 */
const seedScript = `
openssl genrsa -out server.key 4096 2>server.key.log & server=$!
openssl genrsa -out client.key 4096 2>client.key.log & client=$!
openssl req -newkey rsa:8192 -nodes -keyout ca.key -x509 -days 365 -out ca.cert -batch
wait $server || { cat server.key.log >&2; exit 1; }
wait $client || { cat client.key.log >&2; exit 1; }
rm -f server.key.log client.key.log
openssl req -new -key server.key -out server.csr -batch
openssl x509 -req -days 365 -in server.csr -CA ca.cert -CAkey ca.key -CAcreateserial -out server.cert -extfile <(printf "subjectAltName=DNS:${seedServerName}\\nextendedKeyUsage=serverAuth")
openssl req -new -key client.key -out client.csr -batch -subj "/CN=client"
openssl x509 -req -days 365 -in client.csr -CA ca.cert -CAkey ca.key -CAcreateserial -out client.cert -extfile <(printf "extendedKeyUsage=clientAuth")
`;

/** RSA 8192 generation time varies widely (a random prime search); 120 s was once exceeded under load. */
const seedTimeoutMs = 600_000;

/** What `startSeedCertificates` leaves in the directory when it ends: `.ready`, or `.failed` holding openssl's output. */
const markers = { ready: ".ready", failed: ".failed" } as const;

/** Runs the seeds' commands in `dir` now, to completion (see `seedScript`). */
export function makeSeedCertificates(dir: string): void {
  const result = bash(seedScript, { cwd: dir, timeoutMs: seedTimeoutMs });
  if (result.status !== 0) throw new Error(`The seeds' openssl commands failed:\n${result.output}`);
}

/** The seeds' commands running in the background (`startSeedCertificates`). */
export interface SeedCertificatesRun {
  /** Kills the commands if they still run, and resolves once they ended. */
  stop(): Promise<void>;
}

/**
 * Starts the seeds' commands in `dir` in the background and returns at once: the run's global
 * setup does not hold every test file for the RSA 8192 key; the files that use the seeds wait
 * for them with `seedCertificates`. Leaves `.ready` in `dir` when done, `.failed` with the
 * output otherwise (also after `seedTimeoutMs`).
 *
 * @example
 * const seeds = startSeedCertificates(dir); // … await seeds.stop() before removing dir
 */
export function startSeedCertificates(dir: string): SeedCertificatesRun {
  const child = spawn("bash", ["-euo", "pipefail", "-c", seedScript], { cwd: dir, stdio: ["ignore", "pipe", "pipe"], detached: true });
  const output: Buffer[] = [];
  child.stdout.on("data", (chunk: Buffer) => output.push(chunk));
  child.stderr.on("data", (chunk: Buffer) => output.push(chunk));
  // The whole process group: bash and the openssl commands it started in the background.
  const kill = () => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  };
  const timer = setTimeout(kill, seedTimeoutMs);
  const ended = new Promise<void>((resolve) => {
    child.once("error", (error) => {
      clearTimeout(timer);
      writeFileSync(join(dir, markers.failed), `bash could not start: ${error.message}`);
      resolve();
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) writeFileSync(join(dir, markers.ready), "");
      else writeFileSync(join(dir, markers.failed), `exit ${code ?? signal}\n${Buffer.concat(output).toString()}`);
      resolve();
    });
  });
  return {
    async stop() {
      if (child.exitCode === null && child.signalCode === null) kill();
      await ended;
    },
  };
}

/**
 * Waits until the seeds' set in `dir` (the run's `inject("seedDir")`) is complete and returns
 * `dir`; rejects with openssl's output when the commands failed.
 *
 * @example
 * const seedDir = await seedCertificates(inject("seedDir"));
 */
export async function seedCertificates(dir: string, timeoutMs = seedTimeoutMs): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (existsSync(join(dir, markers.ready))) return dir;
    if (existsSync(join(dir, markers.failed))) throw new Error(`The seeds' openssl commands failed:\n${readFileSync(join(dir, markers.failed), "utf8")}`);
    if (Date.now() > deadline) throw new Error(`The seeds' certificates were not ready in ${dir} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
