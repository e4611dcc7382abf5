import { defaultServerNames, ensureBuiltInTls } from "../bootstrap/built-in-tls.ts";
import { ServerError } from "../errors.ts";
import { type MtlsUpload, checkMtlsUpload, checkUploadedCrl, findUploadedMtls, mtlsUploadPaths, removeMtlsUpload, saveMtlsUpload, saveUploadedCrl } from "./mtls-upload.ts";
import type { FrontMaterial, RoutingPolicy, TlsFront } from "./tls-front.ts";
import type { CrlMaterial } from "./crl-material.ts";
import type { TlsMaterial } from "./tls-material.ts";
import { type FrontFiles, type TlsReloader, loadFrontMaterial, watchTlsMaterial } from "./tls-reloader.ts";

/** How long before the CRL in force expires the log warns. */
const crlExpiryWarningMs = 24 * 3_600_000;

/** Where the separate mTLS certificate comes from: nowhere, `--mtls*` flags, or an upload in `DATA/mtls/`. */
export type MtlsSource = "none" | "flags" | "uploaded";

/** What `ServerTls.load` needs from the server's configuration. */
export interface ServerTlsOptions {
  readonly dataDir: string;
  readonly bindHost: string;
  readonly ssl?: { readonly certPath?: string; readonly keyPath?: string; readonly caPath?: string; readonly crlPath?: string };
  readonly mtls?: { readonly caPath: string; readonly certPath: string; readonly keyPath: string; readonly crlPath?: string };
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
}

/** The two listeners' fronts, once they exist. */
export interface ServerFronts {
  readonly https: TlsFront;
  readonly tunnel: TlsFront;
}

/**
 * The TLS in force on both listeners and where it comes from: the server certificate
 * (`--sslcert` or the built-in CA's), and the separate mTLS set (from `--mtls*` flags, or
 * uploaded through the API and kept in `DATA/mtls/`). It owns the file watcher, and switches
 * both fronts' material and routing when an mTLS set is uploaded or removed, without a restart.
 *
 * @example
 * const tls = await ServerTls.load({ dataDir, bindHost, log });
 * const https = new TlsFront({ material: tls.material().https, policy: tls.policies().https, handler });
 * tls.attach({ https, tunnel });
 * await tls.upload({ caCert, cert, key });
 */
export class ServerTls {
  readonly #options: ServerTlsOptions;
  #files: FrontFiles;
  #main: TlsMaterial;
  #mtls: TlsMaterial | undefined;
  #source: MtlsSource;
  #fronts: ServerFronts | undefined;
  #reloader: TlsReloader | undefined;
  /** The device CAs of the built-in flow (`setDeviceTrust`). */
  #deviceTrust: Buffer | undefined;
  // Uploads, removals and explicit reloads run one at a time.
  #queue: Promise<unknown> = Promise.resolve();
  readonly #crlListeners = new Set<(crl: CrlMaterial | undefined) => void>();
  /** Told after an upload, a CRL replacement or a removal applied here (the cluster shares `DATA/mtls/`). */
  readonly #uploadListeners = new Set<() => Promise<void>>();
  #crlExpiryTimer: NodeJS.Timeout | undefined;

  private constructor(options: ServerTlsOptions, files: FrontFiles, material: FrontMaterial, source: MtlsSource) {
    this.#options = options;
    this.#files = files;
    this.#main = material.server;
    this.#mtls = material.mtls;
    this.#source = source;
  }

