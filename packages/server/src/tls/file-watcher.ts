import { createHash } from "node:crypto";
import { type FSWatcher, readFileSync, watch } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import { ServerError } from "../errors.ts";

/** Options of `watchFiles`. */
export interface WatchFilesOptions {
  /** Quiet time after the last event before the files are compared (default 300 ms). */
  readonly debounceMs?: number;
  /** Watcher failures and exceptions thrown by `onChange`. */
  readonly onError?: (error: unknown) => void;
}

/** A running watch; `close()` (or `using`) stops it. */
export interface FileWatch extends Disposable {
  close(): void;
}

// A file's SHA-256, or undefined while it does not exist (mid-replacement, or deleted).
async function digestOf(path: string): Promise<string | undefined> {
  try {
    return createHash("sha256").update(await readFile(path)).digest("hex");
  } catch {
    return undefined;
  }
}

function digestOfSync(path: string): string | undefined {
  try {
    return createHash("sha256").update(readFileSync(path)).digest("hex");
  } catch {
    return undefined;
  }
}

/**
 * Calls `onChange` with the files whose content changed, once things settle. It watches the
 * parent directories rather than the files, so replacing a file by rename (what editors,
 * certbot and `writeFileAtomic` do) is seen as well as rewriting it in place; content hashes
 * filter out events that changed nothing (touch, a rewrite with the same bytes).
 *
 * @example
 * using watch = watchFiles(["tls/server.crt", "tls/server.key"], (changed) => reload(changed));
 */
export function watchFiles(paths: readonly string[], onChange: (changed: string[]) => void, options: WatchFilesOptions = {}): FileWatch {
  const debounceMs = options.debounceMs ?? 300;
  const report = options.onError ?? (() => undefined);
  const files = [...new Set(paths.map((path) => resolve(path)))];
  const digests = new Map(files.map((file) => [file, digestOfSync(file)]));
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  let checking = false;
  let checkAgain = false;
  let closed = false;

  const check = async (): Promise<void> => {
    if (checking) {
      checkAgain = true;
      return;
    }
    checking = true;
    try {
      do {
        checkAgain = false;
        const changed: string[] = [];
        for (const file of files) {
          const digest = await digestOf(file);
          if (digest !== digests.get(file)) changed.push(file);
          digests.set(file, digest);
        }
        if (changed.length > 0 && !closed) onChange(changed);
      } while (checkAgain && !closed);
    } catch (error) {
      report(error);
    } finally {
      checking = false;
    }
  };

  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(() => void check(), debounceMs);
  };

  for (const directory of new Set(files.map((file) => dirname(file)))) {
    const names = new Set(files.filter((file) => dirname(file) === directory).map((file) => basename(file)));
    let watcher: FSWatcher;
    try {
      watcher = watch(directory, { persistent: false }, (_event, name) => {
        // Kubernetes swaps a mounted secret by renaming its `..data` symlink, not the files.
        if (name === null || names.has(name) || name.startsWith("..")) schedule();
      });
    } catch (error) {
      for (const started of watchers) started.close();
      throw new ServerError("config_invalid", `Cannot watch ${directory} for certificate changes: ${(error as Error).message}. Check that the directory exists.`, { cause: error });
    }
    watcher.on("error", report);
    watchers.push(watcher);
  }

  const close = () => {
    closed = true;
    clearTimeout(timer);
    for (const watcher of watchers) watcher.close();
  };
  return { close, [Symbol.dispose]: close };
}
