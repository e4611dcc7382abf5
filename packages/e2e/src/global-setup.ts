import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { startPostgres } from "./postgres.ts";
import { startSeedCertificates, type SeedCertificatesRun } from "./seed-certificates.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /**
     * Directory of the seeds' openssl-made set (RSA 8192 CA, RSA 4096 leaves), made once per run
     * in the background: `await seedCertificates(inject("seedDir"))` waits until it is complete.
     */
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
  readonly seeds: SeedCertificatesRun;
  readonly postgres: Awaited<ReturnType<typeof startPostgres>>;
  users: number;
}

/** Where the fixtures live between projects: the main process's global scope, which every project's setup shares. */
const shared = globalThis as { pierFixtures?: Promise<Fixtures> };

async function makeFixtures(): Promise<Fixtures> {
  const dir = mkdtempSync(join(tmpdir(), "pier-seed-"));
  // The seeds' RSA 8192 key takes 10-80 s: made in the background while the tests that do not
  // use it run (the three files that do wait for it).
  const seeds = startSeedCertificates(dir);
  try {
    return { dir, seeds, postgres: await startPostgres(), users: 0 };
  } catch (error) {
    await seeds.stop();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Makes the slow fixtures once for the whole run and shares their location with every test
 * file: the seeds' certificates (in the background) and a PostgreSQL (about a second to start). Vitest calls this
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
    await fixtures.seeds.stop();
    rmSync(fixtures.dir, { recursive: true, force: true });
    await fixtures.postgres.stop();
  };
}
