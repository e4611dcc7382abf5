import { afterEach, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Duplex, PassThrough } from "node:stream";
import { WebSocket, WebSocketServer } from "ws";
import { runConsoleSession } from "./console-session.ts";
import { consoleLimits } from "./console-spec.ts";

/**
 * The session over a real WebSocket on loopback; the exec's hijacked stream is a stand-in (two
 * PassThroughs), since Docker is exercised through the tunnel in e2e web-ui.test.ts.
 */
interface Harness {
  client: WebSocket;
  /** What the session wrote to the "exec". */
  toExec: PassThrough;
  /** Writes here reach the browser as the exec's output. */
  fromExec: PassThrough;
  resizes: string[];
  closed: Promise<{ code: number; notices: string[] }>;
}

let server: Server | undefined;
afterEach(() => server?.close());

async function open(idleMs = 60_000): Promise<Harness> {
  const toExec = new PassThrough();
  const fromExec = new PassThrough();
  const exec = Duplex.from({ readable: fromExec, writable: toExec });
  const resizes: string[] = [];
  const sockets = new WebSocketServer({ noServer: true, maxPayload: consoleLimits.messageBytes });
  server = createServer();
  server.on("upgrade", (req, socket, head) =>
    sockets.handleUpgrade(req, socket, head, (ws) => void runConsoleSession({ socket: ws, start: () => Promise.resolve(exec), resize: (rows, cols) => Promise.resolve(void resizes.push(`${rows}x${cols}`)), exitCode: () => Promise.resolve(0), idleMs, log: () => undefined })),
  );
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  const notices: string[] = [];
  client.on("message", (data: Buffer, isBinary) => {
    if (!isBinary) notices.push(data.toString("utf8"));
  });
  const closed = new Promise<{ code: number; notices: string[] }>((resolve) => client.on("close", (code) => resolve({ code, notices })));
  await new Promise((resolve) => client.once("open", resolve));
  return { client, toExec, fromExec, resizes, closed };
}

describe("runConsoleSession", () => {
  it("carries keystrokes and output as binary messages, resizes on a resize message, and says the exit", async () => {
    const { client, toExec, fromExec, resizes, closed } = await open();
    const output = new Promise<string>((resolve) => client.once("message", (data: Buffer) => resolve(data.toString("utf8"))));
    client.send(Buffer.from("ls\r"), { binary: true });
    expect(String(await new Promise<Buffer>((resolve) => toExec.once("data", resolve)))).toBe("ls\r");
    fromExec.write("bin etc\r\n");
    expect(await output).toBe("bin etc\r\n");
    client.send(JSON.stringify({ type: "resize", rows: 40, cols: 120 }));
    await expect.poll(() => resizes).toEqual(["40x120"]);
    fromExec.end();
    expect(await closed).toEqual({ code: 1000, notices: ['{"type":"exit","exitCode":0}'] });
  });

  it("closes on a message past the size limit, a text message that is not a resize within limits, and when idle", async () => {
    const big = await open();
    big.client.send(Buffer.alloc(consoleLimits.messageBytes + 1), { binary: true });
    expect((await big.closed).code).toBe(1009);
    server?.close();

    const odd = await open();
    odd.client.send(JSON.stringify({ type: "resize", rows: consoleLimits.rows + 1, cols: 80 }));
    const refused = await odd.closed;
    expect(refused.code).toBe(1008);
    expect(refused.notices[0]).toMatch(/"code":"bad_request"/);
    server?.close();

    const idle = await open(200);
    const ended = await idle.closed;
    expect(ended.code).toBe(4408);
    expect(ended.notices[0]).toMatch(/without input or output/);
  });
});
