import { createHash, randomBytes, timingSafeEqual, type X509Certificate } from "node:crypto";
import { certificateSpkiSha256 } from "@pier/pki";
import { isReportableSkew, refusedCodes, type CertificateGrant, type DockerSnapshot, type DockerState, type Hello, type ServerMessage, type Welcome } from "@pier/protocol";
import { RateLimiter } from "../auth/rate-limiter.ts";
import { ServerError } from "../errors.ts";
import { sourceKey } from "../net/source-key.ts";
import type { DeviceIdentity, Environment, EnvironmentPatch, IdentityClone, Settings, SettingsStore, Store } from "../store/store.ts";
import { type CertificateName, certificateName } from "../identity/certificate-binding.ts";
import { type Enrollment, readEnrollmentCsr } from "../identity/enrollment.ts";
import { Reenrollment } from "../identity/reenrollment.ts";
import { CloneDetector, cloneRule } from "./clone-detector.ts";
import { DockerStates, type KnownDockerState } from "./docker-states.ts";
import { ClockSkews, clockSkewLogLine, type KnownClockSkew } from "./clock-skews.ts";
import { summarizeDockerSnapshot } from "../docker/docker-summary.ts";

/** What the server knows about the connection a hello arrived on. */
export interface EdgeConnection {
  readonly sourceAddress: string;
  /** The verified client certificate, when the connection was mutual TLS. */
  readonly peerCertificate?: X509Certificate;
  /**
   * Set when `peerCertificate` was presented but NOT verified: the one error the edge routes let
   * through, `CERT_HAS_EXPIRED` for a certificate of the built-in CA (the handshake still proved
   * possession of its key), for re-enrollment (docs/identity.md "expired"; H4's hook below).
   */
  readonly peerCertificateError?: string;
}

/** What `EdgeService.hello` decided. */
export interface HelloOutcome {
  readonly welcome: Welcome;
  readonly environment: Environment;
  /**
   * The welcome only delivers a certificate already issued to this device, which asked without
   * it (its device token no longer admits it): answer, then close; the device reconnects with it.
   */
  readonly deliverOnly?: boolean;
}

/** Where check-ins go: memory first, flushed to the store in batches. */
export interface CheckInSink {
  record(environmentId: number, at: Date): void;
}

/** An open session the server can push frames to. */
interface Session {
  push(message: ServerMessage): void;
  close(): void;
  /** Where its connection comes from. */
  readonly sourceAddress: string;
  /** Whether the device was heard from within its check-in interval (a live session, not a dead link). */
  healthy(): boolean;
  /** Whether the connection presented a client certificate (absent: unknown, taken as yes). */
  readonly presentedCertificate?: boolean;
}

/** Options of `EdgeService`. */
export interface EdgeServiceOptions {
  /** Where session replacements and clone episodes are reported. */
  readonly log?: (level: "debug" | "info" | "warn", message: string) => void;
  /** How many new devices may enroll, per source and in the waiting room; `defaultEnrollmentLimits` without. */
  readonly enrollment?: EnrollmentLimits;
  /** Zero-touch enrollment with the built-in CA (identity/enrollment.ts); without it hellos' CSRs are ignored. */
  readonly identity?: Enrollment;
  /**
   * Revoked certificates in memory (the server's `RevocationRegistry`: the built-in CA's and the
   * operator CRLs'): a hello presenting one is refused, and an expired, revoked one cannot re-enroll.
   */
  readonly revocations?: { isRevoked(certificate: X509Certificate): boolean };
  /**
   * Where hellos read the settings: the server's `SettingsCache` (one read a second, and at once
   * after a change is announced, instead of one per hello); the store's settings without it.
   */
  readonly settings?: Pick<SettingsStore, "get">;
}

/** Limits on new devices (a device the server already knows is never counted). */
export interface EnrollmentLimits {
  /** New devices per source address (IPv6: per /64) per `periodMs`. */
  readonly perSource: { readonly count: number; readonly periodMs: number };
  /** Devices waiting for an administrator; a new one past it is refused. */
  readonly waitingRoomMax: number;
}

/**
 * Ten new devices a minute from one address lets a NAT'd site enroll a fleet in minutes; a
 * script cannot fill the waiting room from it. Ten thousand waiting devices is more than any
 * administrator reviews, and bounds the rows a stranger can make.
 */
export const defaultEnrollmentLimits: EnrollmentLimits = Object.freeze({ perSource: Object.freeze({ count: 10, periodMs: 60_000 }), waitingRoomMax: 10_000 });

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** The desired-state version a welcome or status carries: an associated device's stored one (docs/fleet.md). */
function desiredStateOf(environment: Environment): { desiredStateVersion?: string } {
  return environment.userTrusted && environment.desiredStateVersion !== undefined ? { desiredStateVersion: environment.desiredStateVersion } : {};
}

