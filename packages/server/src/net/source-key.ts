import { isIPv4, isIPv6 } from "node:net";

/**
 * The client a limit applies to (logins, connections, enrollments): an IPv4 address as it is,
 * an IPv4-mapped IPv6 address as its IPv4 address, any other IPv6 address as its /64 (one
 * customer's network, which an attacker rotates addresses within for free), zone ids dropped.
 * Anything else is returned as it is, capped; no address at all is `"unknown"`.
 *
 * @example
 * sourceKey("2001:db8:1:2:aaaa::7") // "2001:db8:1:2::/64"
 * sourceKey("::ffff:192.0.2.7")     // "192.0.2.7"
 */
export function sourceKey(address: string | undefined): string {
  if (address === undefined) return "unknown";
  const bare = address.replace(/%.*$/, "");
  if (isIPv4(bare)) return bare;
  if (!isIPv6(bare)) return bare.slice(0, 64);
  const groups = expandIPv6(bare);
  // ::ffff:a.b.c.d (and ::ffff:XXXX:XXXX): an IPv4 client on a dual-stack socket.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [high = 0, low = 0] = groups.slice(6);
    return [high >> 8, high & 0xff, low >> 8, low & 0xff].join(".");
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(":")}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (dotted IPv4 tail included). */
function expandIPv6(address: string): number[] {
  let text = address.toLowerCase();
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted?.[1]) {
    const [a = 0, b = 0, c = 0, d = 0] = dotted[1].split(".").map(Number);
    text = `${text.slice(0, -dotted[1].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const parse = (part: string) => (part === "" ? [] : part.split(":").map((g) => Number.parseInt(g, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}
