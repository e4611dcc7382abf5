import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type TestCa, type TestPki, createTestPki } from "../tls/tls-fixtures.testkit.ts";
import type { AlertPayload } from "./alert.ts";
import { WebhookDelivery } from "./webhook-delivery.ts";
import { verifySignature } from "./webhook-signature.ts";

/** One request the receiver got. */
interface Received {
  readonly at: number;
  readonly body: string;
  readonly headers: IncomingMessage["headers"];
}

let pki: TestPki;
let ca: TestCa;
let credential: { certPem: string; keyPem: string };

beforeAll(async () => {
  pki = createTestPki();
  ca = await pki.createCa("Webhook receiver CA");
  credential = await pki.issue(ca, "receiver", { profile: "server", subjectAltNames: [{ type: "ip", value: "127.0.0.1" }] });
});
afterAll(async () => {
  await pki[Symbol.asyncDispose]();
});

/** A real HTTPS receiver on loopback; `answer` decides each response from how many came before. */
async function receiver(answer: (index: number, req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; received: Received[]; server: Server } & AsyncDisposable> {
  const received: Received[] = [];
  const server = createServer({ cert: credential.certPem, key: credential.keyPem }, (req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", () => {
      received.push({ at: Date.now(), body, headers: req.headers });
      answer(received.length - 1, req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}/hooks/pier?token=do-not-log`,
    received,
    server,
    [Symbol.asyncDispose]: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const payload = (id: string): AlertPayload => ({ id, kind: "revoked_connect", at: new Date().toISOString(), environmentId: 7, edgeId: "edge-7", message: "A revoked certificate tried to connect", detail: { serial: "0a" } });
const until = async (check: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};
const secret = "s3cret-for-this-test-only-0123456789";

describe("WebhookDelivery", () => {
  it("POSTs the alert as JSON with an HMAC-SHA256 signature the receiver verifies, and a delivery id", async () => {
    await using hook = await receiver((_, __, res) => res.writeHead(204).end());
    const logs: string[] = [];
    const webhook = new WebhookDelivery({ target: () => Promise.resolve({ url: hook.url, secret }), ca: ca.pem, log: (_, m) => logs.push(m) });
    webhook.enqueue(payload("alr_1"));
    await until(() => webhook.stats.delivered === 1);
    const [request] = hook.received;
    expect(JSON.parse(request!.body)).toEqual(expect.objectContaining({ id: "alr_1", kind: "revoked_connect", environmentId: 7, edgeId: "edge-7", detail: { serial: "0a" } }));
    expect(request!.headers["content-type"]).toBe("application/json");
    expect(request!.headers["x-pier-signature"]).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifySignature(secret, request!.body, request!.headers["x-pier-signature"] as string)).toBe(true);
    // Precondition of the check above: another secret, or another body, does not verify.
    expect(verifySignature(`${secret}x`, request!.body, request!.headers["x-pier-signature"] as string)).toBe(false);
    expect(verifySignature(secret, `${request!.body} `, request!.headers["x-pier-signature"] as string)).toBe(false);
    expect(request!.headers["x-pier-delivery"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(logs).toEqual([]);
    await webhook.stop();
  });

  it("retries a failing receiver with growing waits, the same delivery id each time, until it answers 2xx; the log names the host, never the path or the secret", async () => {
    await using hook = await receiver((index, _, res) => res.writeHead(index < 3 ? 503 : 200).end());
    const logs: string[] = [];
    const webhook = new WebhookDelivery({ target: () => Promise.resolve({ url: hook.url, secret }), ca: ca.pem, baseDelayMs: 100, factor: 3, log: (_, m) => logs.push(m) });
    webhook.enqueue(payload("alr_retry"));
    await until(() => webhook.stats.delivered === 1);
    expect(hook.received).toHaveLength(4);
    expect(new Set(hook.received.map((r) => r.headers["x-pier-delivery"])).size).toBe(1);
    const gaps = hook.received.slice(1).map((r, i) => r.at - hook.received[i]!.at);
    // Nominal 100, 300, 900 ms, each ±20 %.
    expect(gaps[0]).toBeGreaterThanOrEqual(75);
    expect(gaps[1]).toBeGreaterThanOrEqual(235);
    expect(gaps[2]).toBeGreaterThanOrEqual(715);
    expect(gaps[2]!).toBeGreaterThan(gaps[0]! * 2);
    expect(logs).toHaveLength(3);
    expect(logs[0]).toMatch(/^webhook: delivering alert alr_retry to 127\.0\.0\.1:\d+ failed \(attempt 1 of 8\): the receiver answered 503; retrying in 0\.\d s$/);
    expect(logs.join("\n")).not.toMatch(/do-not-log|hooks\/pier|s3cret/);
    await webhook.stop();
  });

  it("gives up after the last attempt with an error line, and treats no answer within the timeout as a failure", async () => {
    await using silent = await receiver(() => undefined);
    const logs: { level: string; message: string }[] = [];
    const webhook = new WebhookDelivery({ target: () => Promise.resolve({ url: silent.url, secret }), ca: ca.pem, timeoutMs: 200, maxAttempts: 2, baseDelayMs: 50, log: (level, message) => logs.push({ level, message }) });
    webhook.enqueue(payload("alr_silent"));
    await until(() => webhook.stats.gaveUp === 1);
    expect(silent.received).toHaveLength(2);
    expect(logs[0]?.message).toMatch(/failed \(attempt 1 of 2\): no answer within 0\.2 s/);
    expect(logs[1]).toMatchObject({ level: "error", message: expect.stringMatching(/^webhook: gave up delivering alert alr_silent to 127\.0\.0\.1:\d+ after 2 attempts/) as unknown });
    expect(webhook.pending).toBe(0);
    await webhook.stop();
  });

  it("refuses a receiver whose certificate it does not trust (no ca option) and retries", async () => {
    await using hook = await receiver((_, __, res) => res.writeHead(200).end());
    const logs: string[] = [];
    const webhook = new WebhookDelivery({ target: () => Promise.resolve({ url: hook.url, secret }), maxAttempts: 1, log: (_, m) => logs.push(m) });
    webhook.enqueue(payload("alr_untrusted"));
    await until(() => webhook.stats.gaveUp === 1);
    expect(hook.received).toHaveLength(0);
    expect(logs[0]).toMatch(/certificate/i);
    await webhook.stop();
  });

  it("keeps at most `capacity` alerts waiting and drops the oldest with a log line", async () => {
    const logs: string[] = [];
    // A target that never resolves holds the first two in flight; the rest wait.
    const webhook = new WebhookDelivery({ target: () => new Promise(() => undefined), capacity: 4, concurrency: 2, log: (_, m) => logs.push(m) });
    for (let i = 0; i < 6; i++) webhook.enqueue(payload(`alr_${i}`));
    expect(webhook.pending).toBe(4);
    expect(webhook.stats.dropped).toBe(2);
    expect(logs).toEqual([expect.stringMatching(/^webhook: 4 alerts are waiting for delivery; dropped the oldest \(alert alr_2, delivery /), expect.stringMatching(/dropped the oldest \(alert alr_3,/)]);
    await webhook.stop();
  });
});