/** The `status` frame of an environment: association, check-in interval, desired-state version. */
function statusOf(environment: Environment, settings: Settings): ServerMessage {
  return { type: "status", status: environment.userTrusted ? "associated" : "waiting", checkinIntervalSeconds: environment.checkinIntervalSeconds ?? settings.edgeAgentCheckinInterval, ...desiredStateOf(environment) };
}

function identityOf(hello: Hello, connection: EdgeConnection): DeviceIdentity | undefined {
  if (connection.peerCertificate) return { kind: "certificate", value: certificateSpkiSha256(connection.peerCertificate) };
  if (hello.deviceToken) return { kind: "token", value: sha256(hello.deviceToken) };
  return undefined;
}

function certificateFacts(certificate: X509Certificate | undefined): EnvironmentPatch["clientCertificate"] {
  if (!certificate) return null;
  return {
    subject: certificate.subject.replace(/\n/g, ", "),
    issuer: certificate.issuer.replace(/\n/g, ", "),
    serialNumber: certificate.serialNumber.toLowerCase(),
    fingerprintSha256: certificate.fingerprint256.replace(/:/g, "").toLowerCase(),
    // The Date getters, not new Date(validTo): parsing OpenSSL's text form cost ~75 µs per hello.
    notAfter: certificate.validToDate,
    notBefore: certificate.validFromDate,
  };
}

/**
 * The edge side of the server: turns an agent's hello into an environment (waiting room or
 * associated), binds its EDGE_ID to what it presented, records check-ins, and pushes changes
 * to open sessions.
 */
export class EdgeService {
  readonly #store: Store;
  readonly #checkIns: CheckInSink;
  /** Open sessions by environment id; a newer session replaces an older one. */
  readonly #sessions = new Map<number, Session>();
  /** Repeated replacements of a live session from other addresses: one identity on two devices. */
  readonly #clones = new CloneDetector();
  /** Whether each connected device's Docker Engine answers, from its heartbeats; forgotten when its session closes. */
  readonly #docker = new DockerStates();
  /** How far each device's clock is from the server's, from its hello and heartbeats (docs/identity.md "Clock skew"). */
  readonly #clocks = new ClockSkews();
  readonly #log: NonNullable<EdgeServiceOptions["log"]>;
  readonly #enrollment: EnrollmentLimits;
  /** New devices per source; a bucket holds `perSource.count`, refilled over `perSource.periodMs`. */
  readonly #enrollments: RateLimiter;
  /** Refused enrollments reach the audit at most 20 per source, then one every 3 s. */
  readonly #refusalAudit = new RateLimiter({ capacity: 20, refillIntervalMs: 3_000 });
  /** Called after each session opens (a CA rotation tells late devices to renew; the other replicas hear of it). */
  readonly #sessionListeners = new Set<(environmentId: number, sourceAddress: string, openedAt: number) => void>();
  /** When each open session attached (ms), so a replacement announced by another replica ends only an older one. */
  readonly #openedAt = new WeakMap<Session, number>();
  /** Called when this server no longer holds a device's session (the session directory releases it). */
  readonly #closedListeners = new Set<(environmentId: number) => void>();
  /** Told of each accepted hello's environment before the welcome (fleet/edge-group-requests.ts keeps or applies EDGE_GROUPS). */
  readonly #helloListeners = new Set<(environment: Environment, hello: Hello, enrolled: boolean) => Promise<void>>();
  readonly #identity: Enrollment | undefined;
  readonly #reenrollment: Reenrollment | undefined;
  readonly #revocations: EdgeServiceOptions["revocations"];
  readonly #settings: Pick<SettingsStore, "get">;

  constructor(store: Store, checkIns: CheckInSink, options: EdgeServiceOptions = {}) {
    this.#store = store;
    this.#identity = options.identity;
    this.#checkIns = checkIns;
    this.#log = options.log ?? (() => undefined);
    this.#revocations = options.revocations;
    this.#settings = options.settings ?? store.settings;
    this.#reenrollment = options.identity ? new Reenrollment({ store, enrollment: options.identity, log: this.#log, ...(options.revocations ? { revocations: options.revocations } : {}) }) : undefined;
    this.#enrollment = options.enrollment ?? defaultEnrollmentLimits;
    const { count, periodMs } = this.#enrollment.perSource;
    this.#enrollments = new RateLimiter({ capacity: count, refillIntervalMs: periodMs / count });
  }

