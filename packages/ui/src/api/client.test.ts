import { describe, expect, it, vi } from "vitest";
import { ApiError, UnreachableError, errorOf, messageOf, request } from "./client.ts";

const answer = (status: number, body: unknown, statusText = "") =>
  new Response(typeof body === "string" ? body : JSON.stringify(body), { status, statusText, headers: { "content-type": "application/json" } });

describe("the UI parses the server's one error shape", () => {
  it("keeps code, message, field and fix; shows the fix after the message", async () => {
    const error = await errorOf(answer(422, { code: "tls_material_invalid", message: "TLS certificate: not allowed for serverAuth", field: "Cert", fix: "issue it with pier ca issue server", details: { finding: "eku_missing" } }));
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 422, code: "tls_material_invalid", field: "Cert", fix: "issue it with pier ca issue server", message: "TLS certificate: not allowed for serverAuth" });
    expect(messageOf(error)).toBe("TLS certificate: not allowed for serverAuth. Fix: issue it with pier ca issue server");
  });

  it("takes the field of a validation error from `field` (a dotted path), not from `details`", async () => {
    const error = await errorOf(answer(400, { code: "bad_request", message: "Invalid request: Edge.TunnelServerAddress: required", field: "Edge.TunnelServerAddress" }));
    expect(error.field).toBe("Edge.TunnelServerAddress");
    expect(messageOf(error)).toBe("Invalid request: Edge.TunnelServerAddress: required");
    // The old shape's details string is no longer a field.
    expect((await errorOf(answer(400, { message: "Invalid request", details: "Password" }))).field).toBeUndefined();
  });

  it("falls back to the status line when a proxy answered instead of the server", async () => {
    const error = await errorOf(new Response("<html>Bad Gateway</html>", { status: 502, statusText: "Bad Gateway" }));
    expect(error).toMatchObject({ status: 502, message: "The server answered 502 Bad Gateway.", field: undefined, fix: undefined, code: undefined });
    expect((await errorOf(answer(500, "null"))).message).toBe("The server answered 500.");
  });

  it("says the server cannot be reached only when no answer came; a bug's TypeError keeps its own message", async () => {
    // Nothing listens on port 9 of loopback (discard): fetch rejects, as a browser's does offline.
    // Node has no document: a stand-in with no cookie (no CSRF token to read).
    vi.stubGlobal("document", { cookie: "" });
    const failed = await request("GET", "http://127.0.0.1:9/api/system/status")
      .catch((error: unknown) => error)
      .finally(() => vi.unstubAllGlobals());
    expect(failed).toBeInstanceOf(UnreachableError);
    expect(messageOf(failed)).toMatch(/cannot be reached/);
    expect(messageOf(new TypeError("Cannot read properties of undefined (reading 'Id')"))).toBe("Cannot read properties of undefined (reading 'Id')");
  });
});