  /**
   * Finds and checks the TLS files: `--sslcert` or the built-in CA's certificate (created or
   * renewed here), and the mTLS set from the flags or, without them, from `DATA/mtls/`.
   */
  static async load(options: ServerTlsOptions): Promise<ServerTls> {
    const clientCa = options.ssl?.caPath ? { caPath: options.ssl.caPath, ...(options.ssl.crlPath ? { crlPath: options.ssl.crlPath } : {}) } : {};
    let server: FrontFiles["server"];
    if (options.ssl?.certPath && options.ssl.keyPath) server = { certPath: options.ssl.certPath, keyPath: options.ssl.keyPath, ...clientCa };
    else {
      const builtIn = await ensureBuiltInTls(options.dataDir, defaultServerNames([options.bindHost]));
      if (builtIn.renewed) options.log("info", `built-in CA issued the server certificate ${builtIn.certificate}`);
      server = { certPath: builtIn.certificate, keyPath: builtIn.key, ...clientCa };
    }
    const uploaded = options.mtls ? undefined : findUploadedMtls(options.dataDir);
    const mtls = options.mtls ?? uploaded;
    const source: MtlsSource = options.mtls ? "flags" : uploaded ? "uploaded" : "none";
    const files: FrontFiles = { server, ...(mtls ? { mtls: { certPath: mtls.certPath, keyPath: mtls.keyPath, caPath: mtls.caPath, ...(mtls.crlPath ? { crlPath: mtls.crlPath } : {}) } } : {}) };
    let material: FrontMaterial;
    try {
      material = await loadFrontMaterial(files);
    } catch (error) {
      if (source !== "uploaded" || !(error instanceof ServerError)) throw error;
      throw new ServerError(error.code, `${error.message}\nThese are the mTLS certificates uploaded through the web UI; replace them in ${mtlsUploadPaths(options.dataDir).dir}, or remove that directory to start without a separate mTLS certificate.`, { cause: error, ...(error.details ? { details: { ...error.details } } : {}) });
    }
    for (const warning of [...material.server.warnings, ...(material.mtls?.warnings ?? [])]) options.log("warn", `TLS: ${warning}`);
    return new ServerTls(options, files, material, source);
  }

  /** The normal (UI) certificate. */
  get main(): TlsMaterial {
    return this.#main;
  }

  /** The separate mTLS certificate, when there is one. */
  get mtls(): TlsMaterial | undefined {
    return this.#mtls;
  }