  /**
   * Handles a hello: finds or creates the environment, enforces the identity binding, records
   * the device's facts and returns the welcome. Throws `ServerError` (`forbidden`, `conflict`,
   * `not_found`) with a message the agent logs as is.
   */
  async hello(hello: Hello, connection: EdgeConnection, now = new Date()): Promise<HelloOutcome> {
    const settings = await this.#settings.get();
    if (!settings.edgeComputeEnabled) throw new ServerError("forbidden", "Edge Compute is disabled on this Pier server; enable it in Settings → Edge Compute.");
    // From memory, not the store: operator-CRL revocations exist only in the registry, and the
    // handshake's own check (tls-front) may predate a revocation made while the hello was in flight.
    if (connection.peerCertificate && this.#revocations?.isRevoked(connection.peerCertificate)) throw this.#revokedCertificate(hello, connection, connection.peerCertificate);
    if (connection.peerCertificateError !== undefined) return this.#presentedExpiredCertificate(hello, connection, settings, now);
    const named = await this.#checkCertificateName(hello, connection, settings, now);
    // The built-in flow: a device without a certificate asks for one (docs/identity.md "States").
    const csr = this.#identity?.active && !connection.peerCertificate && hello.csr !== undefined ? readEnrollmentCsr(hello.csr) : undefined;
    let identity = identityOf(hello, connection);
    let deviceToken: string | undefined;
    if (!identity) {
      deviceToken = randomBytes(32).toString("base64url");
      identity = { kind: "token", value: sha256(deviceToken) };
    }
    const facts: EnvironmentPatch = {
      agent: { version: hello.agent.agentVersion, platform: hello.agent.platform, hostname: hello.agent.hostname, os: hello.agent.os, arch: hello.agent.arch },
      sourceAddress: connection.sourceAddress,
      clientCertificate: certificateFacts(connection.peerCertificate),
      lastCheckInAt: now,
    };

    let environment = await this.#store.environments.getByEdgeId(hello.agent.edgeId);
    let enrolled = false;
    if (environment) {
      const redelivered = csr && !connection.peerCertificate ? await this.#identity?.redelivery(environment, csr, now) : undefined;
      if (redelivered) return this.#redelivery(environment, redelivered, settings, connection);
      await this.#checkBinding(environment, identity, hello, connection, now, named);
      // A reconnect that changes nothing costs no write: the check-in time goes through the
      // batched sink below. A clone pair alternating addresses is held by the clone episode.
      if (this.#factsChanged(environment, facts)) environment = await this.#recordFacts(environment, identity, facts, hello, connection, now, named);
    } else if (hello.environmentId > 0) {
      environment = await this.#claimEnvironment(hello, identity, facts, connection);
      enrolled = true;
    } else {
      await this.#admitNewDevice(hello, connection, settings.trustOnFirstConnect, now);
      environment = await this.#store.environments.create({
        name: hello.agent.hostname || hello.agent.edgeId,
        type: "edge-agent",
        edgeId: hello.agent.edgeId,
        userTrusted: settings.trustOnFirstConnect,
        identity,
        createdAt: now,
        ...facts,
      });
      await this.#store.audit.append({ kind: "enrolled", environmentId: environment.id, edgeId: hello.agent.edgeId, sourceAddress: connection.sourceAddress, detail: { trusted: environment.userTrusted, certificate: facts.clientCertificate?.subject ?? null } });
      enrolled = true;
    }
    for (const listener of this.#helloListeners) await listener(environment, hello, enrolled);
    // A device associated at its enrollment had its desired state computed by a listener (its
    // requested groups applied): read it again so this welcome carries the version.
    if (enrolled && environment.userTrusted && this.#helloListeners.size > 0) environment = (await this.#store.environments.get(environment.id)) ?? environment;
    let grant: CertificateGrant | undefined;
    if (csr && this.#identity) ({ environment, grant } = await this.#identity.received(environment, csr, connection.sourceAddress));
    this.#checkIns.record(environment.id, now);
    return {
      environment,
      welcome: {
        type: "welcome",
        environmentId: environment.id,
        status: environment.userTrusted ? "associated" : "waiting",
        checkinIntervalSeconds: environment.checkinIntervalSeconds ?? settings.edgeAgentCheckinInterval,
        ...(deviceToken === undefined ? {} : { deviceToken }),
        ...(grant === undefined ? {} : { certificate: grant }),
        ...desiredStateOf(environment),
      },
    };
  }

  /** A hello presenting a revoked certificate: logged, refused with 403. */
  #revokedCertificate(hello: Hello, connection: EdgeConnection, certificate: X509Certificate): ServerError {
    const serial = certificate.serialNumber.toLowerCase();
    this.#log("warn", `hello of ${hello.agent.edgeId} from ${connection.sourceAddress} refused: its client certificate ${serial} is revoked`);
    return new ServerError("forbidden", `The client certificate ${serial} presented for ${hello.agent.edgeId} is revoked.`, {
      fix: "Ask the administrator why; to enroll the device again, the administrator removes its environment, then clear DATA/identity on the device and restart the agent.",
    });
  }

  /**
   * A hello over a certificate the TLS handshake did not verify, let through by the edge routes
   * only for `CERT_HAS_EXPIRED` from the built-in CA: re-enrollment through the waiting room, or
   * an automatic re-issue (identity/reenrollment.ts, docs/identity.md "expired").
   */
  async #presentedExpiredCertificate(hello: Hello, connection: EdgeConnection, settings: Settings, now: Date): Promise<HelloOutcome> {
    const certificate = connection.peerCertificate;
    if (!this.#reenrollment || !certificate || connection.peerCertificateError === undefined) {
      throw new ServerError("forbidden", `The client certificate ${certificate?.serialNumber.toLowerCase() ?? "unknown"} presented for ${hello.agent.edgeId} is not valid (${connection.peerCertificateError ?? "unverified"}); this server cannot re-enroll it.`, {
        fix: "Ask the administrator to remove the environment, clear DATA/identity on the device and enroll it again.",
      });
    }
    const { environment, grant, deliverOnly } = await this.#reenrollment.hello(hello, { sourceAddress: connection.sourceAddress, peerCertificate: certificate, peerCertificateError: connection.peerCertificateError }, settings, now);
    this.#checkIns.record(environment.id, now);
    return {
      environment,
      ...(deliverOnly ? { deliverOnly } : {}),
      welcome: {
        type: "welcome",
        environmentId: environment.id,
        status: environment.userTrusted ? "associated" : "waiting",
        checkinIntervalSeconds: environment.checkinIntervalSeconds ?? settings.edgeAgentCheckinInterval,
        ...(grant === undefined ? {} : { certificate: grant }),
        ...desiredStateOf(environment),
      },
    };
  }

  /** Answers a device that asks again for the certificate issued to its key: the welcome carries it, nothing is attached. */
  #redelivery(environment: Environment, grant: CertificateGrant, settings: Settings, connection: EdgeConnection): HelloOutcome {
    this.#log("info", `environment ${environment.id}: delivered its certificate again to ${connection.sourceAddress} (the device asked with the same key)`);
    return {
      environment,
      deliverOnly: true,
      welcome: {
        type: "welcome",
        environmentId: environment.id,
        status: environment.userTrusted ? "associated" : "waiting",
        checkinIntervalSeconds: environment.checkinIntervalSeconds ?? settings.edgeAgentCheckinInterval,
        certificate: grant,
      },
    };
  }

