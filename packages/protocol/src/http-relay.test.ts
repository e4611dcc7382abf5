import { describe, expect, it } from "vitest";
import { ProtocolError } from "./errors.ts";
import { closingResponse, headerValue, relayHeaders, requestHead } from "./http-relay.ts";

describe("relayHeaders", () => {
  it("drops hop-by-hop headers, those Connection names, pseudo-headers and the caller's list", () => {
    const relayed = relayHeaders(
      { connection: "keep-alive, x-secret-hop", "keep-alive": "timeout=5", "x-secret-hop": "1", upgrade: "tcp", "transfer-encoding": "chunked", ":path": "/", authorization: "Bearer x", "content-type": "application/json", "x-registry-auth": "e30=" },
      new Set(["authorization"]),
    );
    expect(relayed).toEqual({ "content-type": "application/json", "x-registry-auth": "e30=" });
  });

  it("joins repeated headers", () => {
    expect(headerValue({ "x-a": ["1", "2"] }, "x-a")).toBe("1, 2");
    expect(headerValue({ "content-length": 12 }, "content-length")).toBe("12");
    expect(headerValue({}, "x-a")).toBeUndefined();
  });
});

describe("requestHead", () => {
  it("writes an HTTP/1.1 request head, repeated headers on their own lines", () => {
    expect(requestHead("POST", "/exec/1/start", { host: "docker", connection: "Upgrade", upgrade: "tcp", "content-length": 30, "x-a": ["1", "2"] })).toBe(
      "POST /exec/1/start HTTP/1.1\r\nhost: docker\r\nconnection: Upgrade\r\nupgrade: tcp\r\ncontent-length: 30\r\nx-a: 1\r\nx-a: 2\r\n\r\n",
    );
  });

  it("refuses what would split the request", () => {
    expect(() => requestHead("POST", "/x", { "x-a": "1\r\nPOST /evil HTTP/1.1" })).toThrow(/x-a holds a line break/);
    expect(() => requestHead("POST", "/x HTTP/1.1\r\nhost: a", {})).toThrow(/path/);
    expect(() => requestHead("GET /", "/x", {})).toThrow(/method/);
    expect(() => requestHead("GET", "/x", { "bad name": "1" })).toThrow(ProtocolError);
  });
});

describe("closingResponse", () => {
  it("writes a whole response whose length counts bytes, not characters", () => {
    expect(closingResponse(502, "Bad Gateway", "application/json", '{"message":"é"}')).toBe(
      'HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{"message":"é"}',
    );
  });
});
