import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import type { TunnelOpener } from "../cluster/cluster-tunnels.ts";
import { ServerError } from "../errors.ts";
import { rawErrorResponse } from "../http/error-response.ts";
import type { Store, User } from "../store/store.ts";
import { callEngine, engineMessage, startExecStream } from "./engine-calls.ts";
import { runConsoleSession } from "./console-session.ts";
import { consoleLimits, parseConsoleSpec } from "./console-spec.ts";
import { type ConsoleGrant, ConsoleTickets } from "./console-tickets.ts";

/** The WebSocket subprotocol the console speaks; the ticket rides beside it as `pier.ticket.<ticket>`. */
export const consoleProtocol = "pier.console.v1";
const ticketPrefix = "pier.ticket.";

/** `GET /api/endpoints/<id>/console`, upgraded to a WebSocket. */
const socketPath = /^\/api\/endpoints\/([0-9]{1,15})\/console(?:\?.*)?$/s;

/** What the console needs from the rest of the server. */
export interface BrowserConsoleOptions {
  readonly store: Pick<Store, "environments">;
  readonly tunnels: TunnelOpener;
  readonly log: (level: "debug" | "error", message: string) => void;
  /** Overrides for tests (`consoleLimits` otherwise). */
  readonly limits?: Partial<Pick<typeof consoleLimits, "idleMs" | "ticketTtlMs" | "sessionsPerUser" | "ticketsPerUser">>;
}

/** A ticket as the API answers it. */
export interface ConsoleTicket {
  readonly ticket: string;
  readonly expiresAt: Date;
  /** The WebSocket subprotocols to offer: `[consoleProtocol, "pier.ticket.<ticket>"]`. */
  readonly protocols: readonly string[];
}

/**
 * The browser console (docs/ui.md "Console", docs/security.md "Browser console"): an exec with a
 * TTY in a device's container, carried over a WebSocket. `issue` (behind the API's
 * authentication) checks the request, creates the exec through the tunnel and hands out a
 * single-use ticket; `upgrade` takes the WebSocket that presents it in `Sec-WebSocket-Protocol`,
 * starts the exec hijacked through another tunnel and pipes both ways.
 *
 * @example
 * const console = createBrowserConsole({ store, tunnels, log });
 * const upgradeHandler = (req, socket, head) => console.upgrade(req, socket, head) || docker.upgrade(req, socket, head);
 */
export class BrowserConsole {
  readonly #options: BrowserConsoleOptions;
  readonly #tickets: ConsoleTickets;
  readonly #sockets = new WebSocketServer({ noServer: true, maxPayload: consoleLimits.messageBytes, perMessageDeflate: false, handleProtocols: () => consoleProtocol });
  readonly #open = new Map<number, number>();
  readonly #sessionsPerUser: number;
  readonly #idleMs: number;

  constructor(options: BrowserConsoleOptions) {
    this.#options = options;
    this.#sessionsPerUser = options.limits?.sessionsPerUser ?? consoleLimits.sessionsPerUser;
    this.#idleMs = options.limits?.idleMs ?? consoleLimits.idleMs;
    this.#tickets = new ConsoleTickets({ ttlMs: options.limits?.ticketTtlMs ?? consoleLimits.ticketTtlMs, perUser: options.limits?.ticketsPerUser ?? consoleLimits.ticketsPerUser });
  }

  /** Consoles open now for `userId`. */
  openFor(userId: number): number {
    return this.#open.get(userId) ?? 0;
  }

