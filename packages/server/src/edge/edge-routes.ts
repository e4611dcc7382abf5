import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import type { X509Certificate } from "node:crypto";
import { FrameDecoder, ProtocolError, agentMessageSchema, edgePaths, encodeFrame, helloSchema, parseMessage, protocolVersion, type Hello, type ServerMessage } from "@pier/protocol";
import { ServerError } from "../errors.ts";
import type { EdgeService } from "./edge-service.ts";

type Request = IncomingMessage | Http2ServerRequest;
/** The part of an HTTP/1.1 or HTTP/2 compat response the edge routes use. */
export interface EdgeResponse {
  writeHead(status: number, headers: Record<string, string | number>): unknown;
  write(chunk: string): unknown;
  end(chunk?: string): unknown;
  readonly writableEnded: boolean;
}

/** How the edge routes learn who is on the other end of a request. */
export interface EdgeRouteOptions {
  readonly edge: EdgeService;
  /** True when mTLS is configured: edge endpoints then answer only over verified mTLS. */
  readonly mtlsRequired: () => boolean;
  readonly identify: (req: Request) => { authorized: boolean; peerCertificate?: X509Certificate; remoteAddress: string };
  readonly log: (level: "info" | "warn", message: string) => void;
}

/** Seconds an agent has to send its hello after opening a session. */
const helloTimeoutMs = 10_000;
const maxBodyBytes = 64 * 1024;

function sendJson(res: EdgeResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function errorBody(error: unknown): { status: number; body: { code: string; message: string } } {
  if (error instanceof ServerError) return { status: error.status, body: { code: error.code, message: error.message } };
  if (error instanceof ProtocolError) return { status: 400, body: { code: error.code, message: error.message } };
  return { status: 500, body: { code: "internal", message: "The server failed to handle this check-in; see its log." } };
}

function checkProtocol(hello: Hello): void {
  if (hello.protocol !== protocolVersion) throw new ServerError("bad_request", `This server speaks edge protocol ${protocolVersion}, the agent ${hello.protocol}; upgrade the older of the two.`);
}

/**
 * The edge endpoints: the long-lived session (HTTP/2, NDJSON both ways) and the polling
 * check-in. Returns a handler that answers edge paths and returns false for anything else.
 */
export function createEdgeRoutes(options: EdgeRouteOptions): (req: Request, res: EdgeResponse) => boolean {
  const { edge } = options;

  function admit(req: Request, res: EdgeResponse): ReturnType<EdgeRouteOptions["identify"]> | undefined {
    const who = options.identify(req);
    if (options.mtlsRequired() && !who.authorized) {
      sendJson(res, 403, { code: "forbidden", message: "Edge endpoints answer only over mutual TLS with a client certificate from the mTLS CA; connect to the mTLS address." });
      return undefined;
    }
    return who;
  }

  function checkin(req: Request, res: EdgeResponse): void {
    const who = admit(req, res);
    if (!who) return;
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      body += chunk;
      if (body.length > maxBodyBytes) req.destroy();
    });
    req.on("end", () => {
      void (async () => {
        try {
          const hello = parseMessage(helloSchema, body);
          checkProtocol(hello);
          const { welcome } = await edge.hello(hello, { sourceAddress: who.remoteAddress, ...(who.peerCertificate ? { peerCertificate: who.peerCertificate } : {}) });
          sendJson(res, 200, welcome);
        } catch (error) {
          const { status, body: answer } = errorBody(error);
          options.log("warn", `check-in from ${who.remoteAddress} refused: ${answer.message}`);
          sendJson(res, status, answer);
        }
      })();
    });
  }

  function session(req: Request, res: EdgeResponse): void {
    if (req.httpVersion !== "2.0") {
      sendJson(res, 505, { code: "bad_request", message: "The edge session needs HTTP/2; use the polling check-in over HTTP/1.1." });
      return;
    }
    const who = admit(req, res);
    if (!who) return;
    res.writeHead(200, { "content-type": "application/x-ndjson", "cache-control": "no-store" });
    let lastFrameAt = Date.now();
    let intervalSeconds = 5;
    const push = (message: ServerMessage) => {
      if (message.type === "status") intervalSeconds = message.checkinIntervalSeconds;
      if (!res.writableEnded) res.write(encodeFrame(message));
    };
    const decoder = new FrameDecoder(agentMessageSchema);
    let environmentId: number | undefined;
    let detach: (() => void) | undefined;
    let pending = Promise.resolve();
    const end = (refusal?: { code: string; message: string }) => {
      clearInterval(silenceTimer);
      if (refusal) push({ type: "refused", ...refusal });
      detach?.();
      if (!res.writableEnded) res.end();
    };
    const helloTimer = setTimeout(() => end({ code: "timeout", message: "No hello within 10 s." }), helloTimeoutMs);
    // A device that vanishes without closing its connection (power cut, NAT drop) would hold
    // its session forever: after three silent intervals the server lets it go.
    const silenceTimer = setInterval(() => {
      if (Date.now() - lastFrameAt > (3 * intervalSeconds + 10) * 1000) end({ code: "timeout", message: "No heartbeat for three check-in intervals." });
    }, 5_000);
    silenceTimer.unref();

    req.on("data", (chunk: Buffer) => {
      lastFrameAt = Date.now();
      // Frames are handled in order: a heartbeat never overtakes the hello it follows.
      pending = pending.then(async () => {
        if (res.writableEnded) return;
        try {
          for (const message of decoder.push(chunk)) {
            if (message.type === "hello") {
              if (environmentId !== undefined) continue;
              checkProtocol(message);
              const { welcome } = await edge.hello(message, { sourceAddress: who.remoteAddress, ...(who.peerCertificate ? { peerCertificate: who.peerCertificate } : {}) });
              clearTimeout(helloTimer);
              environmentId = welcome.environmentId;
              intervalSeconds = welcome.checkinIntervalSeconds;
              push(welcome);
              detach = edge.attachSession(environmentId, { push, close: () => end() });
              options.log("info", `edge session open: environment ${environmentId} (${message.agent.edgeId}) from ${who.remoteAddress}, ${welcome.status}`);
            } else if (environmentId !== undefined) {
              edge.heartbeat(environmentId);
              push({ type: "ack", seq: message.seq });
            } else {
              throw new ServerError("bad_request", "The first frame of a session must be a hello.");
            }
          }
        } catch (error) {
          const { body } = errorBody(error);
          options.log("warn", `edge session from ${who.remoteAddress} refused: ${body.message}`);
          clearTimeout(helloTimer);
          end(body);
        }
      });
    });
    const closed = () => {
      clearTimeout(helloTimer);
      clearInterval(silenceTimer);
      detach?.();
      if (environmentId !== undefined) options.log("info", `edge session closed: environment ${environmentId}`);
    };
    req.on("close", closed);
    req.on("error", closed);
  }

  return (req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (path === edgePaths.session && req.method === "POST") session(req, res);
    else if (path === edgePaths.checkin && req.method === "POST") checkin(req, res);
    else return false;
    return true;
  };
}
