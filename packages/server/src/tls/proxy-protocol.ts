import { BlockList, isIPv4, isIPv6 } from "node:net";
import { ServerError } from "../errors.ts";

/**
 * What the first bytes of a connection from a load balancer say about the client behind it
 * (PROXY protocol v1 and v2, https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt).
 *
 * - `incomplete`: more bytes are needed; never returned once a header's limit is passed;
 * - `invalid`: not a PROXY header we accept (`reason` says why, for the log);
 * - `proxied`: `length` bytes are the header; `source` is the client's address, absent for the
 *   `LOCAL` command (v2) and `UNKNOWN` (v1): the balancer's own connection, e.g. a health check.
 */
export type ProxyHeaderScan =
  | { readonly state: "incomplete" }
  | { readonly state: "invalid"; readonly reason: string }
  | { readonly state: "proxied"; readonly length: number; readonly source?: { readonly address: string; readonly port: number } };

/** v1: "PROXY TCP6 " + two 39-character addresses + two ports + spaces + CRLF (spec §2.1). */
export const maxProxyV1Bytes = 107;
/** v2: the 16-byte fixed part plus addresses and TLVs; 536 is the spec's own bound (§2.2). */
export const maxProxyV2Bytes = 16 + 536;

const v2Signature = Buffer.from("0d0a0d0a000d0a515549540a", "hex");
const v1Prefix = Buffer.from("PROXY ", "latin1");
const incomplete: ProxyHeaderScan = Object.freeze({ state: "incomplete" });
const invalid = (reason: string): ProxyHeaderScan => ({ state: "invalid", reason });
const portPattern = /^(0|[1-9][0-9]{0,4})$/;

/** True when `bytes` begin like a PROXY header (v1 or v2), however few of them have arrived. */
export function looksLikeProxyHeader(bytes: Buffer): boolean {
  const n = Math.min(bytes.length, v2Signature.length);
  if (n === 0) return false;
  return bytes.subarray(0, n).equals(v2Signature.subarray(0, n)) || bytes.subarray(0, Math.min(n, v1Prefix.length)).equals(v1Prefix.subarray(0, Math.min(n, v1Prefix.length)));
}

/**
 * Reads the PROXY header at the start of `bytes` (the first bytes a balancer sends, possibly
 * followed by the client's own, e.g. its TLS ClientHello). Strict: anything the spec does not
 * define, or a header over its limit, is `invalid`.
 *
 * @example
 * const scan = readProxyHeader(Buffer.from("PROXY TCP4 192.0.2.7 10.0.0.1 51234 443\r\n"));
 * // { state: "proxied", length: 40, source: { address: "192.0.2.7", port: 51234 } }
 */
export function readProxyHeader(bytes: Buffer): ProxyHeaderScan {
  if (bytes.length === 0) return incomplete;
  if (bytes[0] === v2Signature[0]) return readV2(bytes);
  if (bytes[0] === v1Prefix[0]) return readV1(bytes);
  return invalid("the connection does not begin with a PROXY protocol header");
}

function readV1(bytes: Buffer): ProxyHeaderScan {
  const prefix = bytes.subarray(0, v1Prefix.length);
  if (!prefix.equals(v1Prefix.subarray(0, prefix.length))) return invalid("the connection does not begin with a PROXY protocol header");
  const window = bytes.subarray(0, maxProxyV1Bytes);
  const end = window.indexOf("\r\n", 0, "latin1");
  if (end < 0) {
    if (window.includes(0x0a)) return invalid("PROXY v1 line ends in LF without CR");
    return bytes.length >= maxProxyV1Bytes ? invalid(`PROXY v1 line longer than ${maxProxyV1Bytes} bytes`) : incomplete;
  }
  const line = window.subarray(0, end).toString("latin1");
  if (!/^[\x20-\x7e]*$/.test(line)) return invalid("PROXY v1 line holds bytes that are not printable ASCII");
  const fields = line.split(" ");
  const family = fields[1];
  if (family === "UNKNOWN") return { state: "proxied", length: end + 2 };
  if (family !== "TCP4" && family !== "TCP6") return invalid(`PROXY v1 protocol ${JSON.stringify(family?.slice(0, 8))} is neither TCP4, TCP6 nor UNKNOWN`);
  if (fields.length !== 6) return invalid("PROXY v1 line does not have the fields PROXY, protocol, source, destination, source port, destination port");
  const [, , source = "", destination = "", sourcePort = "", destinationPort = ""] = fields;
  // A zone ("fe80::1%eth0") passes isIPv6 but names an interface of the balancer, not a client.
  const valid = (address: string) => !address.includes("%") && (family === "TCP4" ? isIPv4 : isIPv6)(address);
  if (!valid(source) || !valid(destination)) return invalid(`PROXY v1 addresses are not ${family === "TCP4" ? "IPv4" : "IPv6"} addresses`);
  const port = Number(sourcePort);
  if (!portPattern.test(sourcePort) || !portPattern.test(destinationPort) || port > 65_535 || Number(destinationPort) > 65_535) return invalid("PROXY v1 ports are not numbers from 0 to 65535");
  return { state: "proxied", length: end + 2, source: { address: family === "TCP6" ? compressIPv6(source) : source, port } };
}

