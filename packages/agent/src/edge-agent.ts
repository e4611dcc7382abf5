import type { KeyObject } from "node:crypto";
import { formatNameDer, inferClientCertificateRejection, parseCertificate, parsePem, probeEndpoint } from "@pier/pki";
import type { CertificateGrant, Hello, ServerMessage, Welcome } from "@pier/protocol";
import { defaultCheckinIntervalSeconds, edgeHeaders, protocolVersion, refusedCodes, splitHostPort } from "@pier/protocol/wire";
import type { AgentConfig } from "./config.ts";
import { backoff, backoffDelay, healthySessionMs, lostLink, nextDial, sleep, sleepUntil, wasHealthy, type Ending } from "./backoff.ts";
import { DeviceIdentity, describePair, deviceCsr, IdentityStore, requestRenewal, requestRenewalOnce, type DialPlan, type IdentityPair } from "./identity/index.ts";
import { checkIn, runSession, type EdgeSession } from "./channel.ts";
import { ClusterMember } from "./cluster.ts";
import { deviceInfo } from "./device-info.ts";
import { DockerStateReporter, DockerStatus, DockerTunnels, SnapshotReporter } from "./docker/index.ts";
import { connectionError, dialServer, type ClientIdentity, type DialTarget } from "./dial.ts";
import { AgentError, type Explained } from "./errors.ts";
import type { Logger } from "./logger.ts";
import { writeFailure } from "./disk-full.ts";
import { StateFile, type AgentState } from "./state.ts";
import { FleetAgent, type FleetAgentOptions } from "./fleet/fleet-agent.ts";
import { AgentUpdater } from "./update/agent-updater.ts";
import { createJobRuntime } from "./jobs/job-runtime.ts";
import { pollingConnection, type FleetConnection } from "./fleet/fleet-connection.ts";
import { createStackRuntime } from "./stacks/stack-runtime.ts";
import { ServerClock } from "./server-clock.ts";
import { stackEngineFor } from "./stacks/swarm-engine.ts";

/** One session connection of this turn, with what it presented. */
interface OpenSession {
  readonly plan: DialPlan;
  /** Settles when the session ends; rejects with an `AgentError` when it was refused or failed. */
  readonly ended: Promise<void>;
  /** True once the server welcomed the session, false if it ended first. */
  readonly welcomed: Promise<boolean>;
  /** The connection, once welcomed: renewals are posted on it. */
  http2: EdgeSession["http2"] | undefined;
  closed: boolean;
  stop(): void;
}

/**
 * The edge agent: dials the server, says hello, keeps the session (or polls), and reconnects
 * with backoff. Without `--mtlscert` it enrolls with Pier's built-in CA and renews its
 * certificate itself (docs/identity.md). Everything it has to say goes through one logger.
 */
export class EdgeAgent {
  readonly #config: AgentConfig;
  readonly #log: Logger;
  readonly #env: Readonly<Record<string, string | undefined>>;
  readonly #stateFile: StateFile;
  /** Last persisted state; changed only by #remember. */
  #state: AgentState;
  /** Code of the last failure logged, so a repeating failure is logged once, not every retry. */
  #lastFailure: string | undefined;
  /** Status last logged ("waiting"/"associated"), to log changes only. */
  #lastStatus: string | undefined;
  /** Check-in interval in force, to log changes only. */
  #interval: number | undefined;
  /** Posts the Docker snapshot during each session; remembers across sessions what it logged. */
  readonly #snapshots: SnapshotReporter;
  /** Docker tunnels the server asked for, bounded in number. */
  readonly #tunnels: DockerTunnels;
  /** Tells the server, in the session's heartbeats, whether Docker answers. */
  readonly #dockerStates: DockerStateReporter;
  /** The snapshot activity of the current session; aborted when that session ends. */
  #snapshotActivity: AbortController | undefined;
  /** Set with AGENT_CLUSTER_ADDR: one agent of the swarm speaks, the others wait their turn. */
  readonly #cluster: ClusterMember | undefined;
  /** When the current session (or polling run) was first welcomed; decides whether the backoff resets. */
  #welcomedAt: number | undefined;
  /** Whether we said that another device uses our identity; said again only after a healthy session. */
  #replacedReported = false;
  /** Pier's built-in flow (no `--mtlscert`): the device's own key and issued certificate. */
  readonly #identity: DeviceIdentity | undefined;
  /** A planned reconnect (a certificate was just issued): dial again at once, without backoff. */
  #reconnectNow = false;
  /** How the last turn ended (refused code, the server's retry hint), for the wait before the next dial. */
  #ending: Ending | undefined;
  /** When the server said it was restarting; until a welcome, failing to reach it is expected, not an error. */
  #restartingAt: number | undefined;
  /** Whether we said that the certificate was revoked; said once per run. */
  #revokedReported = false;
  /** The session of this turn that is in use: renewals ride it; replaced by its successor after a renewal. */
  #active: OpenSession | undefined;
  /** The current turn of sessions' signal, for the sessions opened during it. */
  #turnSignal: AbortSignal | undefined;
  /** A session opened with a renewed pair, and the one it replaces once it is welcomed (make before break). */
  #successor: { readonly from: OpenSession; readonly to: OpenSession } | undefined;
  /** The renewal under way after a 429/503: its key and CSR, asked for again after Retry-After. */
  #pendingRenewal: { readonly key: KeyObject; readonly csr: string } | undefined;
  /** The pair the last connection presented, to explain a refused handshake. */
  #lastPair: IdentityPair | undefined;
  /** Desired state, reports and the runtimes they drive (fleet/fleet-agent.ts). */
  readonly #fleet: FleetAgent;
  /** The server's time as this device knows it, from its welcomes, acks and answers (docs/identity.md "Clock skew"). */
  readonly #clock: ServerClock;

