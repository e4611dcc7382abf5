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

/** The run's shared fixtures, and how many projects still use them. */
interface Fixtures {
  readonly dir: string;
  readonly postgres: Awaited<ReturnType<typeof startPostgres>>;
  users: number;
}

/** Where the fixtures live between projects: the main process's global scope, which every project's setup shares. */
const shared = globalThis as { pierFixtures?: Promise<Fixtures> };

async function makeFixtures(): Promise<Fixtures> {
  const dir = mkdtempSync(join(tmpdir(), "pier-seed-"));
  // initdb runs as a child process while the seeds' openssl commands hold this thread.
  const starting = startPostgres();
  try {
    makeSeedCertificates(dir);
  } catch (error) {
    await (await starting.catch(() => undefined))?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return { dir, postgres: await starting, users: 0 };
}

/**
 * Makes the slow fixtures once for the whole run and shares their location with every test
 * file: the seeds' certificates and a PostgreSQL (about a second to start). Vitest calls this
 * once per project (vitest.config.ts has two); the first call makes them, the last teardown
 * removes them.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  shared.pierFixtures ??= makeFixtures();
  const fixtures = await shared.pierFixtures;
  fixtures.users++;
  project.provide("seedDir", fixtures.dir);
  project.provide("postgresUrl", fixtures.postgres.adminUrl);
  return async () => {
    if (--fixtures.users > 0) return;
    delete shared.pierFixtures;
    rmSync(fixtures.dir, { recursive: true, force: true });
    await fixtures.postgres.stop();
  };
}
