/** The HTTP version the benchmark's clients speak after the handshake. */
export type HttpVersion = "http/1.1" | "h2";

/** What a reader made of the bytes so far: nothing yet, the response status, or why there is none. */
export type ExchangeProgress = undefined | { readonly status: number } | { readonly failure: string };

/** One request on a new connection: what to offer in ALPN, what to send, how to read the status. */
export interface HttpExchange {
  readonly alpn: readonly string[];
  readonly request: Buffer;
  /** A reader for one connection: fed every chunk received, until it returns something. */
  reader(): (chunk: Buffer) => ExchangeProgress;
}

/** At most this much is read looking for the status; a server sending more without one fails. */
const maxHeadBytes = 16 * 1024;

const http1: HttpExchange = {
  alpn: ["http/1.1"],
  request: Buffer.from("GET /handshake HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", "latin1"),
  reader() {
    let head = "";
    return (chunk) => {
      head += chunk.toString("latin1");
      const end = head.indexOf("\r\n");
      if (end < 0) return head.length > maxHeadBytes ? { failure: "no HTTP status line" } : undefined;
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head.slice(0, end))?.[1];
      return status ? { status: Number(status) } : { failure: "no HTTP status line" };
    };
  },
};

const frameHeaderBytes = 9;
const frameType = { headers: 0x1, goaway: 0x7 } as const;
const flags = { padded: 0x8, priority: 0x20 } as const;
// HPACK's static table (RFC 7541 appendix A), entries 8–14: ":status" with these values.
const staticStatus = new Map([
  [8, 200],
  [9, 204],
  [10, 206],
  [11, 304],
  [12, 400],
  [13, 404],
  [14, 500],
]);

function frame(type: number, flagBits: number, stream: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(frameHeaderBytes);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flagBits;
  header.writeUInt32BE(stream, 5);
  return Buffer.concat([header, payload]);
}

// GET https://localhost/handshake in HPACK without Huffman or indexing: :method GET (static 2),
// :scheme https (7), then :path (name 4) and :authority (name 1) as literals.
const literal = (nameIndex: number, value: string) => Buffer.concat([Buffer.from([nameIndex, value.length]), Buffer.from(value, "latin1")]);
const h2Headers = Buffer.concat([Buffer.from([0x82, 0x87]), literal(4, "/handshake"), literal(1, "localhost")]);

const h2: HttpExchange = {
  alpn: ["h2"],
  // The connection preface, an empty SETTINGS frame, and HEADERS (END_STREAM | END_HEADERS) on stream 1.
  request: Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"), frame(0x4, 0, 0, Buffer.alloc(0)), frame(frameType.headers, 0x5, 1, h2Headers)]),
  reader() {
    let buffered = Buffer.alloc(0);
    return (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= frameHeaderBytes) {
        const length = buffered.readUIntBE(0, 3);
        if (buffered.length < frameHeaderBytes + length) break;
        const type = buffered[3];
        const flagBits = buffered[4] ?? 0;
        const stream = buffered.readUInt32BE(5) & 0x7fffffff;
        let payload = buffered.subarray(frameHeaderBytes, frameHeaderBytes + length);
        buffered = buffered.subarray(frameHeaderBytes + length);
        if (type === frameType.goaway) return { failure: "HTTP/2 GOAWAY" };
        if (type !== frameType.headers || stream !== 1) continue;
        if (flagBits & flags.padded) payload = payload.subarray(1);
        if (flagBits & flags.priority) payload = payload.subarray(5);
        // The first field of a response is :status; servers send the common ones indexed.
        const first = payload[0] ?? 0;
        const status = first & 0x80 ? staticStatus.get(first & 0x7f) : undefined;
        return status === undefined ? { failure: `HTTP/2 :status not indexed (0x${first.toString(16)})` } : { status };
      }
      return buffered.length > maxHeadBytes ? { failure: "no HTTP/2 HEADERS frame" } : undefined;
    };
  },
};

/**
 * The request a benchmark client sends after its handshake, and the reader of the answer's
 * status: HTTP/1.1 (`Connection: close`), or HTTP/2 written by hand (preface, SETTINGS, one
 * HEADERS frame; the status from HPACK's static table), as cheap for the client as HTTP/1.1.
 *
 * @example
 * const exchange = httpExchange("h2");
 * socket.write(exchange.request); const read = exchange.reader(); socket.on("data", (chunk) => read(chunk));
 */
export function httpExchange(version: HttpVersion): HttpExchange {
  return version === "h2" ? h2 : http1;
}
