import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { startPostgres } from "./postgres.ts";
import { makeSeedCertificates } from "./seed-certificates.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** Directory holding the seeds' openssl-made set (RSA 8192 CA, RSA 4096 leaves), made once per run. */
    seedDir: string;
    /**
     * The superuser URL of the run's PostgreSQL (`postgres://postgres:…@127.0.0.1:PORT/postgres`),
     * started once per run; each test file creates its own database in it.
     */
    postgresUrl: string;
  }
}

/**
 * Makes the slow fixtures once for the whole run and shares their location with every test
 * file: the seeds' certificates and a PostgreSQL (about a second to start).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = mkdtempSync(join(tmpdir(), "pier-seed-"));
  // initdb runs as a child process while the seeds' openssl commands hold this thread.
  const starting = startPostgres();
  try {
    makeSeedCertificates(dir);
  } catch (error) {
    await (await starting.catch(() => undefined))?.stop();
    throw error;
  }
  const postgres = await starting;
  project.provide("seedDir", dir);
  project.provide("postgresUrl", postgres.adminUrl);
  return async () => {
    rmSync(dir, { recursive: true, force: true });
    await postgres.stop();
  };
}
