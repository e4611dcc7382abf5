import { createHash, timingSafeEqual, type X509Certificate } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { certificateSpkiSha256 } from "@pier/pki";
import { ProtocolError, edgeHeaders, edgePaths, fleetLimits, fleetReportSchema, jobLogsUploadSchema, parseMessage, type DesiredState, type Validator } from "@pier/protocol";
import { ServerError } from "../errors.ts";
import type { FleetReportSinks } from "../fleet/fleet-contracts.ts";
import { dispatchFleetReport } from "../fleet/report-intake.ts";
import { certificateName } from "../identity/certificate-binding.ts";
import type { Environment } from "../store/store.ts";
import type { EdgeResponse } from "./edge-routes.ts";

type Request = IncomingMessage | Http2ServerRequest;

/** The fleet services the device routes answer from (`FleetServices`). */
export interface FleetEdgeServices {
  /** `storedVersion`: the environment row's `desiredStateVersion`, so a document cached by the last change is served only while it is current. */
  readonly desiredState: { document(environmentId: number, storedVersion?: string): Promise<DesiredState> };
  readonly reports: FleetReportSinks;
  /** Where the requesting device is looked up (`store.environments`). */
  readonly environments: { get(id: number): Promise<Environment | null>; getByEdgeId(edgeId: string): Promise<Environment | null> };
}

/** Who the edge routes admitted (`EdgeRouteOptions.identify`, after `admit`). */
interface Admitted {
  readonly authorized: boolean;
  readonly peerCertificate?: X509Certificate;
  readonly remoteAddress: string;
}

/** What the fleet routes borrow from `createEdgeRoutes`: its admission, its session bindings, its body reader and error shape. */
export interface FleetRouteContext {
  readonly fleet: FleetEdgeServices;
  /** The mTLS gate and the refusal of unverified certificates; `undefined` once it answered. */
  readonly admit: (req: Request, res: EdgeResponse) => Admitted | undefined;
  /** The environment whose session shares the request's HTTP/2 connection. */
  readonly carriedEnvironment: (req: Request) => number | undefined;
  readonly readBody: (req: Request, res: EdgeResponse, maxBytes: number, tooLarge: ServerError) => Promise<Buffer | "refused" | "aborted">;
  readonly sendJson: (res: EdgeResponse, status: number, body: unknown, headers?: Record<string, string | number>) => void;
  /** Answers an error in the one error shape and stops the body. */
  readonly refuse: (req: Request, res: EdgeResponse, error: unknown) => void;
  readonly log: (level: "debug" | "info" | "warn", message: string) => void;
}

/** A report's body: `fleetLimits.reportBytes`. */
export const maxReportBodyBytes = fleetLimits.reportBytes;
/** A job-logs body: the output (each byte may take six in JSON: `\u0000`) and the envelope. */
export const maxJobLogsBodyBytes = fleetLimits.jobLogBytes * 6 + 1024;

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

function sameHex(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a, "hex"), Buffer.from(b, "hex"));
}

function header(req: Request, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === "string" ? value : undefined;
}

function parseBody<T>(schema: Validator<T>, text: string, what: string): T {
  try {
    return parseMessage(schema, text, what);
  } catch (error) {
    if (error instanceof ProtocolError) throw new ServerError("bad_request", error.message, { cause: error });
    throw error;
  }
}

/**
 * The device's fleet endpoints on the tunnel listener (docs/protocol.md "Fleet"):
 * `GET desired-state`, `POST report`, `POST job-logs`. The device is the one whose session
 * shares the request's HTTP/2 connection (as for snapshots); a polling agent, which has no
 * session, names its EDGE_ID in `pier-edge-id` and proves it with the client certificate of
 * the request or with `pier-device-token`, as its check-in's hello does. A device in the
 * waiting room gets 409: nothing is deployed to a device nobody vouched for.
 * Returns a handler answering those paths (false for any other).
 *
 * @example
 * const fleetRoutes = createFleetRoutes(context);
 * if (!fleetRoutes(req, res, path)) answerOther(req, res);
 */