  constructor(config: AgentConfig, log: Logger, env: Readonly<Record<string, string | undefined>>, fleet: Partial<Omit<FleetAgentOptions, "dataDir" | "log">> = {}) {
    this.#config = config;
    this.#log = log;
    this.#env = env;
    this.#stateFile = new StateFile(config.dataDir);
    this.#state = this.#stateFile.load(config.edgeId);
    const dockerStatus = new DockerStatus(config.docker, log);
    this.#snapshots = new SnapshotReporter(config.docker, log, dockerStatus);
    this.#tunnels = new DockerTunnels(config.docker, log, dockerStatus);
    this.#dockerStates = new DockerStateReporter(config.docker, dockerStatus);
    this.#cluster = config.clusterAddress === undefined ? undefined : new ClusterMember(config.docker, config.clusterAddress, log);
    this.#clock = new ServerClock(log);
    this.#identity = config.tls.cert === undefined ? new DeviceIdentity(new IdentityStore(config.dataDir, { crashAt: env.PIER_AGENT_TEST_CRASH_AT }), config.edgeId, log, this.#clock) : undefined;
    this.#fleet = new FleetAgent({
      dataDir: config.dataDir,
      log,
      stackRuntime: (reporter) =>
        createStackRuntime({ docker: config.docker, dataDir: config.dataDir, reporter, log, engine: stackEngineFor(config.docker, log, config.clusterAddress), ...(config.stackSettleMs === undefined ? {} : { settleMs: config.stackSettleMs }) }),
      jobRuntime: (reporter) => createJobRuntime({ docker: config.docker, dataDir: config.dataDir, reporter, log, image: config.jobImage, privileged: config.jobPrivileged }),
      agentUpdater: (reporter) => new AgentUpdater({ docker: config.docker, dataDir: config.dataDir, log, reporter }),
      ...fleet,
    });
  }

  /** Runs until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    this.#logStart();
    // The kept desired state is acted on at once, before (and whether or not) the server answers.
    this.#fleet.start();
    for (let attempt = 0; !signal.aborted; ) {
      await this.#cluster?.waitForTurn(signal);
      if (signal.aborted) break;
      // A turn in the cluster lasts while this node leads the swarm: the watch ends the session.
      const turn = new AbortController();
      const stop = () => turn.abort();
      signal.addEventListener("abort", stop, { once: true });
      void this.#cluster?.watch(turn);
      this.#welcomedAt = undefined;
      const dialledAt = Date.now();
      try {
        if (this.#config.mode === "session") await this.#session(turn.signal);
        else await this.#poll(turn.signal);
        if (this.#config.mode === "session" && !turn.signal.aborted && !this.#reconnectNow) this.#log.log("warn", "the server closed the session; reconnecting");
      } catch (error) {
        await this.#report(error);
      } finally {
        signal.removeEventListener("abort", stop);
        turn.abort();
      }
      // Whatever ended the session, wait before dialling again: redialling at once after a session
      // that had connected let two devices sharing one identity evict each other thousands of
      // times a minute (issue 16). Only a session that stayed healthy starts the backoff over.
      if (wasHealthy(this.#welcomedAt === undefined ? undefined : Date.now() - this.#welcomedAt)) {
        attempt = 0;
        this.#replacedReported = false;
      }
      if (this.#reconnectNow) {
        // The server just issued our certificate: reconnect with it now (a planned reconnect).
        this.#reconnectNow = false;
        continue;
      }
      // An unreached ending's wait counts from the start of the dial that failed (backoff.ts).
      const ending = this.#ending === undefined ? {} : { ...this.#ending, lastedMs: Date.now() - dialledAt };
      const next = nextDial(attempt, ending, Math.random, (this.#interval ?? defaultCheckinIntervalSeconds) * 1000);
      this.#ending = undefined;
      attempt = next.attempt;
      this.#log.log("debug", `dialling again in ${Math.round(next.delayMs)} ms`);
      await sleep(next.delayMs, signal);
    }
    await this.#fleet.close();
    this.#log.log("info", "agent stopped");
  }

  /**
   * Where to dial: the tunnel address for sessions, and for polling with a Pier-issued
   * certificate too (the tunnel listener asks for client certificates; the HTTPS listener,
   * which browsers use, does not); else the API URL's host.
   */
  #target(pair?: IdentityPair): { target: DialTarget; authority: string } {
    const tunnel = this.#config.mode === "session" || pair !== undefined;
    const address = tunnel ? this.#config.edgeKey.tunnelAddress : new URL(this.#config.edgeKey.apiUrl).host;
    const { host, port } = splitHostPort(address.includes(":") ? address : `${address}:443`);
    return { target: { host, port }, authority: `https://${address}` };
  }

  #hello(csr?: string): Hello {
    return {
      type: "hello",
      protocol: protocolVersion,
      environmentId: this.#config.edgeKey.environmentId,
      agent: deviceInfo(this.#config.edgeId, this.#env),
      ...(this.#state.deviceToken === undefined ? {} : { deviceToken: this.#state.deviceToken }),
      ...(this.#config.edgeKey.secret === undefined ? {} : { edgeKeySecret: this.#config.edgeKey.secret }),
      ...(csr === undefined ? {} : { csr }),
      ...(this.#config.groups.length === 0 ? {} : { edgeGroups: this.#config.groups }),
      // The device's clock, so the server can say how far it is from its own (docs/identity.md "Clock skew").
      clock: Date.now(),
    };
  }

  /** What the next connection presents (operator flow: the `--mtlscert` files, nothing to plan). */
  #plan(): DialPlan {
    const plan = this.#identity?.plan() ?? {};
    this.#lastPair = plan.pair;
    return plan;
  }

  #clientIdentity(plan: DialPlan): ClientIdentity | undefined {
    return this.#identity?.clientIdentity(plan);
  }

  /**
   * One turn of sessions: a session, and after each renewal its successor, opened with the new
   * pair while the old one still runs; the old one is closed once the new one is welcomed (make
   * before break), so the heartbeat never stops. Resolves or rejects as the last session ends.
   */
  async #session(signal: AbortSignal): Promise<void> {
    const turn = new AbortController();
    const stop = () => turn.abort();
    signal.addEventListener("abort", stop, { once: true });
    this.#turnSignal = turn.signal;
    try {
      let active = await this.#openSession(this.#plan(), turn.signal);
      this.#active = active;
      if (this.#identity && active.plan.pair && active.plan.csr === undefined) {
        this.#renewals(this.#identity, turn.signal).catch((error: unknown) => this.#log.log("error", `certificate renewal stopped unexpectedly: ${String(error)}`));
      }
      for (;;) {
        const error = await active.ended.then(
          () => undefined,
          (failure: unknown) => (failure instanceof Error ? failure : new Error(`the session failed: ${JSON.stringify(failure)}`)),
        );
        const successor = this.#successor;
        if (successor?.from === active && !turn.signal.aborted) {
          // The old session ends during the swap (we closed it, or the server replaced it when
          // the new one said hello: that `replaced` is ours, not a clone's).
          this.#successor = undefined;
          if (await successor.to.welcomed) {
            active = successor.to;
            this.#active = active;
            continue;
          }
          // The successor was refused (a take-over at enrollment): its reason ends the turn.
          const refused = await successor.to.ended.then(
            () => undefined,
            (failure: unknown) => (failure instanceof Error ? failure : new Error(`the session failed: ${JSON.stringify(failure)}`)),
          );
          if (refused !== undefined) throw refused;
        }
        if (error !== undefined) throw error;
        return;
      }
    } finally {
      signal.removeEventListener("abort", stop);
      turn.abort();
      this.#active = undefined;
      this.#successor = undefined;
      this.#turnSignal = undefined;
    }
  }

  /** Dials and starts one session presenting `plan`; resolves once it is running. */
  async #openSession(plan: DialPlan, signal: AbortSignal): Promise<OpenSession> {
    const { target, authority } = this.#target(plan.pair);
    const stopping = new AbortController();
    const stop = () => stopping.abort();
    signal.addEventListener("abort", stop, { once: true });
    let socket;
    try {
      socket = await dialServer(this.#config, target, "h2", stopping.signal, this.#clientIdentity(plan));
    } catch (error) {
      signal.removeEventListener("abort", stop);
      throw error;
    }
    let markWelcomed: (welcomed: boolean) => void = () => undefined;
    const welcomed = new Promise<boolean>((resolve) => (markWelcomed = resolve));
    const open: OpenSession = { plan, welcomed, ended: Promise.resolve(), http2: undefined, closed: false, stop };
    const onMessage = (message: ServerMessage, session: EdgeSession) => {
      if (message.type === "welcome" || message.type === "ack") this.#clock.learn(message.time);
      if (message.type === "welcome" && this.#identity?.planOutdated(plan)) {
        // By the server's time, what this connection presented was judged on a wrong clock: a
        // valid certificate presented as expired (with a CSR), or an expired one as valid.
        this.#log.log("info", "by the server's time, this device's certificate was judged on a wrong clock for this connection: reconnecting with the right one");
        this.#reconnectNow = true;
        stop();
        return;
      }
      if (message.type === "welcome") {
        open.http2 = session.http2;
        this.#identity?.welcomed(plan);
        markWelcomed(true);
      }
      this.#onSessionMessage(message, session, authority, plan, stop);
    };
    const onServerDate = (date: string | undefined) => this.#clock.learnDateHeader(date);
    const ended = runSession(socket, authority, this.#hello(plan.csr), { onMessage, onServerDate }, stopping.signal)
      .catch((error: unknown) => {
        throw connectionError(error, this.#config, target, plan.pair !== undefined || this.#config.tls.cert !== undefined);
      })
      .finally(() => {
        open.closed = true;
        signal.removeEventListener("abort", stop);
        markWelcomed(false);
        if (open.http2) this.#fleet.sessionClosed(open.http2);
      });
    // A successor that never takes over is not awaited by the turn: its failure is reported by #renewals.
    ended.catch(() => undefined);
    return Object.assign(open, { ended });
  }

  // Polling has no HTTP/2 session for the Docker snapshot or tunnels to ride: in this mode the
  // server sees the device's check-ins only.
  async #poll(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const plan = this.#plan();
      const { target, authority } = this.#target(plan.pair);
      const socket = await dialServer(this.#config, target, "http/1.1", signal, this.#clientIdentity(plan));
      const welcome = await checkIn(socket, target.host, this.#hello(plan.csr), (date) => this.#clock.learnDateHeader(date)).catch((error: unknown) => {
        throw connectionError(error, this.#config, target, plan.pair !== undefined || this.#config.tls.cert !== undefined);
      });
      this.#clock.learn(welcome.time);
      if (this.#identity?.planOutdated(plan)) continue;
      this.#identity?.welcomed(plan);
      this.#onMessage(welcome, plan.pair ? authority : this.#config.edgeKey.apiUrl);
      this.#fleet.polled(welcome, this.#pollingFleetConnection(plan));
      // A certificate issued at this check-in: the next one presents it, at once.
      if (welcome.certificate && this.#grant(welcome.certificate, plan)) continue;
      if (this.#identity && plan.pair && plan.csr === undefined && this.#identity.renewalDue(plan.pair).getTime() <= Date.now()) {
        await this.#renewPolling(this.#identity, plan.pair, signal);
        continue;
      }
      await sleep(welcome.checkinIntervalSeconds * 1000, signal);
    }
  }

  /** Session frames: Docker work and certificates start here, the rest is shared with polling. */
  #onSessionMessage(message: ServerMessage, session: EdgeSession, server: string, plan: DialPlan, endSession: () => void): void {
    if (message.type === "tunnel") {
      this.#tunnels.open(session.http2, message.id).catch((error: unknown) => this.#log.log("error", `tunnel ${message.id} failed unexpectedly: ${String(error)}`));
      return;
    }
    if (message.type === "certificate" || (message.type === "welcome" && message.certificate)) {
      const grant = message.type === "certificate" ? message.grant : message.certificate;
      // Issued: a session presenting the certificate takes over from this one.
      if (grant && this.#grant(grant, plan)) {
        const from = this.#active;
        if (from?.plan === plan && this.#identity && this.#turnSignal) void this.#takeOver(from, this.#identity, this.#turnSignal);
        else endSession();
        return;
      }
    }
    if (message.type === "renew") {
      if (this.#identity) this.#identity.pushed(message, this.#active?.plan.pair);
      else this.#log.log("warn", `the server asks this device to renew its certificate (${message.reason}), but it uses the certificate files given with --mtlscert/--mtlskey, which the agent cannot renew: replace them with a certificate from the new CA and restart the agent.`);
      return;
    }
    this.#onMessage(message, server);
    if (message.type === "welcome" || message.type === "status") this.#fleet.sessionMessage(message, session.http2);
    if (message.type === "welcome") this.#startSnapshots(session);
  }

  /**
   * A polling agent's fleet requests: each on a new connection to the address it polls,
   * presenting the same certificate as its check-ins, naming its EDGE_ID (and its device token
   * when it has no certificate), as the server's fleet routes ask.
   */
  #pollingFleetConnection(plan: DialPlan): FleetConnection {
    const { target } = this.#target(plan.pair);
    const identity = this.#clientIdentity(plan);
    const token = plan.pair === undefined && this.#config.tls.cert === undefined ? this.#state.deviceToken : undefined;
    return pollingConnection((signal) => dialServer(this.#config, target, "http/1.1", signal, identity), target.host, {
      [edgeHeaders.edgeId]: this.#config.edgeId,
      ...(token === undefined ? {} : { [edgeHeaders.deviceToken]: token }),
    });
  }

  /** A certificate the server issued on the connection of `plan`: true when stored (reconnect now). */
  #grant(grant: CertificateGrant, plan: DialPlan): boolean {
    if (!this.#identity) {
      this.#log.log("warn", "the server sent a certificate, but this agent uses --mtlscert/--mtlskey; it was ignored.");
      return false;
    }
    if (!this.#identity.acceptGrant(grant, plan)) return false;
    this.#reconnectNow = true;
    return true;
  }

  /**
   * The certificate issued at enrollment: a session presenting it takes over from the one that
   * enrolled (make before break, as after a renewal), so an associated device stays reachable
   * throughout; its renewals start with it. If it cannot, the old session ends and the agent
   * dials again at once.
   */
  async #takeOver(from: OpenSession, identity: DeviceIdentity, signal: AbortSignal): Promise<void> {
    const plan = this.#plan();
    if (!plan.pair || plan.csr !== undefined) {
      from.stop();
      return;
    }
    let successor: OpenSession;
    try {
      successor = await this.#openSession(plan, signal);
    } catch (error) {
      this.#log.log("warn", `the session with the new certificate could not be opened (${error instanceof Error ? error.message : String(error)}); reconnecting`);
      from.stop();
      return;
    }
    this.#successor = { from, to: successor };
    if (!(await successor.welcomed)) {
      // The planned reconnect happened and was refused: the turn ends with its reason, and the
      // next attempt waits like after any failure.
      this.#reconnectNow = false;
      from.stop();
      return;
    }
    // Not a reconnect after all: the turn goes on with the new session.
    this.#reconnectNow = false;
    this.#active = successor;
    from.stop();
    this.#renewals(identity, signal).catch((error: unknown) => this.#log.log("error", `certificate renewal stopped unexpectedly: ${String(error)}`));
  }

  /**
   * Renews the certificate of this turn's active session when it is due (or when the server
   * pushes `renew`): a new key in `next.key`, its CSR posted on the active session's
   * connection, the grant stored as `next.crt`, then a second session with the new pair; once
   * that one is welcomed it becomes the active one and the old one is closed. A failure never
   * touches the current pair: the agent tries again (after `Retry-After` when the server gave one).
   */
  async #renewals(identity: DeviceIdentity, signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      const active = this.#active;
      if (!active || !(await active.welcomed) || active.closed) return;
      const pair = active.plan.pair;
      if (!pair) return;
      const due = identity.renewalDue(pair);
      this.#log.log("debug", `certificate renewal due at ${due.toISOString()}`);
      const wake = identity.wakeSignal;
      // A clock set meanwhile (or a first reading of the server's) moves the moment on this device's clock.
      if (!(await sleepUntil(due, AbortSignal.any([signal, wake, this.#clock.movedSignal])))) continue;
      if (signal.aborted || active.closed) return;
      const outcome = await this.#renewOnce(identity, active, pair, signal);
      if (outcome === "renewed") failures = 0;
      else if (outcome === "failed") identity.renewLater(pair, new Date(Date.now() + backoffDelay(failures++)));
    }
  }

  async #renewOnce(identity: DeviceIdentity, active: OpenSession, pair: IdentityPair, signal: AbortSignal): Promise<"renewed" | "failed" | "later"> {
    const renewalKey = this.#tryRenewalKey(identity, pair);
    if (!renewalKey) return "failed";
    const { key, csr } = renewalKey;
    if (!active.http2) return "failed";
    const answer = await requestRenewal(active.http2, csr, signal);
    if (signal.aborted) return "failed";
    if (answer.kind === "later") {
      identity.renewLater(pair, new Date(Date.now() + answer.retryAfterMs));
      this.#log.log("info", `the server asked to renew later (${answer.error.explained?.cause ?? answer.error.message}); trying again in ${Math.round(answer.retryAfterMs / 1000)} s. The current certificate stays in use.`);
      return "later";
    }
    // Only an answer "later" asks for the same key and CSR again.
    this.#pendingRenewal = undefined;
    if (answer.kind === "failed") {
      this.#log.log("error", `certificate renewal failed: ${answer.error.explained?.cause ?? answer.error.message} — ${answer.error.explained?.fix ?? "the agent tries again"}. The current certificate ${describePair(pair)} stays in use; the agent tries again with its backoff.`);
      return "failed";
    }
    if (!identity.acceptRenewal(answer.grant, key)) return "failed";
    const next = identity.store.load(new Date(this.#clock.now())).usable;
    if (!next || next.certSlot !== "next") return "failed";
    let successor: OpenSession;
    try {
      successor = await this.#openSession({ pair: next }, signal);
    } catch (error) {
      identity.store.discardNext();
      this.#log.log("error", `the renewed certificate could not open a session (${error instanceof Error ? error.message : String(error)}); it was dropped and the current one stays in use. The agent renews again with its backoff.`);
      return "failed";
    }
    this.#successor = { from: active, to: successor };
    if (await successor.welcomed) {
      this.#active = successor;
      active.stop();
      return "renewed";
    }
    this.#successor = undefined;
    identity.store.discardNext();
    const reason = await successor.ended.then(
      () => "the server closed it before welcoming it",
      (error: unknown) => (error instanceof Error ? error.message : String(error)),
    );
    this.#log.log("error", `the renewed certificate's session was not welcomed (${reason}); the renewed certificate was dropped and the current one stays in use. The agent renews again with its backoff.`);
    return "failed";
  }

  /**
   * `#renewalKey`, or `undefined` after saying why it could not be written (a full disk): the
   * renewal fails like any other and is tried again with the backoff. It threw before, which
   * ended the session's renewals for good: the certificate then expired (chaos suite, disk-full).
   */
  #tryRenewalKey(identity: DeviceIdentity, pair: IdentityPair): { key: KeyObject; csr: string } | undefined {
    try {
      return this.#renewalKey(identity);
    } catch (error) {
      this.#log.log("error", `certificate renewal could not start: ${writeFailure("the renewal's new key (next.key)", identity.store.dir, error)} The current certificate ${describePair(pair)} stays in use.`);
      return undefined;
    }
  }

  /** The key (`next.key`) and CSR of the renewal under way, made at its first request. */
  #renewalKey(identity: DeviceIdentity): { key: KeyObject; csr: string } {
    if (!this.#pendingRenewal) {
      const key = identity.store.newNextKey();
      this.#pendingRenewal = { key, csr: deviceCsr(key, this.#config.edgeId) };
    }
    return this.#pendingRenewal;
  }

  /** A polling agent renews over its own HTTP/1.1 connection; the next check-in presents the new pair. */
  async #renewPolling(identity: DeviceIdentity, pair: IdentityPair, signal: AbortSignal): Promise<void> {
    const { target } = this.#target(pair);
    const renewalKey = this.#tryRenewalKey(identity, pair);
    if (!renewalKey) {
      identity.renewLater(pair, new Date(Date.now() + backoffDelay(4)));
      return;
    }
    const { key, csr } = renewalKey;
    const socket = await dialServer(this.#config, target, "http/1.1", signal, this.#clientIdentity({ pair }));
    const answer = await requestRenewalOnce(socket, target.host, csr);
    if (answer.kind !== "later") this.#pendingRenewal = undefined;
    if (answer.kind === "granted") {
      if (identity.acceptRenewal(answer.grant, key)) return;
      identity.renewLater(pair, new Date(Date.now() + backoffDelay(4)));
      return;
    }
    const wait = answer.kind === "later" ? answer.retryAfterMs : backoffDelay(4);
    identity.renewLater(pair, new Date(Date.now() + wait));
    this.#log.log(answer.kind === "later" ? "info" : "error", `certificate renewal ${answer.kind === "later" ? "postponed by the server" : "failed"}: ${answer.error.explained?.cause ?? answer.error.message}; trying again in ${Math.round(wait / 1000)} s. The current certificate stays in use.`);
  }

  /** Starts reporting Docker snapshots, and whether Docker answers, for `session`, until it ends. */
  #startSnapshots(session: EdgeSession): void {
    this.#snapshotActivity?.abort();
    const activity = new AbortController();
    this.#snapshotActivity = activity;
    if (session.signal.aborted) return;
    session.signal.addEventListener("abort", () => activity.abort(), { once: true });
    this.#snapshots.run(session.http2, activity.signal).catch((error: unknown) => this.#log.log("error", `Docker snapshot reporting stopped unexpectedly: ${String(error)}`));
    const interval = () => (this.#interval ?? defaultCheckinIntervalSeconds) * 1000;
    this.#dockerStates.run(session, interval, activity.signal).catch((error: unknown) => this.#log.log("error", `Docker state reporting stopped unexpectedly: ${String(error)}`));
  }

  #onMessage(message: ServerMessage, server: string): void {
    if (message.type === "ack") return;
    if (message.type === "welcome") this.#welcomed(message, server);
    else if (message.type === "status" && message.status !== this.#lastStatus) {
      this.#lastStatus = message.status;
      this.#log.log("info", message.status === "associated" ? `associated by the administrator; checking in every ${message.checkinIntervalSeconds} s` : "moved back to the waiting room");
    } else if (message.type === "status" && message.checkinIntervalSeconds !== this.#interval) {
      this.#log.log("info", `check-in interval is now ${message.checkinIntervalSeconds} s`);
    }
    if (message.type === "welcome" || message.type === "status") this.#interval = message.checkinIntervalSeconds;
  }

  #welcomed(welcome: Welcome, server: string): void {
    this.#welcomedAt ??= Date.now();
    this.#restartingAt = undefined;
    if (this.#lastFailure !== undefined) this.#log.log("info", "connection restored");
    this.#lastFailure = undefined;
    const first = this.#state.environmentId === undefined;
    if (welcome.environmentId !== this.#state.environmentId || welcome.deviceToken !== undefined) {
      this.#state = { ...this.#state, environmentId: welcome.environmentId, ...(welcome.deviceToken === undefined ? {} : { deviceToken: welcome.deviceToken }) };
      this.#stateFile.save(this.#state);
    }
    if (this.#config.mode === "session" || welcome.status !== this.#lastStatus) {
      const placeholder = first && welcome.status === "waiting" ? " (placeholder environment id until association)" : "";
      const status = welcome.status === "waiting" ? "waiting for association in the Waiting Room" : "associated";
      this.#log.log("info", `connected to ${server} as environment ${welcome.environmentId}${placeholder}: ${status}; check-in every ${welcome.checkinIntervalSeconds} s`);
    }
    this.#lastStatus = welcome.status;
  }

  async #report(error: unknown): Promise<void> {
    const first: Explained =
      error instanceof AgentError && error.explained ? error.explained : { code: "unexpected", cause: error instanceof Error ? error.message : String(error), fix: "Report this with the agent's log." };
    const retryAfterMs = error instanceof AgentError ? error.retryAfterMs : undefined;
    const unreached = first.code === "server_silent" || lostLink(error);
    this.#ending = { code: first.code, ...(retryAfterMs === undefined ? {} : { retryAfterMs }), ...(unreached ? { unreached } : {}) };
    if (first.code === refusedCodes.restarting) {
      // Planned, not a failure: the server spread its fleet's return; the backoff does not advance.
      const when = retryAfterMs === undefined ? "with the backoff" : `in ${Math.round(nextDial(0, this.#ending).delayMs / 1000)} s, as it asked`;
      this.#log.log("info", `the server is restarting: reconnecting ${when}`);
      this.#restartingAt = Date.now();
      this.#lastFailure = undefined;
      return;
    }
    // A renewed pair the server refuses must not strand a device whose current pair still works.
    if (this.#identity?.refusedNext(this.#lastPair, first.code)) {
      this.#reconnectNow = true;
      return;
    }
    if (first.code === refusedCodes.replaced) {
      this.#reportReplaced(first);
      return;
    }
    if (first.code === refusedCodes.revoked || (this.#revokedReported && first.code === "closed_before_answer" && this.#lastPair)) {
      this.#reportRevoked(first);
      return;
    }
    if (first.code === this.#lastFailure) {
      this.#log.log("debug", `still failing: ${first.cause}`);
      return;
    }
    this.#lastFailure = first.code;
    if (this.#restartingAt !== undefined && Date.now() - this.#restartingAt < healthySessionMs) {
      this.#log.log("info", `the server is not back from its restart yet (${first.cause}); retrying with the backoff`);
      return;
    }
    const explained = await this.#refine(first);
    this.#log.log("error", `cannot connect to ${this.#target().authority}: ${explained.cause} — ${explained.fix}`);
  }

  /**
   * The server handed our session to another connection that presented our identity. A device
   * whose address changed never sees this (its old connection is gone), so it means another
   * device uses this identity: said plainly once, then at debug level until a session stays healthy.
   */
  #reportReplaced(explained: Explained): void {
    if (this.#replacedReported) {
      this.#log.log("debug", `session replaced again: ${explained.cause}`);
      return;
    }
    this.#replacedReported = true;
    if (this.#cluster) {
      // The swarm's agents share one identity on purpose: a new leader's agent takes the session over.
      this.#log.log("warn", `another agent took over this cluster's session: ${explained.cause}. Expected when the swarm's leadership moved (AGENT_CLUSTER_ADDR); otherwise another device uses this identity and needs its own --data directory and certificate.`);
      return;
    }
    const certificate = this.#config.tls.cert ? " and its own client certificate (--mtlscert/--mtlskey)" : "";
    const holds = this.#identity ? `${this.#config.dataDir}/agent.json and ${this.#identity.store.dir} hold this device's token, key and certificate` : `${this.#config.dataDir}/agent.json holds this device's token`;
    this.#log.log(
      "error",
      `another device is using this agent's identity (EDGE_ID ${this.#config.edgeId}): ${explained.cause}. Give each device its own identity: its own --data directory${certificate} (${holds}; never copy it to another device). Until then the two devices take turns and this agent waits up to ${backoff.capMs / 1000} s between attempts; this is logged once.`,
    );
  }

  /**
   * An administrator revoked this device's certificate: said once, at error level, with what to
   * do; the agent keeps trying with its capped backoff (an administrator may undo it by
   * removing the device, which lets it enroll again).
   */
  #reportRevoked(explained: Explained): void {
    if (this.#revokedReported) {
      this.#log.log("debug", `still refused (revoked): ${explained.cause}`);
      return;
    }
    this.#revokedReported = true;
    this.#lastFailure = explained.code;
    const which = this.#lastPair ? `certificate ${describePair(this.#lastPair)}` : "certificate";
    const clear = this.#identity ? `clear ${this.#identity.store.dir}` : "give it a new certificate (--mtlscert/--mtlskey)";
    this.#log.log(
      "error",
      `an administrator revoked this device's ${which}: ${explained.cause}. The agent cannot reconnect with it. Ask the administrator why; to enroll this device again, the administrator removes its environment on the server, then ${clear} and restart the agent. Until then the agent keeps trying every ${backoff.capMs / 1000} s at most; this is logged once.`,
    );
  }

  /**
   * A server that refuses a client certificate closes the connection without saying why. Ask it
   * which CAs it accepts (a TLS 1.2 probe reads the CertificateRequest), then check our
   * certificate's issuer, purpose and dates against that, to name the likely cause.
   */
  async #refine(explained: Explained): Promise<Explained> {
    if (explained.code === "closed_before_answer" && this.#lastPair) {
      const pair = this.#lastPair;
      const expired = pair.notAfter.getTime() <= this.#clock.now();
      return {
        code: "issued_certificate_refused",
        cause: `The server closed the connection after the TLS handshake: it refused this device's certificate ${describePair(pair)}${expired ? ", which has expired" : ""} (revoked, expired, or from a CA it no longer trusts).`,
        fix: `Ask the administrator: the device's page and the server's log name the reason. To enroll again, the administrator removes the environment on the server, then clear ${this.#identity?.store.dir ?? "the identity directory"} and restart the agent.`,
      };
    }
    if (explained.code !== "closed_before_answer" || !this.#config.tls.cert) return explained;
    const [block] = parsePem(this.#config.tls.cert);
    if (!block) return explained;
    const certificate = parseCertificate(block.der);
    const { target } = this.#target();
    const probe = await probeEndpoint({ host: target.host, port: target.port, servername: target.host, timeoutMs: 3000 }).catch(() => undefined);
    const acceptable = probe?.clientCertificate.acceptableCAs ?? [];
    const issuer = formatNameDer(certificate.issuerDer);
    const subject = `our client certificate (${certificate.subjectText}, issued by ${issuer})`;
    if (acceptable.length > 0 && !acceptable.includes(issuer)) {
      return {
        code: "client_certificate_unknown_ca",
        cause: `The server refused ${subject}: it accepts client certificates issued by ${acceptable.join("; ")} only.`,
        fix: "Use a client certificate issued by the server's mTLS CA (--mtlscert/--mtlskey), or ask the administrator to trust this CA.",
      };
    }
    const guess = inferClientCertificateRejection(certificate, [], new Date(), { flags: { cert: "--mtlscert", key: "--mtlskey", ca: "--mtlscacert" } });
    return guess ? { code: guess.code, cause: `The server refused ${subject}. ${guess.cause}`, fix: guess.fix } : { ...explained, cause: `${explained.cause} [${subject}]` };
  }

  #logStart(): void {
    const c = this.#config;
    for (const warning of c.warnings) this.#log.log("warn", warning);
    const verification = c.insecurePoll ? "verified by the fingerprint in EDGE_KEY only (EDGE_INSECURE_POLL=1: no CA check)" : c.tls.ca ? "verified with the mTLS CA file" : "verified by the fingerprint in EDGE_KEY";
    let certificate = "none";
    const held = this.#identity?.store.load();
    if (held?.usable) certificate = `${describePair(held.usable)} from ${this.#identity?.store.dir}, issued by the server`;
    else if (held?.expired) certificate = `${describePair(held.expired)}, expired: re-enrolling through the Waiting Room`;
    else if (this.#identity) certificate = "none yet: enrolls with the server's built-in CA (zero touch; a key made on this device, its fingerprint is logged below)";
    if (c.tls.cert) {
      const [block] = parsePem(c.tls.cert);
      if (block) {
        const info = parseCertificate(block.der);
        certificate = `${info.subjectText} (issued by ${info.issuerText}, valid until ${info.notAfter.toISOString()})`;
      }
    }
    const known = this.#state.environmentId === undefined ? "not enrolled yet" : `environment ${this.#state.environmentId}`;
    this.#log.log("info", `Pier agent starting: EDGE_ID ${c.edgeId} (${known}); server ${c.mode === "session" ? c.edgeKey.tunnelAddress : c.edgeKey.apiUrl} (${c.mode}), ${verification}; client certificate: ${certificate}; Docker: ${c.mode === "session" ? c.docker.url : "not reported when polling"}`);
  }
}
