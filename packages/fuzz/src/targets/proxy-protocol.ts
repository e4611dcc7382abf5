import { isIP } from "node:net";
import fc from "fast-check";
import { type ProxyHeaderScan, maxProxyV1Bytes, maxProxyV2Bytes, readProxyHeader } from "@pier/server/proxy-protocol";
import { type FuzzTarget, type Verdict, describeError, hexPreview, ok, timed } from "../harness.ts";

/** Bytes, and the source a correct reader finds in them when they are a header we made. */
interface Case {
  readonly bytes: Buffer;
  /** A well-formed header of `length` bytes naming `address` (null: LOCAL/UNKNOWN), followed by anything. */
  readonly made?: { readonly length: number; readonly address: string | null };
}

const signature = Buffer.from("0d0a0d0a000d0a515549540a", "hex");
const port = fc.integer({ min: 0, max: 65_535 });
const tail = fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes));

/** The canonical text Node prints for an address (what the reader must return). */
function canonical(address: string): string {
  return address.includes(":") ? new URL(`http://[${address}]/`).hostname.slice(1, -1) : address;
}

const v1: fc.Arbitrary<Case> = fc
  .tuple(fc.oneof(fc.tuple(fc.constant("TCP4"), fc.ipV4(), fc.ipV4()), fc.tuple(fc.constant("TCP6"), fc.ipV6(), fc.ipV6())), port, port, tail)
  .map(([[family, source, destination], sourcePort, destinationPort, rest]) => {
    const line = Buffer.from(`PROXY ${family} ${source} ${destination} ${sourcePort} ${destinationPort}\r\n`, "latin1");
    return { bytes: Buffer.concat([line, rest]), made: { length: line.length, address: canonical(source) } };
  });

function v2Header(command: number, family: number, body: Buffer): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(body.length);
  return Buffer.concat([signature, Buffer.of(0x20 | command, (family << 4) | 1), length, body]);
}

const v2: fc.Arbitrary<Case> = fc
  .tuple(fc.boolean(), fc.uint8Array({ minLength: 16, maxLength: 16 }), port, fc.integer({ min: 0, max: 536 - 36 }), fc.boolean(), tail)
  .map(([ipv6, raw, sourcePort, tlvBytes, local, rest]) => {
    const addresses = Buffer.alloc(ipv6 ? 36 : 12);
    const bytes = Buffer.from(raw);
    bytes.copy(addresses, 0, 0, ipv6 ? 16 : 4);
    addresses.writeUInt16BE(sourcePort, ipv6 ? 32 : 8);
    const header = v2Header(local ? 0 : 1, ipv6 ? 2 : 1, Buffer.concat([addresses, Buffer.alloc(tlvBytes, 0x01)]));
    const address = local ? null : ipv6 ? canonical(bytes.subarray(0, 16).toString("hex").match(/.{4}/g)!.join(":")) : [...bytes.subarray(0, 4)].join(".");
    return { bytes: Buffer.concat([header, rest]), made: { length: header.length, address } };
  });

/** A made header with one byte changed, bytes cut off the end, or bytes spliced in. */
const damaged: fc.Arbitrary<Case> = fc.tuple(fc.oneof(v1, v2), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom("flip", "cut", "insert")).map(([made, at, byte, how]) => {
  const bytes = Buffer.from(made.bytes);
  const i = at % bytes.length;
  if (how === "flip") bytes[i] = byte;
  if (how === "cut") return { bytes: bytes.subarray(0, i) };
  if (how === "insert") return { bytes: Buffer.concat([bytes.subarray(0, i), Buffer.of(byte), bytes.subarray(i)]) };
  return { bytes };
});

const garbage: fc.Arbitrary<Case> = fc.oneof(
  fc.uint8Array({ maxLength: 700 }).map((bytes) => ({ bytes: Buffer.from(bytes) })),
  fc.uint8Array({ maxLength: 700 }).map((bytes) => ({ bytes: Buffer.concat([signature, Buffer.from(bytes)]) })),
  fc.string({ unit: "binary-ascii", maxLength: 300 }).map((text) => ({ bytes: Buffer.from(`PROXY ${text}`, "latin1") })),
);

function invariants(scan: ProxyHeaderScan, bytes: Buffer): string | undefined {
  if (scan.state === "incomplete" && bytes.length >= maxProxyV2Bytes) return `still incomplete after ${bytes.length} bytes: the reader would buffer without bound`;
  if (scan.state !== "proxied") return undefined;
  const bound = bytes[0] === 0x50 ? maxProxyV1Bytes : maxProxyV2Bytes;
  if (scan.length > bytes.length || scan.length > bound) return `header length ${scan.length} is past the input (${bytes.length}) or the bound (${bound})`;
  if (scan.source && (isIP(scan.source.address) === 0 || scan.source.port > 65_535)) return `source ${JSON.stringify(scan.source)} is not an IP address and port`;
  return undefined;
}

function check(input: Case): Verdict {
  let scan: ProxyHeaderScan;
  try {
    scan = readProxyHeader(input.bytes);
  } catch (error) {
    return { kind: "crash", detail: `readProxyHeader threw ${describeError(error)}` };
  }
  const broken = invariants(scan, input.bytes);
  if (broken) return { kind: "mismatch", detail: broken };
  if (!input.made) return ok;
  const { length, address } = input.made;
  if (scan.state !== "proxied" || scan.length !== length || (scan.source?.address ?? null) !== address) {
    return { kind: "mismatch", detail: `a well-formed header read as ${JSON.stringify(scan)}, expected length ${length} and source ${address}` };
  }
  // Every proper prefix of a header is a header in progress, never a verdict.
  for (const cut of [1, Math.floor(length / 2), length - 1]) {
    const early = readProxyHeader(input.bytes.subarray(0, cut));
    if (early.state !== "incomplete") return { kind: "mismatch", detail: `the first ${cut} of ${length} header bytes read as ${JSON.stringify(early)}` };
  }
  return ok;
}

/**
 * The PROXY protocol reader (`@pier/server/proxy-protocol`): well-formed v1 and v2 headers (any
 * addresses, ports, TLV padding, bytes after them) read back exactly, and their prefixes as
 * incomplete; damaged headers and garbage never throw, never stay incomplete past 552 bytes, and
 * whatever reads as a header stays within the input and its bound with a valid IP address.
 */
export const proxyProtocolTarget: FuzzTarget = {
  name: "proxy-protocol",
  defaultRuns: 100_000,
  prepare() {
    return Promise.resolve({
      arbitrary: fc.oneof({ weight: 2, arbitrary: v1 }, { weight: 2, arbitrary: v2 }, { weight: 3, arbitrary: damaged }, { weight: 3, arbitrary: garbage }),
      check: (input: Case) => timed(() => check(input)),
      notes: () => ["properties: made headers read back exactly (prefixes incomplete); never a throw; never incomplete past 552 bytes; lengths within input and bound; sources are IP addresses"],
      show: (input: Case) => hexPreview(input.bytes),
    });
  },
};
