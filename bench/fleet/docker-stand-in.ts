import type { ClientHttp2Session } from "node:http2";
import { edgePaths } from "@pier/protocol";

/** What the stand-in answers to every request: Docker's own answer to `GET /_ping`. */
const pingResponse = Buffer.from("HTTP/1.1 200 OK\r\nApi-Version: 1.47\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\nOK");
/** A request head longer than this is not a ping: the stream is cancelled. */
const maxHeadBytes = 16 * 1024;

/**
 * A stand-in for a device's Docker Engine, for benchmarks that time the path to a device rather
 * than Docker itself (no Engine per simulated device can be produced here): on a `tunnel {id}`
 * push it opens `POST /api/edge/v1/tunnel/<id>` on the session's connection, as the agent does,
 * and answers each HTTP/1.1 request head that arrives through it with Docker's `_ping` answer
 * (200, `OK`), keeping the connection open until the server ends the stream.
 *
 * @example
 * case "tunnel": answerTunnelWithPing(h2, message.id); break;
 */
export function answerTunnelWithPing(session: ClientHttp2Session, id: string): void {
  if (session.destroyed || session.closed) return;
  const stream = session.request({ ":method": "POST", ":path": edgePaths.tunnel + id, "content-type": "application/octet-stream" }, { endStream: false });
  let pending = Buffer.alloc(0);
  stream.on("data", (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    // Requests without a body (what the benchmarks send): each head ends with an empty line.
    for (let end = pending.indexOf("\r\n\r\n"); end >= 0; end = pending.indexOf("\r\n\r\n")) {
      pending = pending.subarray(end + 4);
      stream.write(pingResponse);
    }
    if (pending.length > maxHeadBytes) stream.close();
  });
  stream.on("end", () => stream.end());
  stream.on("error", () => stream.destroy());
}
