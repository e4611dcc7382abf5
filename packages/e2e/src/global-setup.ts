import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { makeSeedCertificates } from "./seed-certificates.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** Directory holding the seeds' openssl-made set (RSA 8192 CA, RSA 4096 leaves), made once per run. */
    seedDir: string;
  }
}

/** Makes the slow fixtures once for the whole run and shares their location with every test file. */
export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(join(tmpdir(), "pier-seed-"));
  makeSeedCertificates(dir);
  project.provide("seedDir", dir);
  return () => rmSync(dir, { recursive: true, force: true });
}
