import { describe, expect, it } from "vitest";
import { HTTPException } from "hono/http-exception";
import { ProtocolError } from "@pier/protocol";
import { ServerError } from "../errors.ts";
import { databaseUnreachable } from "../store/store-errors.ts";
import { errorBody, rawErrorResponse, retryAfterHeaders, sendError } from "./error-response.ts";

describe("errorBody: the one error shape {code, message, details?, field?, fix?}", () => {
  it("keeps a ServerError's code, status, message, field, fix and details (an object, not a JSON string)", () => {
    const error = new ServerError("bad_request", "Invalid request: Password: too short", { field: "Password", fix: "Choose a longer one.", details: { minimum: 12 } });
    expect(errorBody(error)).toEqual({ status: 400, internal: false, body: { code: "bad_request", message: "Invalid request: Password: too short", field: "Password", fix: "Choose a longer one.", details: { minimum: 12 } } });
    expect(errorBody(new ServerError("not_found", "Environment 7 does not exist."))).toEqual({ status: 404, internal: false, body: { code: "not_found", message: "Environment 7 does not exist." } });
  });

  it("answers malformed protocol data as 400 with its code, and the HTTP framework's client errors with their status", () => {
    expect(errorBody(new ProtocolError("message_malformed", "hello: bad JSON"))).toMatchObject({ status: 400, body: { code: "message_malformed", message: "hello: bad JSON" } });
    expect(errorBody(new HTTPException(413, { message: "Payload Too Large" }))).toMatchObject({ status: 413, body: { code: "payload_too_large", message: "Payload Too Large" } });
    expect(errorBody(new HTTPException(400, { message: "Malformed JSON in request body" }))).toMatchObject({ status: 400, body: { code: "bad_request" } });
  });

  it("never lets an unknown error's message, stack or file path reach the client", () => {
    const leaky = new TypeError("Cannot read properties of undefined (reading 'x') at /work/main/packages/server/src/x.ts:1:2");
    const internalCoded = new ServerError("internal", "Cannot read or create the session secret /var/lib/pier/secrets/jwt.key: EACCES");
    const store = new ServerError("store_failed", "The database failed: SQLITE_CORRUPT in /data/pier.db");
    for (const error of [leaky, internalCoded, store, new HTTPException(500, { message: "boom /work" }), "a string", undefined]) {
      const answer = errorBody(error);
      expect(answer).toEqual({ status: 500, internal: true, body: { code: "internal", message: "The server failed to handle this request; see the server log." } });
    }
    expect(rawErrorResponse(leaky)).not.toMatch(/\/work|\.ts|at |reading/);
  });

  it("carries Retry-After when the error says when to come back (the database unreachable), on every transport that sends it", () => {
    const unreachable = errorBody(databaseUnreachable(new Error("connect ECONNREFUSED 127.0.0.1:5432")));
    expect(unreachable.status).toBe(503);
    expect(retryAfterHeaders(unreachable)).toEqual({ "retry-after": "5" });
    expect(retryAfterHeaders(errorBody(new ServerError("too_many_requests", "Slow down.", { details: { retryAfterSeconds: 0.2 } })))).toEqual({ "retry-after": "1" });
    expect(retryAfterHeaders(errorBody(new ServerError("not_found", "Nothing here.")))).toEqual({});
    // The Docker proxy and the static UI answer through sendError.
    const written: { status?: number; headers?: Record<string, unknown>; body?: string } = {};
    sendError({ writeHead: (status: number, headers: Record<string, unknown>) => Object.assign(written, { status, headers }), end: (chunk?: string) => Object.assign(written, { body: chunk }) }, databaseUnreachable(new Error("Connection terminated")));
    expect(written.status).toBe(503);
    expect(written.headers).toMatchObject({ "retry-after": "5", "content-type": "application/json" });
    expect(written.body).not.toMatch(/Connection terminated/);
  });

  it("writes a closing raw HTTP/1.1 answer in the same shape, for upgrades", () => {
    const raw = rawErrorResponse(new ServerError("not_found", "Nothing here.", { fix: "Look elsewhere." }));
    expect(raw).toMatch(/^HTTP\/1\.1 404 Not Found\r\n/);
    expect(raw).toMatch(/\r\nconnection: close\r\n/i);
    expect(JSON.parse(raw.slice(raw.indexOf("\r\n\r\n") + 4))).toEqual({ code: "not_found", message: "Nothing here.", fix: "Look elsewhere." });
  });
});
