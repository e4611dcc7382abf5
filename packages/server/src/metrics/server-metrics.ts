import { Counter, Histogram, type Registry } from "prom-client";

/** Where a TLS client was refused: a listener's handshake, or the edge routes' check of an unverified certificate. */
export type RefusalPlace = "https" | "tunnel" | "edge";

/** Stack states a device reports that end a deployment (docs/fleet.md "Edge stacks"): Portainer's numbers. */
const deploymentOutcomes: ReadonlyMap<number, string> = new Map([
  [2, "error"],
  [7, "running"],
  [13, "rolled_back"],
  [14, "completed"],
]);

/**
 * The counters the server's parts report into, registered on one registry as `pier_*`. The
 * check-in path (3,000 a second at fleet scale) only adds 1 to a number field; the scrape turns
 * that field into the counter. Rarer events (refusals, tunnels, renewals) go to prom-client's
 * labelled counters directly.
 *
 * @example
 * const metrics = new ServerMetrics(registry);
 * metrics.checkIn();
 * metrics.handshakeRefused("tunnel", "unknown_ca");
 */
export class ServerMetrics {
  /** Check-ins (hellos and heartbeats) since start; read by the counter at scrape. */
  #checkIns = 0;
  /** Hellos accepted since start; read by the counter at scrape. */
  #hellosAccepted = 0;
  /** Hellos refused since start, by error code (a few codes). */
  readonly #hellosRefused = new Map<string, number>();
  readonly #refusals: Counter<"listener" | "reason">;
  readonly #tunnels: Counter<"outcome">;
  readonly #tunnelSeconds: Histogram;
  readonly #renewals: Counter<"outcome">;
  readonly #enrollments: Counter;
  readonly #issued: Counter<"reason">;
  readonly #deployments: Counter<"outcome">;

  constructor(registry: Registry) {
    const registers = [registry];
    const counts = { checkIns: () => this.#checkIns, accepted: () => this.#hellosAccepted, refused: () => this.#hellosRefused };
    // Inside collect() `this` is the metric; the counts are read through the closure above.
    new Counter({
      name: "pier_check_ins_total",
      help: "Check-ins recorded by this replica: hellos accepted and heartbeats of open sessions.",
      registers,
      collect() {
        this.reset();
        this.inc(counts.checkIns());
      },
    });
    new Counter({
      name: "pier_agent_hellos_total",
      help: "Agent hellos (session or polling check-in) by outcome: accepted, or the error code they were refused with.",
      labelNames: ["outcome"],
      registers,
      collect() {
        this.reset();
        this.inc({ outcome: "accepted" }, counts.accepted());
        for (const [outcome, count] of counts.refused()) this.inc({ outcome }, count);
      },
    });
    this.#refusals = new Counter({
      name: "pier_tls_refusals_total",
      help: "TLS clients refused, by listener (https, tunnel; edge: an unverified certificate the edge routes refused) and reason (the TlsFailure code, docs/security.md).",
      labelNames: ["listener", "reason"],
      registers,
    });
    this.#tunnels = new Counter({ name: "pier_tunnel_opens_total", help: "Tunnels to devices' Docker Engines asked for, by outcome: opened, or failed (offline, no answer, cancelled, Docker unreachable).", labelNames: ["outcome"], registers });
    this.#tunnelSeconds = new Histogram({
      name: "pier_tunnel_open_seconds",
      help: "Time from asking a device for a tunnel to its stream arriving, for tunnels opened.",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.#renewals = new Counter({ name: "pier_certificate_renewals_total", help: "Device certificate renewals by outcome: renewed, or the reason it was refused (docs/identity.md \"Renewal\").", labelNames: ["outcome"], registers });
    this.#enrollments = new Counter({ name: "pier_enrollments_total", help: "Devices that enrolled: a new environment made by a first hello (waiting room or associated at once).", registers });
    this.#issued = new Counter({ name: "pier_device_certificates_issued_total", help: "Device certificates the built-in CA issued, by reason (enrollment, renewal, reenrollment, ...).", labelNames: ["reason"], registers });
    this.#deployments = new Counter({
      name: "pier_stack_deployments_total",
      help: "Edge stack deployments devices reported ended, by outcome: running, completed, error, rolled_back.",
      labelNames: ["outcome"],
      registers,
    });
  }

  /** A check-in recorded (a hello accepted or a heartbeat). Allocates nothing. */
  checkIn(): void {
    this.#checkIns++;
  }

  /** A hello answered: `refusedCode` undefined when accepted. */
  hello(refusedCode?: string): void {
    if (refusedCode === undefined) this.#hellosAccepted++;
    else this.#hellosRefused.set(refusedCode, (this.#hellosRefused.get(refusedCode) ?? 0) + 1);
  }

  /** A TLS client refused at `place` for `reason` (a `TlsFailure` code). */
  handshakeRefused(place: RefusalPlace, reason: string): void {
    this.#refusals.inc({ listener: place, reason });
  }

  /** A tunnel asked for ended waiting: `seconds` it took when it opened, `undefined` when it failed. */
  tunnel(seconds: number | undefined): void {
    if (seconds === undefined) {
      this.#tunnels.inc({ outcome: "failed" });
      return;
    }
    this.#tunnels.inc({ outcome: "opened" });
    this.#tunnelSeconds.observe(seconds);
  }

  /** A renewal answered: `renewed`, or the reason it was refused (`RenewalFailure`). */
  renewal(outcome: string): void {
    this.#renewals.inc({ outcome });
  }

  /** A device enrolled. */
  enrolled(): void {
    this.#enrollments.inc();
  }

  /** The built-in CA issued a device certificate for `reason`. */
  certificateIssued(reason: string): void {
    this.#issued.inc({ reason });
  }

  /** A device reported a stack's state: counted when the state ends a deployment (Portainer's status type numbers). */
  stackReported(statusType: number): void {
    const outcome = deploymentOutcomes.get(statusType);
    if (outcome !== undefined) this.#deployments.inc({ outcome });
  }
}
