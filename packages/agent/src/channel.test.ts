import { describe, expect, it } from "vitest";
import { refusedError } from "./channel.ts";

describe("refusedError: the server's one error shape as the agent's error", () => {
  it("keeps the server's code, message and fix", () => {
    const error = refusedError(403, JSON.stringify({ code: "forbidden", message: "This key was made for environment 3; its secret is missing.", fix: "Use the EDGE_KEY the server showed for environment 3.", details: { environmentId: 3 } }));
    expect(error.code).toBe("refused");
    expect(error.message).toBe("The server refused the agent (HTTP 403): This key was made for environment 3; its secret is missing.");
    expect(error.explained).toEqual({ code: "forbidden", cause: error.message, fix: "Use the EDGE_KEY the server showed for environment 3." });
  });

  it("keeps a body in another shape as text, under the HTTP status", () => {
    const error = refusedError(502, "<html>Bad Gateway</html>");
    expect(error.explained).toEqual({ code: "http_502", cause: "The server refused the agent (HTTP 502): <html>Bad Gateway</html>", fix: "Follow the server's message above." });
    expect(refusedError(500, "null").explained?.code).toBe("http_500");
  });
});
