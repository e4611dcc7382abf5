import { describe, expect, it } from "vitest";
import http from "node:http";
import http2 from "node:http2";
import net, { type AddressInfo } from "node:net";
import { type ExchangeProgress, type HttpVersion, httpExchange } from "./http-exchange.ts";

/** Sends `version`'s request to a Node server answering `status` on 127.0.0.1 and feeds the reader until it decides. */
async function exchangeWith(version: HttpVersion, status: number): Promise<{ progress: ExchangeProgress; path: string | undefined; authority: string | undefined }> {
  let path: string | undefined;
  let authority: string | undefined;
  // Cleartext: h2c with prior knowledge takes the same preface and frames as h2 over TLS.
  const server =
    version === "h2"
      ? http2.createServer((req, res) => {
          [path, authority] = [req.url, req.authority];
          res.writeHead(status).end();
        })
      : http.createServer((req, res) => {
          [path, authority] = [req.url, req.headers.host];
          res.writeHead(status).end();
        });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  try {
    const exchange = httpExchange(version);
    const read = exchange.reader();
    const progress = await new Promise<ExchangeProgress>((resolve, reject) => {
      const socket = net.connect((server.address() as AddressInfo).port, "127.0.0.1", () => socket.write(exchange.request));
      socket.on("data", (chunk: Buffer) => {
        const result = read(chunk);
        if (result === undefined) return;
        socket.destroy();
        resolve(result);
      });
      socket.on("error", reject);
      socket.on("close", () => resolve(undefined));
    });
    return { progress, path, authority };
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe("httpExchange: the benchmark clients' one request and the status they read", () => {
  for (const version of ["http/1.1", "h2"] as const) {
    it(`${version}: GET /handshake for localhost; reads 200 and 404 as a real Node server sends them`, async () => {
      const ok = await exchangeWith(version, 200);
      // Precondition: the server parsed our hand-made request.
      expect(ok.path).toBe("/handshake");
      expect(ok.authority).toBe("localhost");
      expect(ok.progress).toEqual({ status: 200 });
      expect((await exchangeWith(version, 404)).progress).toEqual({ status: 404 });
    });
  }

  it("h2: a status outside HPACK's static table is a failure, not a status read wrongly", async () => {
    const result = await exchangeWith("h2", 418);
    expect(result.path).toBe("/handshake");
    expect(result.progress).toMatchObject({ failure: expect.stringMatching(/^HTTP\/2 :status not indexed/) as unknown });
  });

  it("http/1.1: a server that sends no status line within 16 KiB fails the reader", () => {
    const read = httpExchange("http/1.1").reader();
    expect(read(Buffer.alloc(8 * 1024, "x"))).toBeUndefined();
    expect(read(Buffer.alloc(9 * 1024, "x"))).toEqual({ failure: "no HTTP status line" });
  });
});