  /**
   * A certificate that names a device (docs/identity.md "Binding") is accepted only with that
   * EDGE_ID: any other is refused (`forbidden`) and audited as `certificate_binding_refused`.
   * Returns the name, if any.
   */
  async #checkCertificateName(hello: Hello, connection: EdgeConnection, settings: Settings, now: Date): Promise<CertificateName | undefined> {
    const certificate = connection.peerCertificate;
    if (!certificate) return undefined;
    const pierIssued = this.#identity?.deviceCa?.authorityOf(certificate) !== undefined;
    const named = certificateName(certificate, { bindCommonName: settings.bindCommonName === true, pierIssued });
    if (!named || named.edgeId === hello.agent.edgeId) return named;
    const serial = certificate.serialNumber.toLowerCase();
    this.#log("warn", `hello for ${hello.agent.edgeId} from ${connection.sourceAddress} refused: its client certificate ${serial} names ${named.edgeId}`);
    if (this.#refusalAudit.take(sourceKey(connection.sourceAddress)).allowed) {
      const bound = await this.#store.environments.getByEdgeId(hello.agent.edgeId).catch(() => null);
      await this.#store.audit.append({
        kind: "certificate_binding_refused",
        environmentId: bound?.id ?? null,
        edgeId: hello.agent.edgeId,
        sourceAddress: connection.sourceAddress,
        at: now,
        detail: { certificateName: named.edgeId, presentedEdgeId: hello.agent.edgeId, serial, source: named.source, subject: certificate.subject.replace(/\n/g, ", ") },
      });
    }
    throw new ServerError("forbidden", `This client certificate (serial ${serial}) names the device ${named.edgeId}; it cannot be used with EDGE_ID ${hello.agent.edgeId}. The attempt was recorded.`, {
      fix: `Start the agent with EDGE_ID ${named.edgeId}, or give this device its own certificate.`,
    });
  }

  /** Whether a hello tells the store something new (besides the check-in time). */
  #factsChanged(environment: Environment, facts: EnvironmentPatch): boolean {
    if (environment.identity === null) return true;
    const agent = facts.agent;
    const known = environment.agent;
    if (!agent || !known || (Object.keys(agent) as (keyof typeof agent)[]).some((key) => agent[key] !== known[key])) return true;
    if ((facts.clientCertificate?.fingerprintSha256 ?? null) !== (environment.clientCertificate?.fingerprintSha256 ?? null)) return true;
    return facts.sourceAddress !== environment.sourceAddress && this.#clones.current(environment.id) === undefined;
  }

  /**
   * Refuses a new device past the enrollment rate of its source (429) or when it would join a
   * full waiting room (503), audited (rate-limited); nothing is created. The messages are what
   * the agent logs, so they say what happened and when to expect a retry to work.
   */
  async #admitNewDevice(hello: Hello, connection: EdgeConnection, trusted: boolean, now: Date): Promise<void> {
    const { perSource, waitingRoomMax } = this.#enrollment;
    let refusal: ServerError | undefined;
    const rate = this.#enrollments.take(sourceKey(connection.sourceAddress));
    if (!rate.allowed) {
      const per = perSource.periodMs % 60_000 === 0 ? `${perSource.periodMs / 60_000 === 1 ? "minute" : `${perSource.periodMs / 60_000} minutes`}` : `${perSource.periodMs / 1000} s`;
      refusal = new ServerError("too_many_requests", `Too many new devices from ${connection.sourceAddress}: at most ${perSource.count} may enroll per ${per} from one address. This device was not enrolled; it may retry in ${rate.retryAfterSeconds} s.`, {
        fix: `Wait ${rate.retryAfterSeconds} s (the agent retries by itself); an administrator can raise pier server --enrollment-rate.`,
        details: { retryAfterSeconds: rate.retryAfterSeconds },
      });
    } else if (!trusted && (await this.#store.environments.list({ untrusted: true })).length >= waitingRoomMax) {
      refusal = new ServerError("unavailable", `The waiting room is full: ${waitingRoomMax} devices already wait for an administrator. This device was not enrolled; it may retry later.`, {
        fix: "Ask the administrator to associate or remove waiting devices (or raise pier server --waiting-room-max); the agent retries by itself.",
        details: { retryAfterSeconds: 60 },
      });
    }
    if (!refusal) return;
    this.#log("warn", `enrollment of ${hello.agent.edgeId} from ${connection.sourceAddress} refused: ${refusal.message}`);
    if (this.#refusalAudit.take(sourceKey(connection.sourceAddress)).allowed) {
      await this.#store.audit.append({ kind: "enrollment_refused", edgeId: hello.agent.edgeId, sourceAddress: connection.sourceAddress, at: now, detail: { reason: refusal.code === "too_many_requests" ? "rate" : "waiting_room_full", limit: refusal.code === "too_many_requests" ? perSource.count : waitingRoomMax } });
    }
    throw refusal;
  }

  /** True while the environment waits in the waiting room (or no longer exists). */
  async isWaiting(environmentId: number): Promise<boolean> {
    const environment = await this.#store.environments.get(environmentId);
    return !environment?.userTrusted;
  }

  /**
   * Writes a known device's new facts, binding `identity` if the environment has none yet. The
   * binding is the store's compare-and-set (`bindIdentity`): when another device bound a
   * different identity meanwhile (possibly through another replica), this one is checked
   * against it like any later hello, and refused.
   */
  async #recordFacts(environment: Environment, identity: DeviceIdentity, facts: EnvironmentPatch, hello: Hello, connection: EdgeConnection, now: Date, named?: CertificateName): Promise<Environment> {
    if (environment.identity !== null) return this.#store.environments.update(environment.id, { ...facts, identity: environment.identity });
    const bound = await this.#store.environments.bindIdentity(environment.id, identity, facts);
    if (bound !== null) return bound;
    const current = await this.#store.environments.get(environment.id);
    if (current === null) throw new ServerError("not_found", `Environment ${environment.id} was removed while device ${hello.agent.edgeId} connected; connect again.`);
    await this.#checkBinding(current, identity, hello, connection, now, named);
    return this.#store.environments.update(current.id, { ...facts, identity: current.identity ?? identity });
  }

  async #checkBinding(environment: Environment, identity: DeviceIdentity, hello: Hello, connection: EdgeConnection, now: Date, named?: CertificateName): Promise<void> {
    if (!environment.identity || (environment.identity.kind === identity.kind && environment.identity.value === identity.value)) return;
    // A certificate of the built-in CA that names this EDGE_ID binds by that name, not by its
    // key: a renewal's new key keeps working (docs/identity.md "Binding").
    if (named?.pierIssued && named.edgeId === hello.agent.edgeId && environment.identity.kind === "certificate") return;
    const certificateSubject = connection.peerCertificate?.subject.replace(/\n/g, ", ");
    await this.#store.environments.update(environment.id, {
      identityConflict: { at: now, presented: identity.value, sourceAddress: connection.sourceAddress, ...(certificateSubject ? { certificateSubject } : {}) },
    });
    await this.#store.audit.append({ kind: "identity_conflict", environmentId: environment.id, edgeId: hello.agent.edgeId, sourceAddress: connection.sourceAddress, at: now, detail: { bound: environment.identity.kind, presented: identity.kind, certificate: certificateSubject ?? null } });
    throw new ServerError(
      "conflict",
      `EDGE_ID ${hello.agent.edgeId} is bound to another device (${environment.identity.kind === "certificate" ? "another client certificate" : "another device token"}); this connection was refused and shown to the administrator. Use a unique EDGE_ID, or ask the administrator to remove environment ${environment.id} first.`,
    );
  }

  async #claimEnvironment(hello: Hello, identity: DeviceIdentity, facts: EnvironmentPatch, connection: EdgeConnection): Promise<Environment> {
    const reserved = await this.#store.environments.get(hello.environmentId);
    if (!reserved) throw new ServerError("not_found", `Environment ${hello.environmentId} from this EDGE_KEY does not exist (removed?); get a new key from the Pier UI.`);
    if (reserved.edgeId !== null && reserved.edgeId !== hello.agent.edgeId) {
      throw new ServerError("conflict", `The EDGE_KEY of environment ${reserved.id} is already used by another device; each per-environment key serves one device. Use the fleet-wide key or create another environment.`);
    }
    const secretHash = await this.#checkKeySecret(reserved, hello, connection);
    // The secret has done its work: the device's identity (certificate or token) speaks for it from now on.
    const environment = await this.#store.environments.claim(reserved.id, secretHash, { ...facts, edgeId: hello.agent.edgeId, identity, edgeKeySecretHash: null });
    if (!environment) {
      throw new ServerError("conflict", `Environment ${reserved.id} was claimed by another device with the same EDGE_KEY at the same moment (or its key was just replaced); each per-environment key serves one device.`, {
        fix: "Give this device its own environment and key, or use the fleet-wide key to wait in the Waiting Room.",
      });
    }
    await this.#store.audit.append({ kind: "enrolled", environmentId: environment.id, edgeId: hello.agent.edgeId, sourceAddress: connection.sourceAddress, detail: { trusted: environment.userTrusted, key: "environment" } });
    return environment;
  }

  /**
   * A hello may claim environment N ≠ 0 only with the secret of N's own key (its 5th field): the
   * id alone is a small number anyone can guess. Compared as SHA-256 digests in constant time;
   * a refusal binds and creates nothing and is audited without the secret.
   */
  async #checkKeySecret(reserved: Environment, hello: Hello, connection: EdgeConnection): Promise<string> {
    const stored = reserved.edgeKeySecretHash;
    const presented = hello.edgeKeySecret;
    const matches = stored !== null && presented !== undefined && timingSafeEqual(Buffer.from(sha256(presented), "hex"), Buffer.from(stored, "hex"));
    if (matches) return stored;
    const reason = presented === undefined ? "missing" : stored === null ? "no_secret_on_record" : "wrong";
    await this.#store.audit.append({ kind: "refused_edge_key", environmentId: reserved.id, edgeId: hello.agent.edgeId, sourceAddress: connection.sourceAddress, detail: { reason } });
    const why =
      reason === "missing"
        ? `this EDGE_KEY names environment ${reserved.id} but carries no secret (a 4-field key); a per-environment key has a 5th field.`
        : reason === "wrong"
          ? `the secret in this EDGE_KEY is not the one of environment ${reserved.id}'s key.`
          : `environment ${reserved.id}'s key was made before keys carried a secret, so no device can claim it with that key.`;
    throw new ServerError("forbidden", `Refused: ${why} Nothing was enrolled; the attempt was recorded. Copy the key shown when the environment was created, or make a new one on its page in the Pier UI.`, {
      fix: `Use the EDGE_KEY made for environment ${reserved.id} (POST /api/endpoints/${reserved.id}/edge/key makes a new one), or the fleet-wide key to wait in the Waiting Room.`,
    });
  }

  /** Records a heartbeat of an open session, the Docker Engine's state and the device's clock when it carries them. */
  heartbeat(environmentId: number, at = new Date(), docker?: DockerState, clock?: number): void {
    this.#checkIns.record(environmentId, at);
    if (docker !== undefined) this.#docker.report(environmentId, docker, at);
    if (clock !== undefined) this.clockReported(environmentId, `environment ${environmentId}`, clock, at);
  }

  /**
   * Records the device's clock (`hello.clock`, `heartbeat.clock`) as it was when its frame
   * arrived (`at`); logs when its skew becomes reportable (a minute or more), moves while it is,
   * or goes back in line. `alwaysLog`: a hello logs a reportable skew whatever it was before.
   */
  clockReported(environmentId: number, device: string, clock: number, at = new Date(), alwaysLog = false): void {
    const change = this.#clocks.report(environmentId, clock, at);
    const skew = this.#clocks.of(environmentId);
    if (!skew) return;
    if (change === "agrees") this.#log("info", clockSkewLogLine(device, skew.skewMs, change));
    else if (change !== undefined || (alwaysLog && isReportableSkew(skew.skewMs))) this.#log("warn", clockSkewLogLine(device, skew.skewMs, change ?? "skewed"));
  }

  /** How far the device's clock was from the server's when it last said (`undefined`: it never did). */
  clockSkewOf(environmentId: number): KnownClockSkew | undefined {
    return this.#clocks.of(environmentId);
  }

  /** Whether the device's Docker Engine answers, as its agent last said on its session here; `undefined`: unknown. */
  dockerStateOf(environmentId: number): KnownDockerState | undefined {
    return this.#docker.of(environmentId);
  }

  /**
   * Calls `listener` with the environment id, the connection's address and the time (ms) each
   * time a session opens (after its welcome was sent); returns the function that unregisters it.
   */
  onSessionOpened(listener: (environmentId: number, sourceAddress: string, openedAt: number) => void): () => void {
    this.#sessionListeners.add(listener);
    return () => this.#sessionListeners.delete(listener);
  }

  /**
   * Calls `listener` with the environment id each time this server stops holding the device's
   * session (it ended, was disconnected, or the server shuts down); not when a newer session
   * of the same device replaces it here. Returns the function that unregisters it.
   */
  /**
   * Calls `listener` with each accepted hello's environment (and whether this hello enrolled it)
   * before the welcome is sent; its failure fails the hello. Returns the unsubscribe function.
   */
  onHello(listener: (environment: Environment, hello: Hello, enrolled: boolean) => Promise<void>): () => void {
    this.#helloListeners.add(listener);
    return () => this.#helloListeners.delete(listener);
  }

  onSessionClosed(listener: (environmentId: number) => void): () => void {
    this.#closedListeners.add(listener);
    return () => this.#closedListeners.delete(listener);
  }

  #sessionClosed(environmentId: number): void {
    this.#docker.forget(environmentId);
    for (const listener of this.#closedListeners) listener(environmentId);
  }

  /**
   * Registers an open session for pushes; returns the function that unregisters it. An older
   * session of the same device is told why (`refused`, `replaced`) and closed: the newest
   * connection wins, so a device whose old link died unnoticed gets in at once. Repeated
   * replacements of a live session from other addresses flag a clone (`CloneDetector`).
   */
  attachSession(environmentId: number, session: Session, now = Date.now()): () => void {
    const replaced = this.#sessions.get(environmentId);
    this.#sessions.set(environmentId, session);
    if (replaced) {
      const healthy = replaced.healthy();
      replaced.push({ type: "refused", code: refusedCodes.replaced, message: `another connection presented this device's identity from ${session.sourceAddress}; this session was closed` });
      replaced.close();
      this.#log("info", `edge session of environment ${environmentId} from ${replaced.sourceAddress} replaced by a connection from ${session.sourceAddress}`);
      this.#noteReplacement(environmentId, replaced.sourceAddress, session.sourceAddress, healthy, now).catch((error: unknown) => {
        this.#log("warn", `could not record the clone episode of environment ${environmentId}: ${error instanceof Error ? error.message : String(error)}`);
      });
    }
    this.#openedAt.set(session, now);
    for (const listener of this.#sessionListeners) listener(environmentId, session.sourceAddress, now);
    return () => {
      if (this.#sessions.get(environmentId) !== session) return;
      this.#sessions.delete(environmentId);
      this.#sessionClosed(environmentId);
    };
  }

  /**
   * Ends this server's session of a device whose newer session opened on another replica
   * (`session_opened`), as a replacement here does: `refused {code: "replaced"}` naming the new
   * connection's address, and the clone check. False when this server holds no session for it,
   * or one that opened after `by.openedAt` (an announcement that arrived late), which stays.
   */
  replacedElsewhere(environmentId: number, by: { sourceAddress: string; replica: string; openedAt?: number }, now = Date.now()): boolean {
    const replaced = this.#sessions.get(environmentId);
    if (!replaced) return false;
    if (by.openedAt !== undefined && (this.#openedAt.get(replaced) ?? 0) > by.openedAt) return false;
    this.#sessions.delete(environmentId);
    this.#docker.forget(environmentId);
    const healthy = replaced.healthy();
    replaced.push({ type: "refused", code: refusedCodes.replaced, message: `another connection presented this device's identity from ${by.sourceAddress}; this session was closed` });
    replaced.close();
    this.#log("info", `edge session of environment ${environmentId} from ${replaced.sourceAddress} replaced by a connection from ${by.sourceAddress} on replica ${by.replica}`);
    this.#noteReplacement(environmentId, replaced.sourceAddress, by.sourceAddress, healthy, now).catch((error: unknown) => {
      this.#log("warn", `could not record the clone episode of environment ${environmentId}: ${error instanceof Error ? error.message : String(error)}`);
    });
    return true;
  }

  async #noteReplacement(environmentId: number, from: string, by: string, healthy: boolean, now: number): Promise<void> {
    const decision = this.#clones.replaced(environmentId, { replaced: from, by, replacedWasHealthy: healthy }, now);
    if (!decision.clone) return;
    const clone = decision.clone;
    if (decision.audit) {
      this.#log("warn", `environment ${environmentId}: its identity is used from ${clone.addresses.join(" and ")} at once (a cloned device: copied data directory or certificate); its sessions keep replacing each other`);
      const environment = await this.#store.environments.get(environmentId);
      await this.#store.audit.append({
        kind: "identity_clone",
        environmentId,
        edgeId: environment?.edgeId ?? null,
        sourceAddress: by,
        at: new Date(now),
        detail: { addresses: clone.addresses, firstSeen: clone.firstSeen.toISOString(), replacements: cloneRule.replacements, windowSeconds: cloneRule.windowMs / 1000 },
      });
    }
    if (decision.persist) await this.#store.environments.update(environmentId, { identityClone: clone });
  }

  /**
   * The device's clone flag: this server's memory first (fresher than the store, which is
   * written at most once a minute per episode), else what the store holds.
   */
  cloneOf(environment: Pick<Environment, "id" | "identityClone">): IdentityClone | null {
    return this.#clones.latest(environment.id) ?? environment.identityClone;
  }

  /** Keeps the device's latest Docker snapshot; `not_found` if the environment was removed meanwhile. */
  async recordSnapshot(environmentId: number, snapshot: DockerSnapshot, at = new Date()): Promise<void> {
    await this.#store.snapshots.put(environmentId, snapshot, at, summarizeDockerSnapshot(snapshot));
  }

  /**
   * Pushes one frame to the device's open session; `false` when it has none (offline, or
   * polling), so the caller can say so at once instead of waiting for an answer.
   *
   * @example
   * if (!edge.push(environmentId, { type: "tunnel", id })) throw new ServerError("unavailable", "offline");
   */
  push(environmentId: number, message: ServerMessage): boolean {
    const session = this.#sessions.get(environmentId);
    if (!session) return false;
    session.push(message);
    return true;
  }

  /** True while the device holds an open session. */
  isConnected(environmentId: number): boolean {
    return this.#sessions.has(environmentId);
  }

  /** The environments whose session this server holds (a replica's resync checks who owns each). */
  heldSessions(): number[] {
    return [...this.#sessions.keys()];
  }

  /** Pushes the current status (after association or an interval change) to an open session. */
  async notifyChanged(environmentId: number): Promise<void> {
    // An association issues the certificate of a device that enrolled with a CSR, online or
    // not: an offline one gets it in its next welcome (Enrollment.redelivery).
    let grant = await this.#identity?.issuePending(environmentId);
    const session = this.#sessions.get(environmentId);
    const environment = await this.#store.environments.get(environmentId);
    if (!session || !environment) return;
    // Associated on another replica, which issued (and took the CSR): this session, opened
    // without a certificate, still has to receive it.
    if (!grant && session.presentedCertificate === false && environment.userTrusted) grant = await this.#identity?.issuedGrant(environment);
    const settings = await this.#store.settings.get();
    session.push(statusOf(environment, settings));
    if (grant) session.push({ type: "certificate", grant });
  }

  /**
   * Pushes the status, with the new global interval, to every open session: one read of the
   * settings and one query per 1,000 held environments (`getMany`), not three reads per session.
   * Association and certificates are `notifyChanged`'s (an environment's own change).
   */
  async notifyAll(): Promise<void> {
    await this.notifyMany([...this.#sessions.keys()]);
  }

  /**
   * Pushes the status (with the stored desired-state version) to the open sessions of those of
   * `environmentIds` this server holds: one read of the settings and one query per 1,000 held.
   */
  async notifyMany(environmentIds: readonly number[]): Promise<void> {
    const held = environmentIds.filter((id) => this.#sessions.has(id));
    if (held.length === 0) return;
    const settings = await this.#store.settings.get();
    const environments = await this.#store.environments.getMany(held);
    for (const environment of environments) this.#sessions.get(environment.id)?.push(statusOf(environment, settings));
  }

  /** Ends a device's session with a reason (it was removed; the server restarts: come back in `retryAfterSeconds`). */
  disconnect(environmentId: number, code: string, message: string, retryAfterSeconds?: number): void {
    const session = this.#sessions.get(environmentId);
    if (!session) return;
    this.#sessions.delete(environmentId);
    session.push({ type: "refused", code, message, ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }) });
    session.close();
    this.#sessionClosed(environmentId);
    if (code === "removed") this.#clocks.forget(environmentId);
  }

  /** Closes every session (shutdown). */
  closeAll(): void {
    const held = [...this.#sessions.entries()];
    this.#sessions.clear();
    for (const [environmentId, session] of held) {
      session.close();
      this.#sessionClosed(environmentId);
    }
  }
}
