import { describe, expect, it } from "vitest";
import { dockerHostFor, parseListenAddress } from "./listen-address.ts";

describe("parseListenAddress", () => {
  it("takes Unix sockets and loopback TCP addresses", () => {
    expect(parseListenAddress("unix:///tmp/pier.sock")).toEqual({ kind: "unix", path: "/tmp/pier.sock" });
    expect(parseListenAddress("/run/pier/a.sock")).toEqual({ kind: "unix", path: "/run/pier/a.sock" });
    expect(parseListenAddress("tcp://127.0.0.1:2375")).toEqual({ kind: "tcp", host: "127.0.0.1", port: 2375 });
    expect(parseListenAddress("localhost:0")).toEqual({ kind: "tcp", host: "localhost", port: 0 });
    expect(parseListenAddress("[::1]:2375")).toEqual({ kind: "tcp", host: "::1", port: 2375 });
  });

  it("refuses addresses other hosts could reach, and malformed ones", () => {
    expect(() => parseListenAddress("tcp://0.0.0.0:2375")).toThrow(/only loopback addresses/);
    expect(() => parseListenAddress("192.168.1.4:2375")).toThrow(/drives the device's Docker Engine/);
    expect(() => parseListenAddress("tcp://127.0.0.1")).toThrow(/needs unix:\/\/\/path.sock or tcp:\/\/127.0.0.1:PORT/);
    expect(() => parseListenAddress("unix://")).toThrow(/needs a path/);
  });

  it("gives the DOCKER_HOST that reaches it", () => {
    expect(dockerHostFor({ kind: "unix", path: "/tmp/a.sock" })).toBe("unix:///tmp/a.sock");
    expect(dockerHostFor({ kind: "tcp", host: "::1", port: 2375 })).toBe("tcp://[::1]:2375");
  });
});