export function createFleetRoutes(context: FleetRouteContext): (req: Request, res: EdgeResponse, path: string) => boolean {
  const { fleet, log } = context;

  /** The associated environment making the request; throws `forbidden` / `conflict` otherwise. */
  async function device(req: Request, who: Admitted): Promise<Environment> {
    const carried = context.carriedEnvironment(req);
    const environment = carried === undefined ? await polling(req, who) : await fleet.environments.get(carried);
    if (!environment) throw new ServerError("forbidden", "This environment no longer exists (removed?); nothing is deployed to it.", { fix: "Enroll the device again." });
    if (!environment.userTrusted) {
      throw new ServerError("conflict", `Environment ${environment.id} waits in the waiting room: it has no desired state until an administrator associates it.`, { fix: "Associate the device in Pier (Environments → Waiting Room)." });
    }
    return environment;
  }

  /** A polling agent: its EDGE_ID, proved by its certificate (bound key, or the built-in CA's name) or its device token. */
  async function polling(req: Request, who: Admitted): Promise<Environment> {
    const edgeId = header(req, edgeHeaders.edgeId);
    const refused = (why: string) =>
      new ServerError("forbidden", `Fleet requests are made on the device's session connection, or by a polling agent naming its EDGE_ID (${edgeHeaders.edgeId}) with its client certificate or device token: ${why}.`, {
        fix: "Send the request on the HTTP/2 connection of the device's session, after its welcome.",
      });
    if (edgeId === undefined || edgeId.length === 0 || edgeId.length > 128) throw refused("this request names no device");
    const environment = await fleet.environments.getByEdgeId(edgeId);
    const bound = environment?.identity;
    if (!environment || !bound) throw refused(`no device ${edgeId} with an identity is known`);
    const certificate = who.authorized ? who.peerCertificate : undefined;
    if (certificate && bound.kind === "certificate") {
      if (sameHex(certificateSpkiSha256(certificate), bound.value)) return environment;
      // A renewed certificate of the built-in CA binds by the name it carries (docs/identity.md "Binding").
      const named = certificateName(certificate, { bindCommonName: false, pierIssued: true });
      if (named?.edgeId === edgeId) return environment;
    }
    const token = header(req, edgeHeaders.deviceToken);
    if (token !== undefined && token.length <= 128 && bound.kind === "token" && sameHex(sha256(token), bound.value)) return environment;
    throw refused(`this request does not prove it is device ${edgeId}`);
  }

  function desiredState(req: Request, res: EdgeResponse): void {
    const who = context.admit(req, res);
    if (!who) return;
    void (async () => {
      let environmentId: number | undefined;
      try {
        const environment = await device(req, who);
        environmentId = environment.id;
        const document = await fleet.desiredState.document(environment.id, environment.desiredStateVersion);
        // It may hold registry passwords: never cached on the way.
        context.sendJson(res, 200, document, { "cache-control": "no-store" });
      } catch (error) {
        context.refuse(req, res, error);
        log("warn", `desired state${environmentId === undefined ? "" : ` of environment ${environmentId}`} for ${who.remoteAddress} refused: ${error instanceof Error ? error.message : String(error)}`);
      }
    })();
  }

  function upload(req: Request, res: EdgeResponse, what: string, maxBytes: number, store: (environmentId: number, body: string) => Promise<void>): void {
    const who = context.admit(req, res);
    if (!who) return;
    void (async () => {
      let environmentId: number | undefined;
      try {
        // The body waits unread (bounded by flow control) until the device is known.
        environmentId = (await device(req, who)).id;
        const tooLarge = new ServerError("payload_too_large", `A ${what} body exceeds ${maxBytes} bytes.`, { fix: `Send at most ${fleetLimits.reportEvents} events per report, and the end of a job's output only.` });
        const body = await context.readBody(req, res, maxBytes, tooLarge);
        if (body === "refused") log("warn", `${what} of environment ${environmentId} from ${who.remoteAddress} refused: ${tooLarge.message}`);
        if (typeof body === "string") return;
        await store(environmentId, body.toString("utf8"));
        res.writeHead(204, {});
        res.end();
      } catch (error) {
        context.refuse(req, res, error);
        log("warn", `${what}${environmentId === undefined ? "" : ` of environment ${environmentId}`} from ${who.remoteAddress} refused: ${error instanceof Error ? error.message : String(error)}`);
      }
    })();
  }

  return (req, res, path) => {
    if (path === edgePaths.desiredState && req.method === "GET") desiredState(req, res);
    else if (path === edgePaths.report && req.method === "POST") upload(req, res, "report", maxReportBodyBytes, (id, text) => dispatchFleetReport(fleet.reports, id, parseBody(fleetReportSchema, text, "report")));
    else if (path === edgePaths.jobLogs && req.method === "POST") upload(req, res, "job logs", maxJobLogsBodyBytes, (id, text) => fleet.reports.jobLogs(id, parseBody(jobLogsUploadSchema, text, "job logs")));
    else return false;
    return true;
  };
}
