/** What the first bytes of a connection say about its TLS ClientHello. */
export interface ClientHelloScan {
  /** True once the whole ClientHello handshake message has arrived. */
  readonly complete: boolean;
  /** The SNI host_name (RFC 6066 §3) exactly as sent, when the client sent one. */
  readonly serverName?: string;
  /** False as soon as the bytes cannot be a TLS ClientHello (plaintext HTTP, garbage). */
  readonly isTls: boolean;
}

// RFC 8446 §5.1 and §4: record and handshake framing.
const recordHeaderLength = 5;
const handshakeHeaderLength = 4;
const contentTypeHandshake = 22;
const handshakeTypeClientHello = 1;
const maxPlaintextRecordLength = 2 ** 14;
const extensionServerName = 0;
const nameTypeHostName = 0;

const notTls: ClientHelloScan = { complete: false, isTls: false };
const incomplete: ClientHelloScan = { complete: false, isTls: true };

class OutOfBounds extends Error {}

/** A cursor over a byte range that throws `OutOfBounds` instead of reading past its end. */
class Reader {
  readonly #buffer: Buffer;
  #offset = 0;

  constructor(buffer: Buffer) {
    this.#buffer = buffer;
  }

  get remaining(): number {
    return this.#buffer.length - this.#offset;
  }

  uint(bytes: 1 | 2 | 3): number {
    if (this.remaining < bytes) throw new OutOfBounds();
    const value = this.#buffer.readUIntBE(this.#offset, bytes);
    this.#offset += bytes;
    return value;
  }

  bytes(length: number): Buffer {
    if (this.remaining < length) throw new OutOfBounds();
    const slice = this.#buffer.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return slice;
  }

  rest(): Buffer {
    return this.bytes(this.remaining);
  }

  /** A length-prefixed vector (`opaque x<0..2^(8·lengthBytes)-1>`) as its own reader. */
  vector(lengthBytes: 1 | 2): Reader {
    return new Reader(this.bytes(this.uint(lengthBytes)));
  }
}

/**
 * Joins the handshake fragments of consecutive handshake records until the first handshake
 * message is whole: a ClientHello may span several records (RFC 8446 §5.1), and the records
 * several TCP reads.
 */
function firstHandshakeMessage(buffer: Buffer): Buffer | "incomplete" | "not-tls" {
  const fragments: Buffer[] = [];
  let collected = 0;
  let needed: number | undefined;
  let offset = 0;
  for (;;) {
    const header = buffer.subarray(offset, offset + recordHeaderLength);
    if (header.length >= 1 && header[0] !== contentTypeHandshake) return "not-tls";
    // Record versions are 3.0 (SSL 3) to 3.4; ClientHellos carry 3.1 for compatibility.
    if (header.length >= 2 && header[1] !== 3) return "not-tls";
    if (header.length >= 3 && header[2]! > 4) return "not-tls";
    if (header.length < recordHeaderLength) return "incomplete";
    const length = header.readUInt16BE(3);
    if (length === 0 || length > maxPlaintextRecordLength) return "not-tls";
    const fragment = buffer.subarray(offset + recordHeaderLength, offset + recordHeaderLength + length);
    if (collected === 0 && fragment.length > 0 && fragment[0] !== handshakeTypeClientHello) return "not-tls";
    fragments.push(fragment);
    collected += fragment.length;
    // Joined at most twice, so a hello cut into thousands of tiny records stays linear.
    if (needed === undefined && collected >= handshakeHeaderLength) needed = handshakeHeaderLength + Buffer.concat(fragments, collected).readUIntBE(1, 3);
    if (needed !== undefined && collected >= needed) return Buffer.concat(fragments, collected).subarray(0, needed);
    if (fragment.length < length) return "incomplete";
    offset += recordHeaderLength + length;
  }
}

/** A host name is printable ASCII (RFC 6066 §3); anything else is treated as no SNI at all. */
function hostName(bytes: Buffer): string | undefined {
  const text = bytes.toString("latin1");
  return /^[\x21-\x7e]{1,253}$/.test(text) ? text : undefined;
}

/** The host_name in a whole ClientHello message; `undefined` without SNI. Throws `OutOfBounds`. */
function serverNameOf(message: Buffer): string | undefined {
  const hello = new Reader(message);
  hello.bytes(handshakeHeaderLength);
  hello.bytes(2 + 32); // legacy_version, random
  hello.vector(1); // legacy_session_id
  hello.vector(2); // cipher_suites
  hello.vector(1); // legacy_compression_methods
  if (hello.remaining === 0) return undefined; // a TLS 1.0-style hello without extensions
  const extensions = hello.vector(2);
  while (extensions.remaining > 0) {
    const type = extensions.uint(2);
    const data = extensions.vector(2);
    if (type !== extensionServerName) continue;
    const names = data.vector(2);
    while (names.remaining > 0) {
      const nameType = names.uint(1);
      const name = names.vector(2);
      if (nameType === nameTypeHostName) return hostName(name.rest());
    }
  }
  return undefined;
}

/**
 * Reads the SNI host name from the bytes a client has sent so far, without consuming them, so
 * the connection can be routed before any TLS server sees it. Every length is bounds-checked:
 * arbitrary input yields `isTls: false`, never an exception.
 *
 * @example
 * const hello = readServerName(received);
 * if (!hello.isTls) socket.destroy();
 * else if (hello.complete) route(hello.serverName);
 */
export function readServerName(buffer: Buffer): ClientHelloScan {
  const message = firstHandshakeMessage(buffer);
  if (message === "not-tls") return notTls;
  if (message === "incomplete") return incomplete;
  try {
    const serverName = serverNameOf(message);
    return serverName === undefined ? { complete: true, isTls: true } : { complete: true, isTls: true, serverName };
  } catch (error) {
    if (error instanceof OutOfBounds) return notTls;
    throw error;
  }
}
