import { describe, expect, it } from "vitest";
import { ProxySources, maxProxyV1Bytes, maxProxyV2Bytes, proxyRefusalLogger, readProxyHeader } from "./proxy-protocol.ts";

const signature = Buffer.from("0d0a0d0a000d0a515549540a", "hex");

/** A v2 header: version/command byte, family/protocol byte, then `body` (addresses, TLVs). */
function v2(versionCommand: number, familyProtocol: number, body: Buffer): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(body.length);
  return Buffer.concat([signature, Buffer.of(versionCommand, familyProtocol), length, body]);
}

function ipv4Body(source: number[], destination: number[], sourcePort: number, destinationPort: number): Buffer {
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(sourcePort, 0);
  ports.writeUInt16BE(destinationPort, 2);
  return Buffer.concat([Buffer.from(source), Buffer.from(destination), ports]);
}

const clientHelloStart = Buffer.from("160301020001", "hex");

describe("readProxyHeader, v1", () => {
  it("reads a TCP4 line and says where the client's own bytes begin", () => {
    const line = "PROXY TCP4 192.0.2.7 10.0.0.1 51234 443\r\n";
    const scan = readProxyHeader(Buffer.concat([Buffer.from(line), clientHelloStart]));
    expect(scan).toEqual({ state: "proxied", length: line.length, source: { address: "192.0.2.7", port: 51234 } });
  });

  it("reads a TCP6 line, the address in Node's canonical form", () => {
    const scan = readProxyHeader(Buffer.from("PROXY TCP6 2001:DB8:0:0:0:0:0:7 2001:db8::1 65535 443\r\n"));
    expect(scan).toMatchObject({ state: "proxied", source: { address: "2001:db8::7", port: 65535 } });
  });

  it("takes UNKNOWN (the spec says accept it) as the balancer speaking for itself: no source", () => {
    expect(readProxyHeader(Buffer.from("PROXY UNKNOWN\r\n"))).toEqual({ state: "proxied", length: 15 });
    expect(readProxyHeader(Buffer.from("PROXY UNKNOWN ffff:f::1 ffff:f::2 1 2\r\n"))).toMatchObject({ state: "proxied" });
  });

  it("waits for the rest of a line cut anywhere, then reads the same", () => {
    const line = Buffer.from("PROXY TCP4 192.0.2.7 10.0.0.1 51234 443\r\n");
    for (let cut = 1; cut < line.length; cut++) expect(readProxyHeader(line.subarray(0, cut))).toEqual({ state: "incomplete" });
    expect(readProxyHeader(line)).toMatchObject({ state: "proxied" });
  });

  it("refuses a line longer than 107 bytes before buffering more, and one without CR", () => {
    const long = Buffer.from(`PROXY TCP6 ${"a".repeat(200)}`);
    // Precondition: 106 bytes of it are still a line in progress.
    expect(readProxyHeader(long.subarray(0, maxProxyV1Bytes - 1))).toEqual({ state: "incomplete" });
    expect(readProxyHeader(long.subarray(0, maxProxyV1Bytes))).toEqual({ state: "invalid", reason: "PROXY v1 line longer than 107 bytes" });
    expect(readProxyHeader(Buffer.from("PROXY TCP4 192.0.2.7 10.0.0.1 51234 443\n"))).toMatchObject({ state: "invalid", reason: expect.stringContaining("LF without CR") as unknown });
  });

  it.each([
    ["unknown protocol", "PROXY UDP4 192.0.2.7 10.0.0.1 1 2\r\n", "neither TCP4"],
    ["IPv6 address in TCP4", "PROXY TCP4 ::1 ::1 1 2\r\n", "not IPv4"],
    ["host name", "PROXY TCP4 example.com 10.0.0.1 1 2\r\n", "not IPv4"],
    // Found by the fuzz target: isIPv6 accepts a zone, and formatting it threw.
    ["IPv6 zone", "PROXY TCP6 fe80::1%5 ::1 1 2\r\n", "not IPv6"],
    ["port too large", "PROXY TCP4 192.0.2.7 10.0.0.1 65536 443\r\n", "ports"],
    ["port with a leading zero", "PROXY TCP4 192.0.2.7 10.0.0.1 0443 443\r\n", "ports"],
    ["missing field", "PROXY TCP4 192.0.2.7 10.0.0.1 443\r\n", "fields"],
    ["two spaces", "PROXY TCP4  192.0.2.7 10.0.0.1 1 443\r\n", "fields"],
    ["control byte", "PROXY TCP4 192.0.2.7\t10.0.0.1 1 443\r\n", "printable"],
  ])("refuses a line with a %s", (_what, line, reason) => {
    expect(readProxyHeader(Buffer.from(line))).toMatchObject({ state: "invalid", reason: expect.stringContaining(reason) as unknown });
  });
});