  /**
   * Checks `input` ({container, shell, user}), the environment and the user's limits, creates
   * the exec on the device and returns a ticket for it. Docker's refusal (no such container,
   * not running) is answered whole.
   */
  async issue(user: User, environmentId: number, input: { container?: unknown; shell?: unknown; user?: unknown }): Promise<ConsoleTicket> {
    const spec = parseConsoleSpec(input);
    const environment = await this.#options.store.environments.get(environmentId);
    if (!environment) throw new ServerError("not_found", `Environment ${environmentId} does not exist.`);
    if (!environment.userTrusted) throw new ServerError("forbidden", `Environment ${environmentId} ("${environment.name}") is in the waiting room: associate it first to open a console.`);
    // Before the exec exists: a refused ticket must not leave one behind on the device.
    this.#checkSessions(user.id);
    this.#tickets.checkRoom(user.id);
    const created = await callEngine(this.#options.tunnels, environmentId, "POST", `/containers/${encodeURIComponent(spec.container)}/exec`, {
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: true,
      Cmd: [spec.shell],
      ...(spec.user === "" ? {} : { User: spec.user }),
      Env: ["TERM=xterm-256color"],
    });
    const execId = (created.body as { Id?: unknown } | undefined)?.Id;
    if (created.status !== 201 || typeof execId !== "string") {
      const message = `The device's Docker Engine refused the console in ${spec.container}: ${engineMessage(created)}`;
      if (created.status === 404) throw new ServerError("not_found", message, { field: "container" });
      if (created.status === 409) throw new ServerError("conflict", message, { fix: "Start the container, then open the console." });
      throw new ServerError("bad_gateway", message);
    }
    const { ticket, expiresAt } = this.#tickets.issue({ userId: user.id, environmentId, spec, execId });
    return { ticket, expiresAt, protocols: [consoleProtocol, ticketPrefix + ticket] };
  }

  /** Takes the upgrade if it is a console WebSocket (returns false otherwise). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const match = socketPath.exec(req.url ?? "");
    if (!match) return false;
    try {
      const grant = this.#admit(req, Number(match[1]));
      this.#sockets.handleUpgrade(req, socket, head, (webSocket) => {
        this.#open.set(grant.userId, this.openFor(grant.userId) + 1);
        const { tunnels } = this.#options;
        const execPath = `/exec/${encodeURIComponent(grant.execId)}`;
        void runConsoleSession({
          socket: webSocket,
          start: (signal) => startExecStream(tunnels, grant.environmentId, grant.execId, signal),
          resize: async (rows, cols) => {
            const answer = await callEngine(tunnels, grant.environmentId, "POST", `${execPath}/resize?h=${rows}&w=${cols}`);
            if (answer.status >= 300) throw new Error(engineMessage(answer));
          },
          exitCode: async () => {
            const answer = await callEngine(tunnels, grant.environmentId, "GET", `${execPath}/json`);
            const code = (answer.body as { ExitCode?: unknown } | undefined)?.ExitCode;
            return typeof code === "number" ? code : null;
          },
          idleMs: this.#idleMs,
          log: this.#options.log,
        }).finally(() => {
          const left = this.openFor(grant.userId) - 1;
          if (left > 0) this.#open.set(grant.userId, left);
          else this.#open.delete(grant.userId);
          this.#options.log("debug", `console: environment ${grant.environmentId} container ${grant.spec.container} (${grant.spec.shell}) closed`);
        });
      });
    } catch (error) {
      socket.end(rawErrorResponse(error));
    }
    return true;
  }

  #checkSessions(userId: number): void {
    if (this.openFor(userId) >= this.#sessionsPerUser) {
      throw new ServerError("too_many_requests", `You have ${this.#sessionsPerUser} consoles open, the most one user may.`, { fix: "Close one (Disconnect), then connect again." });
    }
  }

  /** Checks the WebSocket request: a browser's Origin is this server, and the ticket is valid, for this environment. */
  #admit(req: IncomingMessage, environmentId: number): ConsoleGrant {
    if (req.method !== "GET" || req.headers.upgrade?.toLowerCase() !== "websocket") {
      throw new ServerError("bad_request", "The console is a WebSocket: send GET with Upgrade: websocket.");
    }
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `https://${req.headers.host ?? ""}`) {
      throw new ServerError("forbidden", `A console WebSocket from ${origin} is refused: only pages of this server may open one.`);
    }
    const offered = (req.headers["sec-websocket-protocol"] ?? "").split(",").map((protocol) => protocol.trim());
    const ticket = offered.find((protocol) => protocol.startsWith(ticketPrefix))?.slice(ticketPrefix.length);
    if (!offered.includes(consoleProtocol) || ticket === undefined) {
      throw new ServerError("unauthorized", `A console WebSocket must offer the subprotocols ${consoleProtocol} and ${ticketPrefix}<ticket>.`, { fix: `Get a ticket with POST /api/endpoints/${environmentId}/console/tickets first.` });
    }
    const grant = this.#tickets.take(ticket);
    if (!grant || grant.environmentId !== environmentId) {
      throw new ServerError("unauthorized", "The console ticket is unknown, used already, expired, or for another environment.", { fix: `Get a new ticket with POST /api/endpoints/${environmentId}/console/tickets.` });
    }
    this.#checkSessions(grant.userId);
    return grant;
  }
}
