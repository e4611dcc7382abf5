import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { writeFileAtomic } from "@pier/pki";
import { ServerError } from "../errors.ts";
import type { ClusterStore } from "../store/cluster-store.ts";
import type { ClusterEvents, ClusterEventsLog } from "./cluster-events.ts";
import type { SecretBox } from "./secret-box.ts";

/**
 * The files every replica shares from the start (docs/architecture.md "Scale-out"): the built-in
 * CA, the server key of the built-in flow (one key, so the SPKI pin in every EDGE_KEY holds on
 * every replica) and the JWT secret (a login works on every replica). The server certificate is
 * not among them: each replica issues its own from the shared CA for the shared key and its own
 * host names (`ensureBuiltInTls`), so replicas never overwrite each other's.
 */
export const bootstrapFileNames = ["ca/ca.crt", "ca/ca.key", "ca/ca-state.json", "tls/server.key", "secrets/jwt.key"] as const;

/** Always present once a cluster was bootstrapped (with or without a built-in CA). */
const bootstrapMarker = "secrets/jwt.key";
/** The CA's bookkeeping (serials it issued, CRL number): a replica keeps its own once it has one for the same CA. */
const caState = "ca/ca-state.json";

/** Options of `ClusterFiles`. */
export interface ClusterFilesOptions {
  readonly store: Pick<ClusterStore, "listFiles" | "putFiles" | "deleteFiles" | "withLock">;
  readonly box: SecretBox;
  /** `--data`: where the files are written, under their names. */
  readonly dataDir: string;
  /** Where `publish` announces `files_changed`. */
  readonly events?: ClusterEvents;
  readonly log?: ClusterEventsLog;
}

/** What `bootstrap` did. */
export type BootstrapOutcome = "created" | "materialized";

/**
 * The cluster's shared files: sealed (`SecretBox`, the file name as associated data) in
 * `cluster_files`, written in clear to each replica's `--data` (0600 files, 0700 directories),
 * where the file-based code reads them as on a single server.
 *
 * @example
 * const files = new ClusterFiles({ store: store.cluster, box, dataDir, events });
 * await files.bootstrap(async () => { await ensureBuiltInTls(dataDir, names); loadOrCreateSecret(jwtPath); });
 * await files.publish("mtls/");   // after an upload: store it and tell the other replicas
 * await files.materialize("mtls/"); // on the others, on files_changed
 */
export class ClusterFiles {
  readonly #store: ClusterFilesOptions["store"];
  readonly #box: SecretBox;
  readonly #dataDir: string;
  readonly #events: ClusterEvents | undefined;
  readonly #log: ClusterEventsLog;

  constructor(options: ClusterFilesOptions) {
    this.#store = options.store;
    this.#box = options.box;
    this.#dataDir = resolve(options.dataDir);
    this.#events = options.events;
    this.#log = options.log ?? (() => {});
  }

