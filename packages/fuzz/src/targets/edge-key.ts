import fc from "fast-check";
import { type EdgeKey, ProtocolError, decodeEdgeKey, encodeEdgeKey } from "@pier/protocol/wire";
import { type FuzzTarget, type Verdict, describeError, ok, timed } from "../harness.ts";

type Case = { kind: "roundtrip"; key: EdgeKey } | { kind: "decode"; text: string };

const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);
const host = fc.oneof(fc.domain(), fc.ipV4(), fc.ipV6().map((ip) => `[${ip}]`), fc.constantFrom("localhost", "pier.internal", "xn--bcher-kva.example"));
const port = fc.integer({ min: 1, max: 65_535 });
const secret = fc.stringMatching(/^[A-Za-z0-9_-]{22,128}$/);
/** A key as the server makes it. */
const validKey: fc.Arbitrary<EdgeKey> = fc
  .record({
    apiUrl: fc.oneof(fc.tuple(host, fc.option(port)).map(([h, p]) => `https://${h}${p === null ? "" : `:${p}`}`), fc.webUrl({ validSchemes: ["https"], withQueryParameters: true, withFragments: true })),
    tunnelAddress: fc.tuple(host, port).map(([h, p]) => `${h}:${p}`),
    serverFingerprint: hex64,
    environmentId: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2 ** 31 }), fc.integer({ min: 0, max: 999_999_999_999_999 })),
    secret: fc.option(secret, { nil: undefined }),
  })
  .map((k) => (k.secret === undefined || k.environmentId === 0 ? { apiUrl: k.apiUrl, tunnelAddress: k.tunnelAddress, serverFingerprint: k.serverFingerprint, environmentId: k.environmentId } : k));
/** Keys with fields that may hold anything: the separator, spaces, unicode, huge numbers. */
const wildKey: fc.Arbitrary<EdgeKey> = fc.record(
  {
    apiUrl: fc.oneof(fc.string({ unit: "binary", maxLength: 40 }), fc.string({ maxLength: 20 }).map((s) => `https://h.example/${s}`)),
    tunnelAddress: fc.oneof(fc.string({ unit: "binary", maxLength: 30 }), fc.string({ maxLength: 10 }).map((s) => `${s}:443`)),
    serverFingerprint: fc.oneof(hex64, fc.string({ maxLength: 70 })),
    environmentId: fc.oneof(fc.integer(), fc.double(), fc.constant(Number.MAX_SAFE_INTEGER + 2)),
    secret: fc.option(fc.string({ unit: "binary", maxLength: 140 }), { nil: undefined }),
  },
  { requiredKeys: ["apiUrl", "tunnelAddress", "serverFingerprint", "environmentId"] },
);

/** Server-made keys with one character inserted into one field. */
const nudgedKey: fc.Arbitrary<EdgeKey> = fc
  .tuple(validKey, fc.constantFrom("apiUrl" as const, "tunnelAddress" as const, "serverFingerprint" as const, "secret" as const), fc.nat(), fc.constantFrom("|", " ", "\n", "%7C", "é", "\u0000", ":", "/", "=", "\ud800"))
  .map(([key, field, at, insert]) => {
    const value = key[field] ?? "";
    const i = at % (value.length + 1);
    return { ...key, [field]: value.slice(0, i) + insert + value.slice(i) };
  });

function base64(text: string): string {
  return Buffer.from(text, "utf8").toString("base64").replace(/=+$/, "");
}

const garbage: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: "binary", maxLength: 200 }),
  fc.base64String({ maxLength: 300 }),
  fc.array(fc.string({ unit: "binary", maxLength: 40 }), { maxLength: 7 }).map((fields) => base64(fields.join("|"))),
  fc.tuple(validKey, fc.nat(), fc.string({ maxLength: 3 })).map(([key, at, insert]) => {
    const encoded = encodeEdgeKey(key);
    const i = at % (encoded.length + 1);
    return encoded.slice(0, i) + insert + encoded.slice(i + 1);
  }),
  fc.tuple(validKey, fc.constantFrom("|", "||", "|x", " ", "\n", "==", "|0")).map(([key, tail]) => base64(`${Buffer.from(encodeEdgeKey(key), "base64").toString("utf8")}${tail}`)),
  fc.integer({ min: 4_000, max: 6_000 }).map((n) => "A".repeat(n)),
);

function same(a: EdgeKey, b: EdgeKey): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function check(input: Case): Verdict {
  if (input.kind === "roundtrip") {
    let encoded: string;
    try {
      encoded = encodeEdgeKey(input.key);
    } catch (error) {
      return error instanceof ProtocolError ? ok : { kind: "crash", detail: `encodeEdgeKey threw ${describeError(error)}` };
    }
    try {
      const decoded = decodeEdgeKey(encoded);
      return same(decoded, input.key) ? ok : { kind: "mismatch", detail: `round trip changed the key: ${JSON.stringify(decoded)}` };
    } catch (error) {
      return { kind: error instanceof ProtocolError ? "mismatch" : "crash", detail: `encodeEdgeKey made a key decodeEdgeKey refuses: ${describeError(error)}` };
    }
  }
  let decoded: EdgeKey;
  try {
    decoded = decodeEdgeKey(input.text);
  } catch (error) {
    return error instanceof ProtocolError ? ok : { kind: "crash", detail: `decodeEdgeKey threw ${describeError(error)}` };
  }
  // Whatever decodes is a valid key: it encodes, and decodes back to itself.
  try {
    return same(decodeEdgeKey(encodeEdgeKey(decoded)), decoded) ? ok : { kind: "mismatch", detail: "a decoded key does not survive encode/decode" };
  } catch (error) {
    return { kind: "mismatch", detail: `a decoded key cannot be encoded again: ${describeError(error)}` };
  }
}

/**
 * The EDGE_KEY codec through its public API (`@pier/protocol/wire`): server-made keys (4 and 5
 * fields) round-trip exactly; keys with arbitrary fields are refused with ProtocolError or
 * round-trip; garbage and damaged keys are refused with ProtocolError or decode to a valid key.
 */
export const edgeKeyTarget: FuzzTarget = {
  name: "edge-key",
  defaultRuns: 100_000,
  prepare() {
    return Promise.resolve({
      arbitrary: fc.oneof(
        { weight: 3, arbitrary: validKey.map((key) => ({ kind: "roundtrip" as const, key })) },
        { weight: 1, arbitrary: wildKey.map((key) => ({ kind: "roundtrip" as const, key })) },
        { weight: 2, arbitrary: nudgedKey.map((key) => ({ kind: "roundtrip" as const, key })) },
        { weight: 5, arbitrary: garbage.map((text) => ({ kind: "decode" as const, text })) },
      ),
      check: (input: Case) => timed(() => check(input)),
      notes: () => ["properties: exact round trip of server-made keys (4 and 5 fields); only ProtocolError; whatever decodes re-encodes to itself"],
      show: (input: Case) => JSON.stringify(input),
    });
  },
};