  /** The CRLs of the client CA in force (`--mtlscrl`, `--sslcrl` or the uploaded `crl.pem`), if any. */
  get clientCrl(): CrlMaterial | undefined {
    return (this.#mtls ?? this.#main).crl;
  }

  /**
   * Calls `listener` whenever the client CA's CRLs in force change (a reload, an upload, a
   * removal), with the new ones or undefined; returns the function that stops it.
   */
  onClientCrlChange(listener: (crl: CrlMaterial | undefined) => void): () => void {
    this.#crlListeners.add(listener);
    return () => this.#crlListeners.delete(listener);
  }

  /** Where the mTLS certificate comes from. */
  get source(): MtlsSource {
    return this.#source;
  }

  /** Whether agents must present a client certificate (a separate mTLS set, or `--sslcacert`). */
  get mtlsConfigured(): boolean {
    return this.#mtls !== undefined || this.#options.ssl?.caPath !== undefined;
  }

  /** The certificate agents pin in `EDGE_KEY`: the mTLS one when there is one. */
  get edgeMaterial(): TlsMaterial {
    return this.#mtls ?? this.#main;
  }

  /** What each front serves. */
  material(): { https: FrontMaterial; tunnel: FrontMaterial } {
    const deviceTrust = this.#deviceTrustInForce();
    const tunnel = this.#mtls ?? (deviceTrust ? { ...this.#main, ca: deviceTrust } : this.#main);
    return { https: { server: this.#main, ...(this.#mtls ? { mtls: this.#mtls } : {}) }, tunnel: { server: tunnel } };
  }

  /** Which connections of each front must present a client certificate. */
  policies(): { https: RoutingPolicy; tunnel: RoutingPolicy } {
    if (this.#mtls) return { https: { mode: "separate", mtlsNames: this.#mtls.names }, tunnel: { mode: "whole-listener" } };
    if (this.#options.ssl?.caPath) return { https: { mode: "whole-listener" }, tunnel: { mode: "whole-listener" } };
    // The browser never meets the built-in flow: only the tunnel listener asks for device certificates.
    return { https: { mode: "none" }, tunnel: this.#deviceTrustInForce() ? { mode: "optional" } : { mode: "none" } };
  }

  /** Whether devices use the built-in CA's certificates (docs/identity.md "Three flows"): a device CA, and no operator mTLS. */
  get builtInFlow(): boolean {
    return this.#deviceTrustInForce() !== undefined;
  }

  /**
   * The CAs whose device certificates the tunnel listener accepts in the built-in flow
   * (`DeviceCa.clientTrustBundle()`), or `undefined` without a device CA. The tunnel listener
   * then asks every client for a certificate without requiring one (`optional`); operator mTLS
   * (flags, upload, `--sslcacert`) takes precedence. Applied at once when the fronts are attached.
   */
  setDeviceTrust(bundle: string | undefined): void {
    const before = this.#deviceTrustInForce();
    this.#deviceTrust = bundle === undefined || bundle === "" ? undefined : Buffer.from(bundle);
    const after = this.#deviceTrustInForce();
    const fronts = this.#fronts;
    if (!fronts || (before === after || (before !== undefined && after !== undefined && before.equals(after)))) return;
    const next = { material: this.material().tunnel, policy: this.policies().tunnel };
    // Each step valid for TlsFront: a client CA before the optional mode, none only after it.
    if (after) {
      fronts.tunnel.reload(next.material);
      fronts.tunnel.setPolicy(next.policy);
    } else {
      fronts.tunnel.setPolicy(next.policy);
      fronts.tunnel.reload(next.material);
    }
  }

  #deviceTrustInForce(): Buffer | undefined {
    return this.#mtls || this.#options.ssl?.caPath ? undefined : this.#deviceTrust;
  }

  /** One line on the certificates in force, for the log. */
  describe(): string {
    const main = this.#main.certificate;
    const mtls = this.#mtls?.certificate;
    const crls = (this.clientCrl?.crls ?? []).map((crl) => `CRL of ${crl.issuerText}${crl.crlNumber === undefined ? "" : ` number ${crl.crlNumber}`} (${crl.entries.length} revoked${crl.nextUpdate ? `, next update ${crl.nextUpdate.toISOString()}` : ""})`);
    return `server certificate ${main.subjectText} (until ${main.notAfter.toISOString()})${mtls ? `, mTLS certificate ${mtls.subjectText} (until ${mtls.notAfter.toISOString()})` : ""}${crls.length > 0 ? `, ${crls.join(", ")}` : ""}`;
  }

  /** Starts following the files: the fronts are reloaded whenever they change. */
  attach(fronts: ServerFronts): void {
    this.#fronts = fronts;
    this.#watch();
    this.#watchCrlExpiry();
  }

  /** Re-reads every file now (`POST /api/settings/tls/reload`); rejects with the reasons. */
  reload(): Promise<string> {
    return this.#serialized(async () => {
      await this.#requireReloader().reload();
      return this.describe();
    });
  }

  /**
   * Checks an uploaded mTLS set like `pier doctor`, keeps it in `DATA/mtls/` and applies it to
   * both listeners at once: the HTTPS listener routes the set's names to the mTLS server, the
   * tunnel listener requires a client certificate from its CA. A refused set changes nothing.
   * `conflict` when the flags set the mTLS files.
   */
  upload(upload: MtlsUpload): Promise<void> {
    return this.#serialized(async () => {
      this.#refuseWhenFlags();
      for (const warning of checkMtlsUpload(upload)) this.#options.log("warn", `mTLS upload: ${warning}`);
      await this.#pauseWatching();
      try {
        const paths = saveMtlsUpload(this.#options.dataDir, upload);
        const withCrl = upload.crl !== undefined && upload.crl.trim() !== "";
        const files: FrontFiles = { server: this.#files.server, mtls: { certPath: paths.certPath, keyPath: paths.keyPath, caPath: paths.caPath, ...(withCrl ? { crlPath: paths.crlPath } : {}) } };
        const material = await loadFrontMaterial(files);
        this.#files = files;
        this.#source = "uploaded";
        this.#apply(material);
      } finally {
        this.#watch();
      }
      this.#options.log("info", `mTLS certificates uploaded: ${this.describe()}`);
      await this.#uploadChanged();
    });
  }

  /**
   * Replaces the CRL of the uploaded mTLS set (undefined removes it): checked against the set's
   * CA like `--mtlscrl`, kept in `DATA/mtls/crl.pem`, enforced at once; open connections whose
   * certificate it lists are closed. A refused CRL changes nothing. `conflict` when the flags set
   * the mTLS files or nothing was uploaded.
   */
  replaceCrl(crl: string | undefined): Promise<void> {
    return this.#serialized(async () => {
      this.#refuseWhenFlags();
      const set = this.#files.mtls;
      const ca = this.#mtls?.ca;
      if (this.#source !== "uploaded" || !set || !ca) throw new ServerError("conflict", "There is no uploaded mTLS set to attach a CRL to: upload the CA certificate, certificate and key first (PUT /api/settings/edge/mtls).");
      if (crl !== undefined) checkUploadedCrl(crl, ca.toString());
      await this.#pauseWatching();
      try {
        const crlPath = saveUploadedCrl(this.#options.dataDir, crl);
        const files: FrontFiles = { server: this.#files.server, mtls: { certPath: set.certPath, keyPath: set.keyPath, caPath: set.caPath, ...(crlPath ? { crlPath } : {}) } };
        const material = await loadFrontMaterial(files);
        this.#files = files;
        this.#apply(material);
      } finally {
        this.#watch();
      }
      this.#options.log("info", `${crl === undefined ? "uploaded CRL removed" : "CRL uploaded"}: ${this.describe()}`);
      await this.#uploadChanged();
    });
  }

  /** Deletes the uploaded mTLS set and turns the separate mTLS domain off, at once. */
  removeUpload(): Promise<void> {
    return this.#serialized(async () => {
      this.#refuseWhenFlags();
      if (this.#source === "none") return;
      await this.#pauseWatching();
      try {
        removeMtlsUpload(this.#options.dataDir);
        this.#files = { server: this.#files.server };
        this.#source = "none";
        this.#apply(await loadFrontMaterial(this.#files));
      } finally {
        this.#watch();
      }
      this.#options.log("info", `uploaded mTLS certificates removed: ${this.describe()}`);
      await this.#uploadChanged();
    });
  }

  /**
   * Calls `listener` after each upload, CRL replacement or removal applied through this object
   * (not after `followUpload`), before the call that made it resolves; returns its removal. A
   * listener that throws makes that call reject, with the change in force here.
   */
  onUploadChange(listener: () => Promise<void>): () => void {
    this.#uploadListeners.add(listener);
    return () => this.#uploadListeners.delete(listener);
  }

  /**
   * Applies the uploaded set as `DATA/mtls/` now holds it, after another replica changed it:
   * `materialize` writes the shared files there (or removes the directory), with the file watch
   * paused; then the set, or its absence, is loaded and applied exactly as `upload` and
   * `removeUpload` apply it (the same routing switch and lock-out of connections that need a
   * client certificate from now on). Nothing when the mTLS files come from flags, or when
   * `materialize` resolves `false` (nothing on disk changed: a resync). Resolves with what is in
   * force; a set that does not load keeps the previous one and rejects.
   */
  followUpload(materialize: () => Promise<boolean | void>): Promise<MtlsSource> {
    return this.#serialized(async () => {
      if (this.#source === "flags") return this.#source;
      await this.#pauseWatching();
      try {
        if ((await materialize()) === false) return this.#source;
        const found = findUploadedMtls(this.#options.dataDir);
        if (!found && this.#source === "none") return this.#source;
        const files: FrontFiles = { server: this.#files.server, ...(found ? { mtls: { certPath: found.certPath, keyPath: found.keyPath, caPath: found.caPath, ...(found.crlPath ? { crlPath: found.crlPath } : {}) } } : {}) };
        const material = await loadFrontMaterial(files);
        this.#files = files;
        this.#source = found ? "uploaded" : "none";
        this.#apply(material);
      } finally {
        this.#watch();
      }
      this.#options.log("info", `mTLS certificates changed on another replica: ${this.describe()}`);
      return this.#source;
    });
  }

  /** Stops watching the files. */
  close(): void {
    this.#stopWatching();
    clearTimeout(this.#crlExpiryTimer);
  }

  async #uploadChanged(): Promise<void> {
    for (const listener of this.#uploadListeners) await listener();
  }

  #refuseWhenFlags(): void {
    if (this.#source === "flags") throw new ServerError("conflict", "The mTLS certificates come from --mtlscacert/--mtlscert/--mtlskey; these files are watched: change them on disk.");
  }

  /**
   * Swaps material and routing on both fronts. The order keeps every step valid for
   * `TlsFront` (separate routing needs mTLS material) and never routes the mTLS names to the
   * UI server in between: new material first when mTLS appears, new routing first when it goes.
   */
  #apply(material: FrontMaterial): void {
    const fronts = this.#requireFronts();
    const crlBefore = this.clientCrl;
    this.#main = material.server;
    this.#mtls = material.mtls;
    this.#reportCrlChange(crlBefore);
    const next = { material: this.material(), policies: this.policies() };
    for (const name of ["https", "tunnel"] as const) {
      if (material.mtls) {
        fronts[name].reload(next.material[name]);
        fronts[name].setPolicy(next.policies[name]);
      } else {
        fronts[name].setPolicy(next.policies[name]);
        fronts[name].reload(next.material[name]);
      }
    }
  }

  #watch(): void {
    const fronts = this.#requireFronts();
    const reloader = watchTlsMaterial({
      front: fronts.https,
      files: this.#files,
      onReloaded: (material) => {
        // A reload that finished after an upload replaced this watcher says nothing current.
        if (this.#reloader !== reloader) return;
        const crlBefore = this.clientCrl;
        this.#main = material.server;
        this.#mtls = material.mtls;
        fronts.tunnel.reload(this.material().tunnel);
        this.#options.log("info", `TLS reloaded: ${this.describe()}`);
        this.#reportCrlChange(crlBefore);
      },
      onReloadFailed: (error) => this.#options.log("error", `TLS reload refused, the previous certificates stay in force: ${error.message}`),
    });
    this.#reloader = reloader;
  }

  #reportCrlChange(before: CrlMaterial | undefined): void {
    const after = this.clientCrl;
    if (before?.sha256 === after?.sha256) return;
    this.#watchCrlExpiry();
    for (const listener of this.#crlListeners) {
      try {
        listener(after);
      } catch (error) {
        this.#options.log("error", `applying the new CRL failed: ${(error as Error).message}`);
      }
    }
  }

  /**
   * Once the CRL in force passes its nextUpdate, OpenSSL refuses every client certificate ("CRL
   * has expired"): say so a day before, and when it happens.
   */
  #watchCrlExpiry(): void {
    clearTimeout(this.#crlExpiryTimer);
    const crl = this.clientCrl;
    const first = (crl?.crls ?? []).filter((item) => item.nextUpdate).sort((a, b) => a.nextUpdate!.getTime() - b.nextUpdate!.getTime())[0];
    if (!crl || !first?.nextUpdate) return;
    const due = first.nextUpdate.getTime();
    const warnAt = due - crlExpiryWarningMs;
    let warned = false;
    const check = () => {
      const now = Date.now();
      if (now >= due) {
        this.#options.log("error", `the CRL of ${first.issuerText} in ${crl.path} passed its next update (${first.nextUpdate!.toISOString()}): every client certificate is refused ("CRL has expired") until a fresh CRL is written to that file`);
        return;
      }
      if (now >= warnAt && !warned) {
        warned = true;
        this.#options.log("warn", `the CRL of ${first.issuerText} in ${crl.path} expires at ${first.nextUpdate!.toISOString()}: write a fresh CRL to that file before then, or every client certificate will be refused`);
      }
      // setTimeout holds at most 2^31-1 ms (24.8 days): longer waits are taken in steps.
      this.#crlExpiryTimer = setTimeout(check, Math.min((now < warnAt ? warnAt : due) - now, 2 ** 31 - 1));
      this.#crlExpiryTimer.unref();
    };
    check();
  }

  #stopWatching(): void {
    this.#reloader?.close();
    this.#reloader = undefined;
  }

  /**
   * Stops watching and waits for a reload already under way: finishing after the fronts were
   * switched, it would put the files it read before back on the HTTPS front.
   */
  async #pauseWatching(): Promise<void> {
    const reloader = this.#reloader;
    this.#stopWatching();
    await reloader?.settled();
  }

  #requireFronts(): ServerFronts {
    if (!this.#fronts) throw new ServerError("internal", "The TLS fronts are not attached yet.");
    return this.#fronts;
  }

  #requireReloader(): TlsReloader {
    if (!this.#reloader) throw new ServerError("internal", "The TLS files are not watched yet.");
    return this.#reloader;
  }

  #serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}
