import { spawn } from "node:child_process";
import net from "node:net";
import tls from "node:tls";
import fc from "fast-check";
import { readServerName } from "@pier/server/client-hello";
import { type FuzzTarget, type Verdict, describeError, hexPreview, ok, timed } from "../harness.ts";

/** A ClientHello as a real client sent it, and the SNI it was told to send. */
interface Capture {
  readonly client: string;
  readonly bytes: Buffer;
  readonly serverName: string | undefined;
}

/** Listens on loopback and keeps the first bytes of each connection (the ClientHello). */
async function captureHellos(): Promise<Capture[]> {
  const received: Buffer[] = [];
  const server = net.createServer((socket) => {
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", () => undefined);
    setTimeout(() => {
      received.push(Buffer.concat(chunks));
      socket.destroy();
    }, 400);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  const take = async (client: string, serverName: string | undefined, connect: () => void): Promise<Capture> => {
    const before = received.length;
    connect();
    for (let waited = 0; received.length === before && waited < 10_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    return { client, bytes: received[before] ?? Buffer.alloc(0), serverName };
  };
  const node = (options: tls.ConnectionOptions) => () => {
    const socket = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false, ...options });
    socket.on("error", () => undefined);
  };
  const openssl = (args: string[]) => () => {
    const child = spawn("openssl", ["s_client", "-connect", `127.0.0.1:${port}`, ...args], { stdio: ["pipe", "ignore", "ignore"] });
    child.on("error", () => undefined);
    child.stdin.end();
  };
  try {
    const captures = [
      await take("node default", "pier.example.com", node({ servername: "pier.example.com" })),
      await take("node no SNI", undefined, node({ servername: "" })),
      await take("node TLS 1.2 + ALPN h2", "edge-17.fleet.example.com", node({ servername: "edge-17.fleet.example.com", maxVersion: "TLSv1.2", ALPNProtocols: ["h2", "http/1.1"] })),
      await take("node TLS 1.3 + session ticket", "a.b", node({ servername: "a.b", minVersion: "TLSv1.3", ALPNProtocols: ["http/1.1"] })),
      await take("openssl s_client", "openssl.example.com", openssl(["-servername", "openssl.example.com"])),
      await take("openssl s_client -noservername", undefined, openssl(["-noservername"])),
      await take("openssl s_client -tls1_2", "tls12.example.com", openssl(["-tls1_2", "-servername", "tls12.example.com"])),
    ];
    return captures.filter((c) => c.bytes.length > 0);
  } finally {
    server.close();
  }
}

type Case =
  | { kind: "whole"; capture: number; trailing: Uint8Array }
  | { kind: "prefix"; capture: number; at: number }
  | { kind: "refragment"; capture: number; sizes: number[] }
  | { kind: "mutated"; capture: number; edits: Array<{ at: number; value: number }>; lengthEdits: Array<{ field: number; delta: number }>; cut: number | null }
  | { kind: "random"; bytes: Uint8Array; tlsHeader: boolean };

/** The handshake message of a single-record hello (what the clients above send). */
function handshakeOf(hello: Buffer): Buffer {
  return hello.subarray(5, 5 + hello.readUInt16BE(3));
}

/** Offsets of the length fields a parser trusts: record, handshake, session id, suites, compression, extensions, SNI. */
function lengthFields(hello: Buffer): Array<{ offset: number; bytes: 1 | 2 | 3 }> {
  const fields: Array<{ offset: number; bytes: 1 | 2 | 3 }> = [{ offset: 3, bytes: 2 }, { offset: 6, bytes: 3 }];
  let at = 5 + 4 + 2 + 32;
  const push = (bytes: 1 | 2) => {
    fields.push({ offset: at, bytes });
    const length = bytes === 1 ? (hello[at] ?? 0) : hello.readUInt16BE(Math.min(at, hello.length - 2));
    at += bytes + length;
  };
  push(1);
  push(2);
  push(1);
  fields.push({ offset: at, bytes: 2 });
  at += 2;
  while (at + 4 <= hello.length) {
    const type = hello.readUInt16BE(at);
    fields.push({ offset: at + 2, bytes: 2 });
    if (type === 0) fields.push({ offset: at + 4, bytes: 2 }, { offset: at + 7, bytes: 2 });
    at += 4 + hello.readUInt16BE(at + 2);
  }
  return fields.filter((f) => f.offset + f.bytes <= hello.length);
}

/** The records' fragments joined (a name may span records). */
function recordPayloads(input: Buffer): Buffer {
  const fragments: Buffer[] = [];
  for (let offset = 0; offset + 5 <= input.length; ) {
    const length = input.readUInt16BE(offset + 3);
    fragments.push(input.subarray(offset + 5, offset + 5 + length));
    offset += 5 + length;
  }
  return Buffer.concat(fragments);
}

function sane(input: Buffer, scan: ReturnType<typeof readServerName>): Verdict {
  if (typeof scan.complete !== "boolean" || typeof scan.isTls !== "boolean") return { kind: "mismatch", detail: "result fields are not booleans" };
  if (scan.complete && !scan.isTls) return { kind: "mismatch", detail: "complete but not TLS" };
  if (scan.serverName !== undefined) {
    if (!/^[\x21-\x7e]{1,253}$/.test(scan.serverName)) return { kind: "mismatch", detail: `server name ${JSON.stringify(scan.serverName)} is not printable ASCII` };
    // A name must come from the input's record payloads: nothing read past the end, nothing invented.
    if (!recordPayloads(input).includes(Buffer.from(scan.serverName, "latin1"))) return { kind: "mismatch", detail: "server name is not in the input" };
  }
  return ok;
}

/**
 * The ClientHello SNI reader: real hellos from Node and openssl clients (whole, cut short,
 * re-fragmented into many records, with trailing bytes, mutated bytes and length fields) and
 * random bytes. It has no error type of its own: it must never throw, never invent a name, and
 * read real hellos exactly.
 */
export const clientHelloTarget: FuzzTarget = {
  name: "client-hello",
  defaultRuns: 100_000,
  async prepare() {
    const captures = await captureHellos();
    if (captures.length === 0) throw new Error("no ClientHello could be captured from Node or openssl on loopback");
    const fields = captures.map((c) => lengthFields(c.bytes));
    const capture = fc.nat({ max: captures.length - 1 });
    const arbitrary: fc.Arbitrary<Case> = fc.oneof(
      fc.record({ kind: fc.constant("whole" as const), capture, trailing: fc.uint8Array({ maxLength: 40 }) }),
      fc.record({ kind: fc.constant("prefix" as const), capture, at: fc.nat() }),
      fc.record({ kind: fc.constant("refragment" as const), capture, sizes: fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 40 }) }),
      fc.record({
        kind: fc.constant("mutated" as const),
        capture,
        edits: fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { maxLength: 3 }),
        lengthEdits: fc.array(fc.record({ field: fc.nat(), delta: fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom(-1000, 1000, 0xffff, -0xffff)) }), { maxLength: 2 }),
        cut: fc.option(fc.nat()),
      }),
      fc.record({ kind: fc.constant("random" as const), bytes: fc.uint8Array({ maxLength: 600 }), tlsHeader: fc.boolean() }),
    );
    const build = (input: Case): Buffer => {
      if (input.kind === "random") return Buffer.concat([input.tlsHeader ? Buffer.from([0x16, 0x03, 0x01, input.bytes.length >> 8, input.bytes.length & 0xff, 0x01]) : Buffer.alloc(0), Buffer.from(input.bytes)]);
      const hello = captures[input.capture]!.bytes;
      switch (input.kind) {
        case "whole":
          return Buffer.concat([hello, Buffer.from(input.trailing)]);
        case "prefix":
          return hello.subarray(0, input.at % hello.length);
        case "refragment": {
          const message = handshakeOf(hello);
          const records: Buffer[] = [];
          for (let offset = 0, i = 0; offset < message.length; i++) {
            const size = Math.min(input.sizes[i % input.sizes.length]!, message.length - offset);
            records.push(Buffer.from([0x16, 0x03, 0x01, size >> 8, size & 0xff]), message.subarray(offset, offset + size));
            offset += size;
          }
          return Buffer.concat(records);
        }
        case "mutated": {
          const out = Buffer.from(hello);
          for (const edit of input.edits) out[edit.at % out.length] = edit.value;
          const known = fields[input.capture]!;
          for (const edit of input.lengthEdits) {
            const field = known[edit.field % known.length];
            if (!field) continue;
            const max = 2 ** (8 * field.bytes) - 1;
            out.writeUIntBE(Math.max(0, Math.min(max, out.readUIntBE(field.offset, field.bytes) + edit.delta)), field.offset, field.bytes);
          }
          return input.cut === null ? out : out.subarray(0, input.cut % (out.length + 1));
        }
      }
    };
    const check = (input: Case): Verdict => {
      const bytes = build(input);
      let scan: ReturnType<typeof readServerName>;
      try {
        scan = readServerName(bytes);
      } catch (error) {
        return { kind: "crash", detail: `readServerName threw ${describeError(error)}` };
      }
      const verdict = sane(bytes, scan);
      if (verdict.kind !== "ok" || input.kind === "random" || input.kind === "mutated") return verdict;
      const expected = captures[input.capture]!;
      if (input.kind === "prefix") return scan.isTls && !scan.complete ? ok : { kind: "mismatch", detail: `a ${bytes.length}-byte prefix of a ${expected.bytes.length}-byte hello gave ${JSON.stringify(scan)}` };
      if (!scan.complete || !scan.isTls || scan.serverName !== expected.serverName) {
        return { kind: "mismatch", detail: `${input.kind} hello from ${expected.client}: expected SNI ${String(expected.serverName)}, got ${JSON.stringify(scan)}` };
      }
      return ok;
    };
    return {
      arbitrary,
      check: (input: Case) => timed(() => check(input)),
      notes: () => [`captured this run: ${captures.map((c) => `${c.client} (${c.bytes.length} B)`).join(", ")}`, "properties: never throws; SNI exact on whole, re-fragmented and trailing-data hellos; prefixes incomplete; a name is printable and taken from the input"],
      show: (input: Case) => hexPreview(build(input)),
    };
  },
};