describe("readProxyHeader, v2", () => {
  it("reads PROXY over TCP/IPv4 and leaves the client's bytes after it", () => {
    const header = v2(0x21, 0x11, ipv4Body([198, 51, 100, 9], [10, 0, 0, 1], 40_000, 443));
    expect(readProxyHeader(Buffer.concat([header, clientHelloStart]))).toEqual({ state: "proxied", length: 28, source: { address: "198.51.100.9", port: 40_000 } });
  });

  it("reads PROXY over TCP/IPv6", () => {
    const body = Buffer.alloc(36);
    Buffer.from("20010db8000000000000000000000042", "hex").copy(body, 0);
    body.writeUInt16BE(1234, 32);
    expect(readProxyHeader(v2(0x21, 0x21, body))).toMatchObject({ state: "proxied", length: 52, source: { address: "2001:db8::42", port: 1234 } });
  });

  it("takes LOCAL (health checks) as the balancer's own connection, whatever family it names", () => {
    expect(readProxyHeader(v2(0x20, 0x00, Buffer.alloc(0)))).toEqual({ state: "proxied", length: 16 });
    expect(readProxyHeader(v2(0x20, 0x11, ipv4Body([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)))).toEqual({ state: "proxied", length: 28 });
  });

  it("skips TLVs within the bound, and refuses a header over 16 + 536 bytes from its length field alone", () => {
    const tlvs = Buffer.alloc(536 - 12, 0x01);
    const largest = v2(0x21, 0x11, Buffer.concat([ipv4Body([192, 0, 2, 1], [10, 0, 0, 1], 1, 2), tlvs]));
    expect(largest.length).toBe(maxProxyV2Bytes);
    expect(readProxyHeader(largest)).toMatchObject({ state: "proxied", length: maxProxyV2Bytes, source: { address: "192.0.2.1" } });
    // Only the fixed 16 bytes: refused before the 537 announced bytes arrive.
    const tooLarge = v2(0x21, 0x11, Buffer.alloc(537)).subarray(0, 16);
    expect(readProxyHeader(tooLarge)).toMatchObject({ state: "invalid", reason: expect.stringContaining("more than 552") as unknown });
  });

  it("waits for a header cut anywhere", () => {
    const header = v2(0x21, 0x11, ipv4Body([198, 51, 100, 9], [10, 0, 0, 1], 1, 2));
    for (let cut = 1; cut < header.length; cut++) expect(readProxyHeader(header.subarray(0, cut))).toEqual({ state: "incomplete" });
  });

  it.each([
    ["version 1 in the binary form", v2(0x11, 0x11, ipv4Body([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)), "version 1 is not 2"],
    ["command 2", v2(0x22, 0x11, ipv4Body([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)), "command 2"],
    ["family 4", v2(0x21, 0x41, ipv4Body([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)), "family 4 is unknown"],
    ["UNIX family", v2(0x21, 0x31, Buffer.alloc(216)), "UNIX"],
    ["UDP", v2(0x21, 0x12, ipv4Body([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)), "not STREAM"],
    ["IPv4 addresses cut short", v2(0x21, 0x11, Buffer.alloc(8)), "shorter than 12"],
    ["IPv6 addresses cut short", v2(0x21, 0x21, Buffer.alloc(12)), "shorter than 36"],
  ])("refuses %s", (_what, header, reason) => {
    expect(readProxyHeader(header)).toMatchObject({ state: "invalid", reason: expect.stringContaining(reason) as unknown });
  });
});

describe("readProxyHeader, not a header", () => {
  it.each([
    ["a TLS ClientHello", clientHelloStart],
    ["plain HTTP", Buffer.from("GET / HTTP/1.1\r\n")],
    ["a v2 signature with one byte wrong", Buffer.concat([signature.subarray(0, 11), Buffer.of(0x0b)])],
    ["a v1 prefix in lower case", Buffer.from("proxy TCP4 ")],
  ])("refuses %s at once", (_what, bytes) => {
    expect(readProxyHeader(bytes)).toMatchObject({ state: "invalid", reason: expect.stringContaining("does not begin with a PROXY protocol header") as unknown });
  });
});

describe("ProxySources", () => {
  it("matches addresses and CIDR blocks of both families, IPv4-mapped addresses as IPv4", () => {
    const sources = ProxySources.parse(" 10.0.0.0/8, 192.0.2.7 ,fd00::/64");
    expect(sources.entries).toEqual(["10.0.0.0/8", "192.0.2.7", "fd00::/64"]);
    expect(sources.includes("10.200.3.4")).toBe(true);
    expect(sources.includes("::ffff:10.200.3.4")).toBe(true);
    expect(sources.includes("192.0.2.7")).toBe(true);
    expect(sources.includes("192.0.2.8")).toBe(false);
    expect(sources.includes("fd00::1234")).toBe(true);
    expect(sources.includes("fd00:0:0:1::1")).toBe(false);
    expect(sources.includes(undefined)).toBe(false);
  });

  it.each([["", "is empty"], ["10.0.0.0/33", "not an IP address"], ["host.example", "not an IP address"], ["10.0.0.1/8/1", "not an IP address"], [Array(257).fill("10.0.0.1").join(","), "at most 256"]])(
    "refuses %j naming the problem",
    (text, message) => {
      expect(() => ProxySources.parse(text)).toThrow(expect.objectContaining({ code: "config_invalid", message: expect.stringContaining(message) as unknown }));
    },
  );
});

describe("proxyRefusalLogger", () => {
  it("logs the first refusal at once, then one line per interval counting the others", () => {
    const lines: string[] = [];
    let now = 0;
    const log = proxyRefusalLogger((line) => lines.push(line), 10_000, () => now);
    for (let i = 0; i < 50; i++) log({ remoteAddress: "10.0.0.5", reason: "no header" });
    expect(lines).toEqual(["closed a connection from 10.0.0.5: no header"]);
    now = 10_000;
    log({ remoteAddress: "10.0.0.5", reason: "no header" });
    expect(lines[1]).toBe("closed a connection from 10.0.0.5: no header (50 connections refused for their PROXY header since the last such line)");
  });
});
