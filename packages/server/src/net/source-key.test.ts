import { describe, expect, it } from "vitest";
import { sourceKey } from "./source-key.ts";

describe("sourceKey", () => {
  it("keys IPv4 by address and IPv4-mapped IPv6 as IPv4", () => {
    expect(sourceKey("192.0.2.7")).toBe("192.0.2.7");
    expect(sourceKey("::ffff:192.0.2.7")).toBe("192.0.2.7");
    expect(sourceKey("::FFFF:c000:0207")).toBe("192.0.2.7");
  });

  it("keys IPv6 by its /64, however the address is written", () => {
    const key = "2001:db8:1:2::/64";
    for (const address of ["2001:db8:1:2::1", "2001:0db8:0001:0002:ffff:ffff:ffff:ffff", "2001:DB8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2:0:0:0:7%eth0"]) expect(sourceKey(address)).toBe(key);
    expect(sourceKey("2001:db8:1:3::1")).toBe("2001:db8:1:3::/64");
    expect(sourceKey("::1")).toBe("0:0:0:0::/64");
    expect(sourceKey("fe80::1%lo")).toBe("fe80:0:0:0::/64");
    // Not an IPv4-mapped address: ::ffff must be preceded by zeros only.
    expect(sourceKey("1::ffff:c000:207")).toBe("1:0:0:0::/64");
  });

  it("passes anything else through, capped", () => {
    expect(sourceKey("unknown")).toBe("unknown");
    expect(sourceKey(undefined)).toBe("unknown");
    expect(sourceKey("x".repeat(500))).toHaveLength(64);
  });
});
