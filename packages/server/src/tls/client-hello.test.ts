import { randomBytes } from "node:crypto";
import net, { type AddressInfo } from "node:net";
import tls from "node:tls";
import { beforeAll, describe, expect, it } from "vitest";
import { readServerName } from "./client-hello.ts";

/** The bytes a real `tls.connect` sends first, collected until it goes quiet waiting for a ServerHello. */
async function captureClientHello(options: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const captured = new Promise<Buffer>((resolve) => {
    server.once("connection", (socket) => {
      const chunks: Buffer[] = [];
      let quiet: NodeJS.Timeout | undefined;
      socket.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        clearTimeout(quiet);
        quiet = setTimeout(() => {
          socket.destroy();
          resolve(Buffer.concat(chunks));
        }, 150);
      });
    });
  });
  const client = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false, ...options });
  client.on("error", () => undefined);
  try {
    return await captured;
  } finally {
    client.destroy();
    server.close();
  }
}

/** The same handshake message re-framed into records of at most `size` bytes each. */
function reframe(hello: Buffer, size: number): Buffer {
  const message = hello.subarray(5, 5 + hello.readUInt16BE(3));
  const records: Buffer[] = [];
  for (let offset = 0; offset < message.length; offset += size) {
    const fragment = message.subarray(offset, offset + size);
    const header = Buffer.from([22, 3, 1, 0, 0]);
    header.writeUInt16BE(fragment.length, 3);
    records.push(header, fragment);
  }
  return Buffer.concat(records);
}

/** A minimal ClientHello (one record) with the given SNI entries, for edge cases real clients never send. */
function craftedHello(names: Array<{ type: number; name: Buffer }>): Buffer {
  const vector = (lengthBytes: 1 | 2, body: Buffer) => {
    const length = Buffer.alloc(lengthBytes);
    length.writeUIntBE(body.length, 0, lengthBytes);
    return Buffer.concat([length, body]);
  };
  const serverNameList = vector(2, Buffer.concat(names.map(({ type, name }) => Buffer.concat([Buffer.of(type), vector(2, name)]))));
  const extension = Buffer.concat([Buffer.of(0, 0), vector(2, serverNameList)]);
  const body = Buffer.concat([Buffer.of(3, 3), randomBytes(32), vector(1, Buffer.alloc(0)), vector(2, Buffer.of(0x13, 0x01)), vector(1, Buffer.of(0)), vector(2, extension)]);
  const handshake = Buffer.concat([Buffer.of(1, 0, 0, 0), body]);
  handshake.writeUIntBE(body.length, 1, 3);
  const record = Buffer.from([22, 3, 1, 0, 0]);
  record.writeUInt16BE(handshake.length, 3);
  return Buffer.concat([record, handshake]);
}

describe("readServerName", () => {
  let withSni: Buffer;
  let withoutSni: Buffer;
  beforeAll(async () => {
    withSni = await captureClientHello({ servername: "Pier.Example.test" });
    withoutSni = await captureClientHello({});
  });

  it("reads the SNI of a real ClientHello", () => {
    expect(readServerName(withSni)).toEqual({ complete: true, isTls: true, serverName: "Pier.Example.test" });
  });

  it("reports a complete ClientHello without SNI (Node sends none for an IP address)", () => {
    expect(readServerName(withoutSni)).toEqual({ complete: true, isTls: true });
  });

  it("says incomplete, not garbage, for every prefix of the ClientHello (1-byte chunks)", () => {
    for (let length = 0; length < withSni.length; length++) {
      expect(readServerName(withSni.subarray(0, length))).toEqual({ complete: false, isTls: true });
    }
  });

  it("reassembles a ClientHello spread over several TLS records", () => {
    const spread = reframe(withSni, 7);
    expect(spread.length).toBeGreaterThan(withSni.length);
    expect(readServerName(spread)).toEqual({ complete: true, isTls: true, serverName: "Pier.Example.test" });
    expect(readServerName(spread.subarray(0, spread.length - 1))).toEqual({ complete: false, isTls: true });
  });

  it("ignores what follows the ClientHello", () => {
    expect(readServerName(Buffer.concat([withSni, randomBytes(100)])).serverName).toBe("Pier.Example.test");
  });

  it("says not TLS for plaintext HTTP and garbage", () => {
    const notTls = { complete: false, isTls: false };
    expect(readServerName(Buffer.from("GET / HTTP/1.1\r\nHost: pier.test\r\n\r\n"))).toEqual(notTls);
    expect(readServerName(Buffer.from("G"))).toEqual(notTls);
    expect(readServerName(Buffer.from("SSH-2.0-OpenSSH_9.6\r\n"))).toEqual(notTls);
    // An SSLv2-framed hello, application data, a ServerHello, an empty record.
    expect(readServerName(Buffer.from([0x80, 0x2e, 0x01, 0x03, 0x01]))).toEqual(notTls);
    expect(readServerName(Buffer.from([23, 3, 3, 0, 5, 1, 2, 3, 4, 5]))).toEqual(notTls);
    expect(readServerName(Buffer.from([22, 3, 3, 0, 4, 2, 0, 0, 0]))).toEqual(notTls);
    expect(readServerName(Buffer.from([22, 3, 1, 0, 0]))).toEqual(notTls);
  });

  it("says not TLS when a length inside a complete ClientHello overruns it", () => {
    const corrupt = Buffer.from(withSni);
    // record 5 + handshake header 4 + version 2 + random 32, then session id, suites, compression.
    const sessionIdAt = 5 + 4 + 2 + 32;
    const suitesAt = sessionIdAt + 1 + corrupt[sessionIdAt]!;
    const compressionAt = suitesAt + 2 + corrupt.readUInt16BE(suitesAt);
    const extensionsAt = compressionAt + 1 + corrupt[compressionAt]!;
    corrupt.writeUInt16BE(0xffff, extensionsAt);
    expect(readServerName(corrupt)).toEqual({ complete: false, isTls: false });
  });

  it("takes the host_name entry and ignores names that are not printable ASCII", () => {
    expect(readServerName(craftedHello([{ type: 7, name: Buffer.from("other") }, { type: 0, name: Buffer.from("edge.pier.test") }])).serverName).toBe("edge.pier.test");
    expect(readServerName(craftedHello([{ type: 0, name: Buffer.from("bad\nname") }]))).toEqual({ complete: true, isTls: true });
    expect(readServerName(craftedHello([{ type: 0, name: Buffer.alloc(0) }]))).toEqual({ complete: true, isTls: true });
  });

  it("never throws on random input, even input that starts like a handshake record", () => {
    for (let i = 0; i < 2000; i++) {
      const tail = randomBytes(Math.floor(Math.random() * 300));
      const input = i % 2 === 0 ? Buffer.concat([Buffer.from([22, 3, 1, 1, 0, 1]), tail]) : tail;
      expect(() => readServerName(input)).not.toThrow();
    }
  });
});
