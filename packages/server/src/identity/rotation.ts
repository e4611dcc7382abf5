import type { X509Certificate } from "node:crypto";
import { type CertificateAuthority, type TlsFailure, explainServerSideTlsError } from "@pier/pki";
import type { RenewMessage, ServerMessage } from "@pier/protocol";
import { ServerError } from "../errors.ts";
import type { RotationRecord, Store } from "../store/index.ts";
import { caFingerprint, completeFinishRenames, createNextCa, openCaIn, retiredAuthorities, rotationDirectories } from "./rotation-directories.ts";

/** Default spread of a rotation's renewals: ten minutes. */
export const defaultRotationWindowSeconds = 600;
/** The longest spread a rotation takes (the `renew` frame's own bound): a day. */
export const maxRotationWindowSeconds = 86_400;
/** A late session's window is never shorter than this (or the whole window, if shorter). */
const minimumLateWindowSeconds = 60;

/** Which CA issues device certificates and which CAs the tunnel listener trusts for them. */
export interface RotationAuthorities {
  readonly issuing: CertificateAuthority;
  readonly trusted: readonly CertificateAuthority[];
}

/** A device a rotation has not moved yet. */
export interface RotationStraggler {
  readonly environmentId: number;
  readonly name: string;
  readonly edgeId: string;
  readonly online: boolean;
  readonly lastCheckIn: Date | null;
  /** The certificate that keeps it behind. */
  readonly serial: string;
}

/** Where a rotation stands (`GET /api/pki/rotation`). */
export interface RotationStatus {
  readonly phase: "standby" | "rotating" | "rolling_back";
  readonly startedAt: Date | null;
  readonly windowSeconds: number | null;
  readonly fromCa: CertificateAuthority;
  readonly toCa: CertificateAuthority | undefined;
  readonly devicesTotal: number;
  readonly devicesMoved: number;
  readonly devicesOnline: number;
  /** Online ones first, then by environment id. */
  readonly stragglers: readonly RotationStraggler[];
}

/** What a finish did. */
export interface RotationFinish {
  readonly status: RotationStatus;
  /** The directory the dropped CA was moved to. */
  readonly retiredDirectory: string | undefined;
  /** Devices left behind: offline ones, or every straggler when forced. */
  readonly stragglers: readonly RotationStraggler[];
}

/** What `CaRotation` needs from the rest of the server. */
export interface CaRotationOptions {
  readonly dataDir: string;
  readonly store: Pick<Store, "rotation" | "audit">;
  /** Makes `issuing` issue device certificates and the tunnel listener trust `trusted` (the device CA). */
  readonly applyAuthorities: (authorities: RotationAuthorities) => Promise<void> | void;
  /** Open edge sessions. */
  readonly sessions: {
    isConnected(environmentId: number): boolean;
    push(environmentId: number, message: ServerMessage): boolean;
    disconnect(environmentId: number, code: string, message: string): void;
  };
  /** Re-issues the server's own certificate under `ca` for the same key and puts it in force. */
  readonly moveServerCertificate: (ca: CertificateAuthority) => Promise<void>;
  /**
   * Replicas: which of `environmentIds` hold a session on any replica (`edge_sessions`), so the
   * progress and the finish's refusal count devices online elsewhere too; without it, only
   * `sessions.isConnected` (this server's).
   */
  readonly onlineAnywhere?: (environmentIds: readonly number[]) => Promise<ReadonlySet<number>>;
  /** Freshest check-in of an environment (memory first); the stored value without. */
  readonly lastCheckIn?: (environmentId: number, stored: Date | null) => Date | null;
  /**
   * Replicas (docs/architecture.md "Scale-out"): called after a start, a rollback or a finish
   * made here took effect, to share the CA directories and tell the other replicas (`follow`).
   */
  readonly onChange?: (change: "start" | "rollback" | "finish") => Promise<void>;
  /**
   * Replicas: called with the new CA in `DATA/ca-next/` before the phase `rotating` is written,
   * so a replica that reads that phase finds the CA in the database (`fetchNext`).
   */
  readonly shareNext?: () => Promise<void>;
  /**
   * Replicas: writes the stored `DATA/ca-next/` (the rotation's new CA) to `--data` before
   * `follow` opens it; called only while the database says a rotation is under way.
   */
  readonly fetchNext?: () => Promise<void>;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
  readonly now?: () => number;
}