  /**
   * Makes `--data` hold the cluster's start-up files, exactly once cluster-wide, under the lock
   * "bootstrap": when the database has them, they are written to `--data` (before TLS loads);
   * otherwise `create` makes them locally (today's single-server code) and they are uploaded,
   * sealed. A second replica starting meanwhile waits for the lock and finds them.
   */
  bootstrap(create: () => Promise<void>): Promise<BootstrapOutcome> {
    return this.#store.withLock("bootstrap", async () => {
      const stored = (await this.#store.listFiles()).filter((file) => (bootstrapFileNames as readonly string[]).includes(file.name));
      if (stored.some((file) => file.name === bootstrapMarker)) {
        const files = new Map(stored.map((file) => [file.name, this.#box.open(file.name, file.content)]));
        this.#writeBootstrap(files);
        this.#log("info", `cluster: wrote the cluster's shared files (${[...files.keys()].join(", ")}) from the database to ${this.#dataDir}`);
        return "materialized";
      }
      await create();
      const local = bootstrapFileNames.filter((name) => existsSync(this.#path(name)));
      if (!local.includes(bootstrapMarker)) throw new ServerError("internal", `Bootstrapping the cluster did not create ${bootstrapMarker} in ${this.#dataDir}.`);
      await this.#store.putFiles(
        local.map((name) => ({ name, content: this.#box.seal(name, readFileSync(this.#path(name))) })),
        new Date(),
      );
      this.#log("info", `cluster: stored the cluster's shared files (${local.join(", ")}) in the database, encrypted`);
      return "created";
    });
  }

  /**
   * Stores every file under `prefix` in `--data` (e.g. `mtls/`: the directory's files) in the
   * database, deletes stored files under it that are gone locally, and announces
   * `files_changed`. Returns how many files were stored.
   */
  async publish(prefix: string): Promise<number> {
    const count = await this.#store.withLock(`files:${prefix}`, async () => {
      const local = this.#localFiles(prefix);
      const stored = await this.#store.listFiles(prefix);
      if (local.length > 0) await this.#store.putFiles(local.map((name) => ({ name, content: this.#box.seal(name, readFileSync(this.#path(name))) })), new Date());
      for (const file of stored) if (!local.includes(file.name)) await this.#store.deleteFiles(file.name);
      return local.length;
    });
    await this.#events?.publish({ type: "files_changed", prefix });
    return count;
  }

  /**
   * Writes the stored files under `prefix` to `--data` (0600) and deletes local files under it
   * that the database no longer has. Returns whether anything on disk changed.
   */
  async materialize(prefix: string): Promise<boolean> {
    const stored = await this.#store.listFiles(prefix);
    const files = new Map(stored.map((file) => [file.name, this.#box.open(file.name, file.content)]));
    let changed = false;
    for (const [name, content] of files) changed = this.#write(name, content) || changed;
    for (const name of this.#localFiles(prefix)) {
      if (files.has(name)) continue;
      rmSync(this.#path(name), { force: true });
      changed = true;
    }
    return changed;
  }

  /** One stored file, opened (`null` when the database has none by that name); nothing is written locally. */
  async read(name: string): Promise<Buffer | null> {
    const file = (await this.#store.listFiles(name)).find((candidate) => candidate.name === name);
    return file === undefined ? null : this.#box.open(name, file.content);
  }

  /** Stores files, sealed, in one transaction; nothing is written locally and nothing announced. */
  async write(files: readonly { name: string; content: Buffer }[]): Promise<void> {
    await this.#store.putFiles(
      files.map((file) => ({ name: file.name, content: this.#box.seal(file.name, file.content) })),
      new Date(),
    );
  }

  /** Runs `fn` under the cluster-wide lock `name` (e.g. creating something exactly once). */
  withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return this.#store.withLock(name, fn);
  }

  #writeBootstrap(files: ReadonlyMap<string, Buffer>): void {
    const caCertificate = files.get("ca/ca.crt");
    const caChanged = caCertificate !== undefined && !sameContent(this.#path("ca/ca.crt"), caCertificate);
    for (const [name, content] of files) {
      if (name === caState && existsSync(this.#path(name)) && !caChanged) continue;
      if (name === "tls/server.key" && !sameContent(this.#path(name), content)) {
        // Issued for another key: ensureBuiltInTls issues one for the shared key.
        rmSync(this.#path("tls/server.crt"), { force: true });
      }
      this.#write(name, content);
    }
    // The CA records what it issues there (CertificateAuthority.create makes it; a replica that
    // received the CA did not run create).
    if (caCertificate !== undefined) mkdirSync(this.#path("ca/issued"), { recursive: true, mode: 0o700 });
  }

  /** Writes one file (0600, directories 0700) unless it already holds `content`; returns whether it wrote. */
  #write(name: string, content: Buffer): boolean {
    const path = this.#path(name);
    if (sameContent(path, content)) return false;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileAtomic(path, content, 0o600);
    return true;
  }

  /** The local files under `prefix`, by cluster name (a prefix ending in `/` is a directory, walked). */
  #localFiles(prefix: string): string[] {
    const base = this.#path(prefix === "" ? "." : prefix.replace(/\/+$/, ""));
    if (!existsSync(base)) return [];
    if (!prefix.endsWith("/") && prefix !== "") return statSync(base).isFile() ? [prefix] : [];
    const names: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        // Temporary files of an atomic write under way are not the cluster's.
        if (entry.isDirectory()) walk(path);
        else if (entry.isFile() && !entry.name.includes(".tmp-")) names.push(relative(this.#dataDir, path).split(sep).join("/"));
      }
    };
    walk(base);
    return names.sort();
  }

  /** The local path of a cluster file; refuses a name that would leave `--data`. */
  #path(name: string): string {
    const path = resolve(this.#dataDir, name);
    if (path !== this.#dataDir && !path.startsWith(this.#dataDir + sep)) throw new ServerError("bad_request", `The cluster file name ${name} points outside --data.`, { field: "name" });
    return path;
  }
}

function sameContent(path: string, content: Buffer): boolean {
  try {
    return readFileSync(path).equals(content);
  } catch {
    return false;
  }
}