function readV2(bytes: Buffer): ProxyHeaderScan {
  const prefix = bytes.subarray(0, v2Signature.length);
  if (!prefix.equals(v2Signature.subarray(0, prefix.length))) return invalid("the connection does not begin with a PROXY protocol header");
  if (bytes.length < 16) return incomplete;
  const versionCommand = bytes[12]!;
  if (versionCommand >> 4 !== 2) return invalid(`PROXY protocol version ${versionCommand >> 4} is not 2`);
  const command = versionCommand & 0x0f;
  if (command > 1) return invalid(`PROXY v2 command ${command} is neither LOCAL (0) nor PROXY (1)`);
  const familyProtocol = bytes[13]!;
  const addressLength = bytes.readUInt16BE(14);
  if (16 + addressLength > maxProxyV2Bytes) return invalid(`PROXY v2 header of ${16 + addressLength} bytes, more than ${maxProxyV2Bytes}`);
  const length = 16 + addressLength;
  if (bytes.length < length) return incomplete;
  // LOCAL: the balancer speaks for itself (health checks); whatever follows is ignored (§2.2).
  if (command === 0) return { state: "proxied", length };
  const family = familyProtocol >> 4;
  const protocol = familyProtocol & 0x0f;
  if (family === 0) return { state: "proxied", length };
  if (family > 3) return invalid(`PROXY v2 address family ${family} is unknown`);
  if (family === 3) return invalid("PROXY v2 address family is UNIX: a client behind a UNIX socket has no IP address");
  if (protocol !== 1) return invalid(`PROXY v2 transport ${protocol} is not STREAM (1)`);
  const body = bytes.subarray(16, length);
  // TLVs after the addresses are allowed (and ignored); they are inside the bounded length.
  if (family === 1) {
    if (body.length < 12) return invalid("PROXY v2 IPv4 addresses are shorter than 12 bytes");
    return { state: "proxied", length, source: { address: [...body.subarray(0, 4)].join("."), port: body.readUInt16BE(8) } };
  }
  if (body.length < 36) return invalid("PROXY v2 IPv6 addresses are shorter than 36 bytes");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(body.readUInt16BE(i).toString(16));
  return { state: "proxied", length, source: { address: compressIPv6(groups.join(":")), port: body.readUInt16BE(32) } };
}

/** The canonical text of an IPv6 address, as Node prints socket addresses (RFC 5952). */
function compressIPv6(address: string): string {
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

/**
 * The balancers allowed to speak for their clients (`--proxy-protocol-from`): addresses and
 * CIDR blocks, IPv4 and IPv6; an IPv4 client on a dual-stack socket (`::ffff:a.b.c.d`) matches
 * the IPv4 entries.
 *
 * @example
 * const from = ProxySources.parse("10.0.0.0/8, 2001:db8::/32, 192.0.2.7");
 * from.includes("::ffff:10.1.2.3"); // true
 */
export class ProxySources {
  /** The entries as given, for messages. */
  readonly entries: readonly string[];
  readonly #list: BlockList;

  private constructor(entries: readonly string[], list: BlockList) {
    this.entries = entries;
    this.#list = list;
  }

  /** Parses a comma-separated list; throws `config_invalid` naming the bad entry. */
  static parse(text: string, flag = "--proxy-protocol-from"): ProxySources {
    const entries = text.split(",").map((entry) => entry.trim()).filter((entry) => entry !== "");
    if (entries.length === 0) throw new ServerError("config_invalid", `${flag} is empty: give the load balancers' addresses or CIDR blocks, comma-separated.`, { field: flag });
    if (entries.length > 256) throw new ServerError("config_invalid", `${flag} lists ${entries.length} entries; at most 256 are allowed.`, { field: flag, fix: "List the balancers' subnets as CIDR blocks." });
    const list = new BlockList();
    for (const entry of entries) {
      const [address = "", bits, extra] = entry.split("/");
      const family = isIPv4(address) ? "ipv4" : isIPv6(address) ? "ipv6" : undefined;
      const max = family === "ipv4" ? 32 : 128;
      const prefix = bits === undefined ? max : /^[0-9]{1,3}$/.test(bits) ? Number(bits) : Number.NaN;
      if (!family || extra !== undefined || !(prefix >= 0 && prefix <= max)) {
        throw new ServerError("config_invalid", `${flag}: "${entry.slice(0, 64)}" is not an IP address or CIDR block.`, { field: flag, fix: "Write addresses like 10.0.0.5, 10.0.0.0/24 or fd00::/64, comma-separated." });
      }
      list.addSubnet(address, prefix, family);
    }
    return new ProxySources(entries, list);
  }

  /** True when a connection from `address` must begin with a PROXY header. */
  includes(address: string | undefined): boolean {
    if (address === undefined) return false;
    const bare = address.replace(/%.*$/, "");
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare)?.[1];
    if (mapped !== undefined) return this.#list.check(mapped, "ipv4");
    if (isIPv4(bare)) return this.#list.check(bare, "ipv4");
    return isIPv6(bare) && this.#list.check(bare, "ipv6");
  }
}

/**
 * Turns refused PROXY headers into log lines a flood cannot multiply: the first at once, then
 * at most one per `intervalMs`, counting the refusals in between.
 *
 * @example
 * const onProxyRefusal = proxyRefusalLogger((message) => log("warn", message));
 */
export function proxyRefusalLogger(log: (message: string) => void, intervalMs = 10_000, now: () => number = Date.now): (refusal: { readonly remoteAddress: string | undefined; readonly reason: string }) => void {
  let lastAt = Number.NEGATIVE_INFINITY;
  let unreported = 0;
  return (refusal) => {
    unreported++;
    const at = now();
    if (at - lastAt < intervalMs) return;
    const more = unreported > 1 ? ` (${unreported} connections refused for their PROXY header since the last such line)` : "";
    log(`closed a connection from ${refusal.remoteAddress ?? "unknown"}: ${refusal.reason}${more}`);
    lastAt = at;
    unreported = 0;
  };
}