/**
 * The built-in CA's rotation (docs/identity.md "CA rotation"): start creates the next CA and
 * moves issuance to it while both are trusted, tells every device to renew within a spread
 * window, reports who moved, and finish (or a rollback's finish) drops one CA for good —
 * renaming directories crash-safely behind the `finishing` phase — and moves the server's own
 * certificate. Operations run one at a time. A restart resumes any phase (`open`).
 *
 * @example
 * const rotation = await CaRotation.open({ dataDir, store, applyAuthorities, sessions, moveServerCertificate, log });
 * await rotation.start({ windowSeconds: 600 });
 * const { devicesMoved, devicesTotal } = await rotation.status();
 */
export class CaRotation {
  readonly #options: CaRotationOptions;
  readonly #now: () => number;
  #record: RotationRecord | null;
  /** `DATA/ca/`: the CA in force (the old one during a rotation). */
  #current: CertificateAuthority | undefined;
  /** `DATA/ca-next/` during a rotation. */
  #next: CertificateAuthority | undefined;
  /** `DATA/ca-retired-*`: never trusted, kept to recognise a device that slept through a rotation. */
  #retired: CertificateAuthority[];
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(options: CaRotationOptions, record: RotationRecord | null) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#record = record;
    const dirs = rotationDirectories(options.dataDir);
    this.#current = openCaIn(dirs.current);
    this.#next = record && (record.phase === "rotating" || record.phase === "rolling_back") ? openCaIn(dirs.next) : undefined;
    this.#retired = retiredAuthorities(options.dataDir);
  }

  /**
   * Reads the rotation's phase and CAs, completes a finish a crash interrupted, checks that the
   * directories hold the CAs the database names, and puts the phase's authorities in force.
   */
  static async open(options: CaRotationOptions): Promise<CaRotation> {
    const record = await options.store.rotation.get();
    // A replica starting during a rotation another one started: the new CA comes from the database.
    if (record?.phase === "rotating" || record?.phase === "rolling_back") await options.fetchNext?.();
    let rotation = new CaRotation(options, record);
    if (record?.phase === "finishing") {
      options.log("warn", "CA rotation: completing a finish that was interrupted (the server stopped during it)");
      await rotation.#completeFinish(record);
      rotation = new CaRotation(options, rotation.#record);
    }
    rotation.#checkDirectories();
    await rotation.#applyAuthorities();
    if (rotation.#record && rotation.#record.phase !== "standby") options.log("info", `CA rotation resumed in phase ${rotation.#record.phase}`);
    return rotation;
  }

  /** The phase's authorities, or `undefined` when the server has no built-in CA. */
  authorities(): RotationAuthorities | undefined {
    const current = this.#current;
    if (!current) return undefined;
    const phase = this.#phase();
    if (phase === "standby" || !this.#next) return { issuing: current, trusted: [current] };
    return { issuing: phase === "rotating" ? this.#next : current, trusted: [current, this.#next] };
  }

  /**
   * The retired CA that issued `certificate` (signature checked), or `undefined`: a device
   * offline through a whole rotation presents such a certificate. It is never trusted; the
   * device enrolls again through the Waiting Room (docs/identity.md "CA rotation").
   */
  retiredAuthorityOf(certificate: X509Certificate): CertificateAuthority | undefined {
    return this.#retired.find((ca) => certificate.checkIssued(ca.certificate.x509) && certificate.verify(ca.certificate.publicKey));
  }

  /**
   * Why a certificate from a retired CA is refused, for the server's log, the audit and the
   * agent's log; `undefined` for any other certificate.
   */
  explainRetired(certificate: X509Certificate, error: string): TlsFailure | undefined {
    const retired = this.retiredAuthorityOf(certificate);
    if (!retired) return undefined;
    return {
      ...explainServerSideTlsError(error),
      cause: `it comes from the retired CA "${retired.certificate.subjectText}", which this server no longer trusts since a CA rotation finished while the device was away`,
      fix: "The device must enroll again through the Waiting Room: an administrator removes its environment in Pier, then DATA/identity is cleared on the device and the agent restarted; it enrolls with a new key.",
    };
  }

  /** PEM of the CAs the server's certificate may chain to now: what agents keep as `trust.pem`. */
  trustBundlePem(): string {
    return (this.authorities()?.trusted ?? []).map((ca) => ca.certificatePem).join("");
  }

  /** Where the rotation stands and who has not moved. */
  async status(): Promise<RotationStatus> {
    const { from, to } = this.#pair();
    const phase = this.#phase();
    const record = this.#record;
    const fromFingerprint = caFingerprint(from);
    const toFingerprint = to ? caFingerprint(to) : undefined;
    const devices = await this.#options.store.rotation.devices(toFingerprint ? [fromFingerprint, toFingerprint] : [fromFingerprint]);
    const lastCheckIn = this.#options.lastCheckIn ?? ((_id: number, stored: Date | null) => stored);
    const elsewhere = devices.length > 0 ? await this.#options.onlineAnywhere?.(devices.map((device) => device.environmentId)) : undefined;
    let moved = 0;
    let online = 0;
    const stragglers: RotationStraggler[] = [];
    for (const device of devices) {
      const isOnline = this.#options.sessions.isConnected(device.environmentId) || elsewhere?.has(device.environmentId) === true;
      if (isOnline) online++;
      // An online device has moved once its session presents the new certificate: one whose
      // renewal was issued but whose new session is not yet open would be stranded by a finish.
      const presentsIt = !isOnline || device.presentedSerial === device.serial;
      if (toFingerprint === undefined || (device.caSpkiSha256 === toFingerprint && presentsIt)) {
        moved++;
        continue;
      }
      stragglers.push({ environmentId: device.environmentId, name: device.name, edgeId: device.edgeId, online: isOnline, lastCheckIn: lastCheckIn(device.environmentId, device.lastCheckInAt), serial: device.serial });
    }
    stragglers.sort((a, b) => Number(b.online) - Number(a.online) || a.environmentId - b.environmentId);
    return {
      phase,
      startedAt: phase === "standby" || !record ? null : record.startedAt,
      windowSeconds: phase === "standby" || !record ? null : record.windowSeconds,
      fromCa: from,
      toCa: to,
      devicesTotal: devices.length,
      devicesMoved: moved,
      devicesOnline: online,
      stragglers,
    };
  }

  /**
   * Starts a rotation: a new CA in `DATA/ca-next/` issues from now on, both are trusted, and
   * every online device of the old CA is told to renew within `windowSeconds`.
   */
  start(options: { windowSeconds?: number } = {}): Promise<RotationStatus> {
    return this.#serialized(async () => {
      const current = this.#requireCa();
      const windowSeconds = options.windowSeconds ?? defaultRotationWindowSeconds;
      if (!Number.isInteger(windowSeconds) || windowSeconds < 0 || windowSeconds > maxRotationWindowSeconds) {
        throw new ServerError("bad_request", `WindowSeconds must be a whole number of seconds from 0 to ${maxRotationWindowSeconds}, got ${windowSeconds}.`, { field: "WindowSeconds" });
      }
      const phase = this.#phase();
      if (phase !== "standby") {
        throw new ServerError("conflict", `A CA rotation is already under way (phase ${phase}).`, { fix: "Follow it with GET /api/pki/rotation; finish it (POST /api/pki/rotation/finish) or roll it back before starting another." });
      }
      const now = new Date(this.#now());
      const next = await createNextCa(this.#options.dataDir, now);
      await this.#options.shareNext?.();
      const record: RotationRecord = { phase: "rotating", fromCa: caFingerprint(current), toCa: caFingerprint(next), startedAt: now, updatedAt: now, windowSeconds };
      await this.#options.store.rotation.put(record);
      this.#record = record;
      this.#next = next;
      await this.#applyAuthorities();
      await this.#audit("rotation_started", { from: current.certificate.subjectText, to: next.certificate.subjectText, windowSeconds });
      this.#options.log("info", `CA rotation started: ${current.certificate.subjectText} → ${next.certificate.subjectText}; devices renew within ${windowSeconds} s`);
      await this.#options.onChange?.("start");
      return this.#tellStragglers("rotation", windowSeconds);
    });
  }

  /** Reverses a rotation: the old CA issues again and the devices that moved are told to renew. */
  rollback(): Promise<RotationStatus> {
    return this.#serialized(async () => {
      const record = this.#record;
      if (!record || record.phase !== "rotating") {
        throw new ServerError("conflict", `There is no CA rotation to roll back (phase ${this.#phase()}).`, { fix: "A rollback reverses a started rotation before it is finished; see GET /api/pki/rotation." });
      }
      const now = new Date(this.#now());
      const reversed: RotationRecord = { ...record, phase: "rolling_back", fromCa: record.toCa, toCa: record.fromCa, startedAt: now, updatedAt: now };
      await this.#options.store.rotation.put(reversed);
      this.#record = reversed;
      await this.#applyAuthorities();
      const { from, to } = this.#pair();
      await this.#audit("rotation_rollback", { from: from.certificate.subjectText, to: to?.certificate.subjectText ?? null });
      this.#options.log("warn", `CA rotation rolled back: devices return to ${to?.certificate.subjectText ?? "the old CA"}`);
      await this.#options.onChange?.("rollback");
      return this.#tellStragglers("rollback", record.windowSeconds);
    });
  }

  /**
   * Finishes a rotation (or a rollback): refused (`conflict`, with the list) while an online
   * device has not moved unless `force`; then the dropped CA is retired, the survivor is the
   * only CA, and the server certificate comes from it.
   */
  finish(options: { force?: boolean } = {}): Promise<RotationFinish> {
    return this.#serialized(async () => {
      const record = this.#record;
      if (!record || (record.phase !== "rotating" && record.phase !== "rolling_back")) {
        throw new ServerError("conflict", `There is no CA rotation to finish (phase ${this.#phase()}).`, { fix: "Start one with POST /api/pki/rotation." });
      }
      const before = await this.status();
      const onlineBehind = before.stragglers.filter((s) => s.online);
      if (onlineBehind.length > 0 && options.force !== true) {
        const names = onlineBehind.slice(0, 5).map((s) => `${s.name} (${s.edgeId})`).join(", ");
        throw new ServerError("conflict", `${onlineBehind.length} online device(s) still use a certificate from ${before.fromCa.certificate.subjectText}: ${names}${onlineBehind.length > 5 ? ", …" : ""}.`, {
          fix: "Wait until they have renewed (GET /api/pki/rotation), or finish with {\"Force\": true}: they will have to enroll again through the Waiting Room.",
          details: { stragglers: onlineBehind.map((s) => ({ Id: s.environmentId, Name: s.name, EdgeID: s.edgeId, Serial: s.serial })) },
        });
      }
      const finishing: RotationRecord = { ...record, phase: "finishing", updatedAt: new Date(this.#now()) };
      await this.#options.store.rotation.put(finishing);
      this.#record = finishing;
      const retiredDirectory = await this.#completeFinish(finishing);
      await this.#options.onChange?.("finish");
      for (const straggler of onlineBehind) {
        this.#options.sessions.disconnect(straggler.environmentId, "ca_retired", `the CA of this device's certificate (${before.fromCa.certificate.subjectText}) is no longer trusted: the device must enroll again through the Waiting Room`);
      }
      await this.#audit("rotation_finished", {
        from: before.fromCa.certificate.subjectText,
        to: before.toCa?.certificate.subjectText ?? null,
        forced: options.force === true,
        stragglers: before.stragglers.map((s) => s.edgeId),
        retiredDirectory: retiredDirectory ?? null,
      });
      this.#options.log("info", `CA rotation finished: ${this.#current?.certificate.subjectText ?? "?"} is the only CA; ${before.stragglers.length} device(s) left behind${retiredDirectory ? `; the dropped CA is kept in ${retiredDirectory}` : ""}`);
      return { status: await this.status(), retiredDirectory, stragglers: before.stragglers };
    });
  }

  /**
   * On a replica, after another replica started, rolled back or finished a rotation (the
   * `rotation_changed` event, or a resync): reads the phase from the database and does here what
   * that replica did, so both issue from and trust the same CAs. A start or rollback fetches the
   * new CA (`fetchNext`) and puts the phase's authorities in force (sessions on the CA devices
   * move away from are told to renew); a finish renames the local directories as the finishing
   * replica did, re-issues this replica's server certificate from the survivor and closes, with
   * `ca_retired`, the sessions held here that still present the dropped CA's certificate.
   */
  follow(): Promise<void> {
    return this.#serialized(async () => {
      const stored = await this.#options.store.rotation.get();
      // A finish under way elsewhere: its end is announced again.
      if (!stored || stored.phase === "finishing") return;
      const known = this.#record;
      if (known && known.phase === stored.phase && known.fromCa === stored.fromCa && known.toCa === stored.toCa && known.startedAt.getTime() === stored.startedAt.getTime()) return;
      const wasRotating = known !== null && (known.phase === "rotating" || known.phase === "rolling_back");
      if (stored.phase === "standby") {
        if (!wasRotating) {
          this.#record = stored;
          return;
        }
        const before = await this.status();
        const retiredDirectory = await this.#completeFinish({ ...stored, phase: "finishing", fromCa: known.fromCa, toCa: stored.toCa }, false);
        for (const straggler of before.stragglers.filter((s) => s.online)) {
          this.#options.sessions.disconnect(straggler.environmentId, "ca_retired", `the CA of this device's certificate (${before.fromCa.certificate.subjectText}) is no longer trusted: the device must enroll again through the Waiting Room`);
        }
        this.#options.log("info", `CA rotation finished on another replica: ${this.#current?.certificate.subjectText ?? "?"} is the only CA here too${retiredDirectory ? `; the dropped CA is kept in ${retiredDirectory}` : ""}`);
        return;
      }
      await this.#options.fetchNext?.();
      this.#next = openCaIn(rotationDirectories(this.#options.dataDir).next);
      this.#record = stored;
      this.#checkDirectories();
      await this.#applyAuthorities();
      this.#options.log("info", `CA rotation ${stored.phase === "rotating" ? "started" : "rolled back"} on another replica: this replica issues from and trusts the same CAs`);
      const left = Math.ceil((stored.startedAt.getTime() + stored.windowSeconds * 1000 - this.#now()) / 1000);
      await this.#tellStragglers(stored.phase === "rotating" ? "rotation" : "rollback", Math.max(0, Math.min(left, stored.windowSeconds)));
    });
  }

  /**
   * Called when a device's session opens: during a rotation, a device still on the CA it is
   * moving away from gets the `renew` frame, with what is left of the window.
   */
  async sessionOpened(environmentId: number): Promise<void> {
    const record = this.#record;
    if (!record || (record.phase !== "rotating" && record.phase !== "rolling_back")) return;
    const newest = await this.#options.store.rotation.newestCertificate(environmentId);
    if (!newest || newest.caSpkiSha256 !== record.fromCa) return;
    const left = Math.ceil((record.startedAt.getTime() + record.windowSeconds * 1000 - this.#now()) / 1000);
    const withinSeconds = Math.max(left, Math.min(record.windowSeconds, minimumLateWindowSeconds));
    this.#options.sessions.push(environmentId, this.#renewFrame(record.phase === "rotating" ? "rotation" : "rollback", withinSeconds));
  }

  #renewFrame(reason: RenewMessage["reason"], withinSeconds: number): RenewMessage {
    return { type: "renew", reason, withinSeconds, trustBundle: this.trustBundlePem() };
  }

  async #tellStragglers(reason: RenewMessage["reason"], withinSeconds: number): Promise<RotationStatus> {
    const status = await this.status();
    const frame = this.#renewFrame(reason, withinSeconds);
    let told = 0;
    for (const straggler of status.stragglers) if (straggler.online && this.#options.sessions.push(straggler.environmentId, frame)) told++;
    this.#options.log("info", `CA rotation: ${told} online device(s) told to renew within ${withinSeconds} s (${reason})`);
    return status;
  }

  /**
   * The renames, the server certificate and the `standby` phase; safe to run again. `write`:
   * false when following another replica's finish (the database already says `standby`).
   */
  async #completeFinish(record: RotationRecord, write = true): Promise<string | undefined> {
    const retired = completeFinishRenames(this.#options.dataDir, record.toCa, new Date(this.#now()));
    const survivor = this.#requireCa(openCaIn(rotationDirectories(this.#options.dataDir).current));
    this.#current = survivor;
    this.#next = undefined;
    this.#retired = retiredAuthorities(this.#options.dataDir);
    await this.#options.moveServerCertificate(survivor);
    const now = new Date(this.#now());
    const standby: RotationRecord = { ...record, phase: "standby", fromCa: record.toCa, toCa: record.toCa, updatedAt: now };
    if (write) await this.#options.store.rotation.put(standby);
    this.#record = standby;
    await this.#applyAuthorities();
    return retired;
  }

  #checkDirectories(): void {
    const record = this.#record;
    if (!record || record.phase === "standby") return;
    const dirs = rotationDirectories(this.#options.dataDir);
    const expected = new Set([record.fromCa, record.toCa]);
    const found = new Set([this.#current, this.#next].flatMap((ca) => (ca ? [caFingerprint(ca)] : [])));
    if ([...expected].some((fingerprint) => !found.has(fingerprint))) {
      throw new ServerError("internal", `The database says a CA rotation is under way (phase ${record.phase}), but ${dirs.current} and ${dirs.next} do not hold its two CAs.`, {
        fix: `Restore ${dirs.current} and ${dirs.next} from a backup; the rotation cannot continue without both CAs.`,
      });
    }
  }

  #phase(): RotationStatus["phase"] {
    const phase = this.#record?.phase ?? "standby";
    return phase === "finishing" ? "standby" : phase;
  }

  #pair(): { from: CertificateAuthority; to: CertificateAuthority | undefined } {
    const current = this.#requireCa();
    const phase = this.#phase();
    if (phase === "standby" || !this.#next) return { from: current, to: undefined };
    return phase === "rotating" ? { from: current, to: this.#next } : { from: this.#next, to: current };
  }

  async #applyAuthorities(): Promise<void> {
    const authorities = this.authorities();
    if (authorities) await this.#options.applyAuthorities(authorities);
  }

  #requireCa(ca = this.#current): CertificateAuthority {
    if (!ca) {
      throw new ServerError("conflict", "This server has no built-in CA to rotate: it runs with its own certificates (--sslcert or an operator CA).", {
        fix: "Rotate your own CA with your PKI tooling, then replace the certificate files; Pier reloads them.",
      });
    }
    return ca;
  }

  async #audit(kind: string, detail: Record<string, unknown>): Promise<void> {
    try {
      await this.#options.store.audit.append({ kind, environmentId: null, edgeId: null, sourceAddress: null, at: new Date(this.#now()), detail });
    } catch (error) {
      this.#options.log("error", `audit write failed: ${(error as Error).message}`);
    }
  }

  #serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}
