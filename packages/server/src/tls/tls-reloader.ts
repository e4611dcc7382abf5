import { ServerError } from "../errors.ts";
import { watchFiles } from "./file-watcher.ts";
import type { FrontMaterial, TlsFront } from "./tls-front.ts";
import { type TlsFiles, type TlsMaterial, loadTlsMaterial } from "./tls-material.ts";

/** The files behind a front's material (see `FrontMaterial`). */
export interface FrontFiles {
  readonly server: TlsFiles;
  readonly mtls?: TlsFiles & { readonly caPath: string };
}

/** How to build a `TlsReloader`. */
export interface TlsReloaderOptions {
  readonly front: TlsFront;
  readonly files: FrontFiles;
  /** Every successful reload, whatever triggered it. */
  readonly onReloaded?: (material: FrontMaterial) => void;
  /** Every failed reload (the front keeps its material), and failures of the watch itself. */
  readonly onReloadFailed?: (error: ServerError) => void;
  readonly debounceMs?: number;
}

/** A running reloader; `close()` (or `using`) stops watching. */
export interface TlsReloader extends Disposable {
  /** Reloads now, e.g. for `POST /api/settings/tls/reload`; rejects with the reasons. */
  reload(): Promise<FrontMaterial>;
  /** Resolves once the reloads already started or queued are done (after `close()`, no more start). */
  settled(): Promise<void>;
  close(): void;
}

function asServerError(error: unknown): ServerError {
  if (error instanceof ServerError) return error;
  return new ServerError("internal", `Reloading the TLS material failed: ${(error as Error).message}`, { cause: error });
}

/**
 * Loads and checks every file of a front. When several files are wrong, one
 * `tls_material_invalid` error lists the problems of all of them.
 *
 * @example
 * const material = await loadFrontMaterial({ server: { certPath, keyPath } });
 */
export async function loadFrontMaterial(files: FrontFiles): Promise<FrontMaterial> {
  const [server, mtls] = await Promise.allSettled([
    loadTlsMaterial({ ...files.server, role: "server" }),
    files.mtls ? loadTlsMaterial({ ...files.mtls, role: "server" }) : Promise.resolve(undefined),
  ]);
  const failures = [server, mtls].filter((result) => result.status === "rejected").map((result) => asServerError(result.reason));
  if (failures.length === 1) throw failures[0]!;
  if (failures.length > 1) {
    const problems = failures.flatMap((failure) => (failure.details?.problems as unknown[] | undefined) ?? []);
    throw new ServerError("tls_material_invalid", failures.map((failure) => failure.message).join("\n"), { details: { problems } });
  }
  const loaded = (server as PromiseFulfilledResult<TlsMaterial>).value;
  const mtlsMaterial = (mtls as PromiseFulfilledResult<TlsMaterial | undefined>).value;
  return mtlsMaterial ? { server: loaded, mtls: mtlsMaterial } : { server: loaded };
}

/**
 * Keeps a front's certificates in step with their files: a change (atomic rename or in-place
 * rewrite) loads and checks every file like `pier doctor`, then swaps the front's material. A
 * failed check keeps the material in force and reports why; reloads never overlap.
 *
 * @example
 * using reloader = watchTlsMaterial({ front, files, onReloadFailed: (error) => log.warn(error.message) });
 */
export function watchTlsMaterial(options: TlsReloaderOptions): TlsReloader {
  const { front, files } = options;
  let queue: Promise<unknown> = Promise.resolve();

  const reloadOnce = async (): Promise<FrontMaterial> => {
    let material: FrontMaterial;
    try {
      material = await loadFrontMaterial(files);
      front.reload(material);
    } catch (error) {
      const failure = asServerError(error);
      options.onReloadFailed?.(failure);
      throw failure;
    }
    options.onReloaded?.(material);
    return material;
  };

  const reload = (): Promise<FrontMaterial> => {
    const run = queue.then(reloadOnce);
    queue = run.catch(() => undefined);
    return run;
  };

  const paths = [files.server, files.mtls].flatMap((set) => (set ? [set.certPath, set.keyPath, set.caPath, set.crlPath] : [])).filter((path) => path !== undefined);
  const watch = watchFiles(
    paths,
    // A failure here was already reported through onReloadFailed.
    () => void reload().catch(() => undefined),
    {
      ...(options.debounceMs === undefined ? {} : { debounceMs: options.debounceMs }),
      onError: (error) => options.onReloadFailed?.(new ServerError("internal", `Watching the TLS files failed: ${(error as Error).message}`, { cause: error })),
    },
  );
  return { reload, settled: () => queue.then(() => undefined), close: () => watch.close(), [Symbol.dispose]: () => watch.close() };
}
