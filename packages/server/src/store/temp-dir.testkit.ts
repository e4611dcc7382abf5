import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A fresh directory under the system temp dir, removed on dispose (`await using dir = tempDir("store")`). */
export interface TempDir extends AsyncDisposable {
  readonly path: string;
  file(name: string): string;
}

/** Creates a temporary directory for one test. */
export function tempDir(prefix: string): TempDir {
  const path = mkdtempSync(join(tmpdir(), `pier-${prefix}-`));
  return {
    path,
    file: (name) => join(path, name),
    [Symbol.asyncDispose]: () => {
      rmSync(path, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
}
