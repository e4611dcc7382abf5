import { formatNameDer, inferClientCertificateRejection, parseCertificate, parsePem, probeEndpoint } from "@pier/pki";
import type { Hello, ServerMessage, Welcome } from "@pier/protocol";
import { protocolVersion, refusedCodes, splitHostPort } from "@pier/protocol/wire";
import type { AgentConfig } from "./config.ts";
import { backoff, backoffDelay, sleep, wasHealthy } from "./backoff.ts";
import { checkIn, runSession, type EdgeSession } from "./channel.ts";
import { ClusterMember } from "./cluster.ts";
import { deviceInfo } from "./device-info.ts";
import { DockerStatus, DockerTunnels, SnapshotReporter } from "./docker/index.ts";
import { connectionError, dialServer, type DialTarget } from "./dial.ts";
import { AgentError, type Explained } from "./errors.ts";
import type { Logger } from "./logger.ts";
import { StateFile, type AgentState } from "./state.ts";

/**
 * The edge agent: dials the server, says hello, keeps the session (or polls), and reconnects
 * with backoff. Everything it has to say goes through one logger.
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
  /** The snapshot activity of the current session; aborted when that session ends. */
  #snapshotActivity: AbortController | undefined;
  /** Set with AGENT_CLUSTER_ADDR: one agent of the swarm speaks, the others wait their turn. */
  readonly #cluster: ClusterMember | undefined;
  /** When the current session (or polling run) was first welcomed; decides whether the backoff resets. */
  #welcomedAt: number | undefined;
  /** Whether we said that another device uses our identity; said again only after a healthy session. */
  #replacedReported = false;

  constructor(config: AgentConfig, log: Logger, env: Readonly<Record<string, string | undefined>>) {
    this.#config = config;
    this.#log = log;
    this.#env = env;
    this.#stateFile = new StateFile(config.dataDir);
    this.#state = this.#stateFile.load(config.edgeId);
    const dockerStatus = new DockerStatus(config.docker, log);
    this.#snapshots = new SnapshotReporter(config.docker, log, dockerStatus);
    this.#tunnels = new DockerTunnels(config.docker, log, dockerStatus);
    this.#cluster = config.clusterAddress === undefined ? undefined : new ClusterMember(config.docker, config.clusterAddress, log);
  }

  /** Runs until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    this.#logStart();
    for (let attempt = 0; !signal.aborted; ) {
      await this.#cluster?.waitForTurn(signal);
      if (signal.aborted) break;
      // A turn in the cluster lasts while this node leads the swarm: the watch ends the session.
      const turn = new AbortController();
      const stop = () => turn.abort();
      signal.addEventListener("abort", stop, { once: true });
      void this.#cluster?.watch(turn);
      this.#welcomedAt = undefined;
      try {
        if (this.#config.mode === "session") await this.#session(turn.signal);
        else await this.#poll(turn.signal);
        if (this.#config.mode === "session" && !turn.signal.aborted) this.#log.log("warn", "the server closed the session; reconnecting");
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
      await sleep(backoffDelay(attempt++), signal);
    }
    this.#log.log("info", "agent stopped");
  }

  #target(): { target: DialTarget; authority: string } {
    const address = this.#config.mode === "session" ? this.#config.edgeKey.tunnelAddress : new URL(this.#config.edgeKey.apiUrl).host;
    const { host, port } = splitHostPort(address.includes(":") ? address : `${address}:443`);
    return { target: { host, port }, authority: `https://${address}` };
  }

  #hello(): Hello {
    return {
      type: "hello",
      protocol: protocolVersion,
      environmentId: this.#config.edgeKey.environmentId,
      agent: deviceInfo(this.#config.edgeId, this.#env),
      ...(this.#state.deviceToken === undefined ? {} : { deviceToken: this.#state.deviceToken }),
      ...(this.#config.edgeKey.secret === undefined ? {} : { edgeKeySecret: this.#config.edgeKey.secret }),
    };
  }

  async #session(signal: AbortSignal): Promise<void> {
    const { target, authority } = this.#target();
    const socket = await dialServer(this.#config, target, "h2", signal);
    try {
      await runSession(socket, authority, this.#hello(), { onMessage: (message, session) => this.#onSessionMessage(message, session, authority) }, signal);
    } catch (error) {
      throw connectionError(error, this.#config, target);
    }
  }

  // Polling has no HTTP/2 session for the Docker snapshot or tunnels to ride: in this mode the
  // server sees the device's check-ins only.
  async #poll(signal: AbortSignal): Promise<void> {
    const { target } = this.#target();
    while (!signal.aborted) {
      const socket = await dialServer(this.#config, target, "http/1.1", signal);
      const welcome = await checkIn(socket, target.host, this.#hello()).catch((error: unknown) => {
        throw connectionError(error, this.#config, target);
      });
      this.#onMessage(welcome, this.#config.edgeKey.apiUrl);
      await sleep(welcome.checkinIntervalSeconds * 1000, signal);
    }
  }

  /** Session frames: Docker work starts here, the rest is shared with polling. */
  #onSessionMessage(message: ServerMessage, session: EdgeSession, server: string): void {
    if (message.type === "tunnel") {
      this.#tunnels.open(session.http2, message.id).catch((error: unknown) => this.#log.log("error", `tunnel ${message.id} failed unexpectedly: ${String(error)}`));
      return;
    }
    this.#onMessage(message, server);
    if (message.type === "welcome") this.#startSnapshots(session);
  }

  /** Starts reporting Docker snapshots for `session`, until it ends. */
  #startSnapshots(session: EdgeSession): void {
    this.#snapshotActivity?.abort();
    const activity = new AbortController();
    this.#snapshotActivity = activity;
    if (session.signal.aborted) return;
    session.signal.addEventListener("abort", () => activity.abort(), { once: true });
    this.#snapshots.run(session.http2, activity.signal).catch((error: unknown) => this.#log.log("error", `Docker snapshot reporting stopped unexpectedly: ${String(error)}`));
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
    if (first.code === refusedCodes.replaced) {
      this.#reportReplaced(first);
      return;
    }
    if (first.code === this.#lastFailure) {
      this.#log.log("debug", `still failing: ${first.cause}`);
      return;
    }
    this.#lastFailure = first.code;
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
    this.#log.log(
      "error",
      `another device is using this agent's identity (EDGE_ID ${this.#config.edgeId}): ${explained.cause}. Give each device its own identity: its own --data directory${certificate} (${this.#config.dataDir}/agent.json holds this device's token; never copy it to another device). Until then the two devices take turns and this agent waits up to ${backoff.capMs / 1000} s between attempts; this is logged once.`,
    );
  }

  /**
   * A server that refuses a client certificate closes the connection without saying why. Ask it
   * which CAs it accepts (a TLS 1.2 probe reads the CertificateRequest), then check our
   * certificate's issuer, purpose and dates against that, to name the likely cause.
   */
  async #refine(explained: Explained): Promise<Explained> {
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
