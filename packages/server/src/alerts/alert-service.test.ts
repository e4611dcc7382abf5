import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:https";
import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { SqliteStore } from "../store/index.ts";
import { deviceCertificateRows } from "../store/device-certificate-row.testkit.ts";
import { type TempDir, tempDir } from "../store/temp-dir.testkit.ts";
import { type TestCa, type TestPki, createTestPki } from "../tls/tls-fixtures.testkit.ts";
import { AlertService } from "./alert-service.ts";
import { verifySignature } from "./webhook-signature.ts";

const second = 1000;
const day = 86_400 * second;
const secret = "alert-service-test-secret-0123456789";

let dir: TempDir;
let pki: TestPki;
let ca: TestCa;
let store: SqliteStore;
let receiver: Server;
const received: { body: string; headers: IncomingMessage["headers"] }[] = [];

beforeAll(async () => {
  dir = tempDir("alerts");
  pki = createTestPki();
  ca = await pki.createCa("Receiver CA");
  const credential = await pki.issue(ca, "receiver", { profile: "server", subjectAltNames: [{ type: "ip", value: "127.0.0.1" }] });
  receiver = createServer({ cert: credential.certPem, key: credential.keyPem }, (req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", () => {
      received.push({ body, headers: req.headers });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  store = await SqliteStore.open(dir.file("pier.db"));
  await store.settings.update({ webhookSecret: secret });
  await store.settings.update({ webhookUrl: `https://127.0.0.1:${(receiver.address() as AddressInfo).port}/alerts` });
}, 60_000);
afterAll(async () => {
  receiver.closeAllConnections();
  await new Promise((resolve) => receiver.close(resolve));
  await store.close();
  await pki[Symbol.asyncDispose]();
  await dir[Symbol.asyncDispose]();
});

const until = async (check: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};
const bodies = () => received.map((r) => JSON.parse(r.body) as { kind: string; edgeId: string | null; detail: Record<string, unknown> });

describe("AlertService", () => {
  it("raises alerts from audit events (renewal failed, revoked certificate connecting, clone), de-duplicates repeats, and sends each once, signed", async () => {
    const logs: string[] = [];
    const alerts = new AlertService({ store, log: (_, m) => logs.push(m), webhook: { ca: ca.pem } });
    alerts.start();
    try {
      await store.audit.append({ kind: "certificate_renewal_failed", edgeId: "edge-1", environmentId: null, sourceAddress: "10.0.0.1", detail: { reason: "not_yet_due", message: "too early" } });
      // Not an alert: a TLS refusal for another reason (precondition for the next one).
      await store.audit.append({ kind: "refused_tls", sourceAddress: "10.0.0.2", detail: { code: "client_certificate_unknown_ca", cause: "unknown CA", serial: "0b" } });
      // The revoked certificate is one the server issued to edge-3: the alert names the device.
      const edge3 = await store.environments.create({ name: "edge-3", type: "edge-agent", edgeId: "edge-3", userTrusted: true });
      const issued = new Date();
      await store.certificates.insert(deviceCertificateRows(issued.getTime())("0c", edge3.id, "edge-3", 30 * day, 30 * day, { revokedAt: issued, revocationReason: "keyCompromise" }));
      for (let i = 0; i < 3; i++) await store.audit.append({ kind: "refused_tls", sourceAddress: "10.0.0.3", detail: { code: "client_certificate_revoked", cause: "the client certificate (serial 0c) is revoked", serial: "0c", certificate: "CN=edge-3" } });
      await store.audit.append({ kind: "identity_clone", environmentId: 4, edgeId: "edge-4", sourceAddress: "10.0.0.4", detail: { addresses: ["10.0.0.4", "10.0.0.5"] } });
      await until(() => received.length >= 3);
      await new Promise((resolve) => setTimeout(resolve, 200));
      // Two requests are in flight at once, so the receiver may see them in either order.
      expect(bodies().map((b) => b.kind).sort()).toEqual(["clone", "renewal_failed", "revoked_connect"]);
      for (const request of received) expect(verifySignature(secret, request.body, request.headers["x-pier-signature"] as string)).toBe(true);
      // The revoked certificate's alert waits for a store lookup, so the order of the list may vary.
      const listed = alerts.list.list().sort((a, b) => a.kind.localeCompare(b.kind));
      expect(listed.map((a) => [a.kind, a.count])).toEqual([
        ["clone", 1],
        ["renewal_failed", 1],
        ["revoked_connect", 3],
      ]);
      expect(listed[2]).toMatchObject({ environmentId: edge3.id, edgeId: "edge-3", message: "A revoked certificate of edge-3 (serial 0c, CN=edge-3) tried to connect from 10.0.0.3; the handshake was refused." });
      expect(logs.filter((l) => l.startsWith("alert "))).toHaveLength(3);
    } finally {
      await alerts.stop();
    }
    // Stopped: the audit trail is no longer observed.
    await store.audit.append({ kind: "identity_clone", environmentId: 9, edgeId: "edge-9", detail: {} });
    expect(received).toHaveLength(3);
  });

  it("alerts on a certificate expiring within alertExpiryDays only when no renewal is in sight, and settles once it is renewed", async () => {
    received.length = 0;
    const now = Date.now();
    const row = deviceCertificateRows(now);
    const env = (edgeId: string) => store.environments.create({ name: edgeId, type: "edge-agent", edgeId, userTrusted: true });
    const stuck = await env("edge-stuck");
    const renewed = await env("edge-renewed");
    const young = await env("edge-young");
    const shortLived = await env("edge-short");
    const far = await env("edge-far");
    // 30-day certificate, 2 days left, nothing newer: the renewal is overdue.
    await store.certificates.insert(row("a1", stuck.id, "edge-stuck", 30 * day, 2 * day));
    // The same, but a renewal (29 days left) exists: in sight.
    await store.certificates.insert(row("b1", renewed.id, "edge-renewed", 30 * day, 2 * day));
    await store.certificates.insert(row("b2", renewed.id, "edge-renewed", 30 * day, 29 * day));
    // A one-hour certificate with 50 minutes left: within 7 days, but not yet due for renewal.
    await store.certificates.insert(row("c1", young.id, "edge-young", 3_600 * second, 50 * 60 * second));
    // A one-hour certificate with 5 minutes left: overdue.
    await store.certificates.insert(row("d1", shortLived.id, "edge-short", 3_600 * second, 5 * 60 * second));
    // A 397-day certificate with 20 days left: overdue by its lifetime but outside the 7 days.
    await store.certificates.insert(row("e1", far.id, "edge-far", 397 * day, 20 * day));

    // Expired 40 days ago: a device long gone, not news.
    const gone = await env("edge-gone");
    await store.certificates.insert(row("f1", gone.id, "edge-gone", 30 * day, -40 * day));
    // Expired yesterday: still worth an alert (expired: true).
    const lapsed = await env("edge-lapsed");
    await store.certificates.insert(row("g1", lapsed.id, "edge-lapsed", 30 * day, -day));
    // An environment removed while its certificate stays recorded.
    const removed = await env("edge-removed");
    await store.certificates.insert(row("h1", removed.id, "edge-removed", 30 * day, day));
    await store.environments.delete(removed.id);

    const alerts = new AlertService({ store, log: () => undefined, webhook: { ca: ca.pem } });
    await alerts.scan();
    expect(alerts.list.list().map((a) => a.edgeId).sort()).toEqual(["edge-lapsed", "edge-short", "edge-stuck"]);
    expect(alerts.list.list().find((a) => a.edgeId === "edge-lapsed")?.detail).toMatchObject({ serial: "g1", expired: true });
    expect(alerts.list.list().find((a) => a.edgeId === "edge-stuck")?.message).toMatch(/^The certificate of edge-stuck \(serial a1\) expires .* \(in 2 d\) and the device has not renewed it/);
    await until(() => received.length === 3);

    // With AlertExpiryDays 30 the 397-day certificate is in the window too.
    await store.settings.update({ alertExpiryDays: 30 });
    await alerts.scan();
    expect(alerts.list.list({ activeOnly: true }).map((a) => a.edgeId).sort()).toEqual(["edge-far", "edge-lapsed", "edge-short", "edge-stuck"]);
    await store.settings.update({ alertExpiryDays: null });

    // edge-stuck renews: its alert is no longer active; the others stay, counted, not re-sent.
    await store.certificates.insert({ ...row("a2", stuck.id, "edge-stuck", 30 * day, 30 * day), reason: "renewal" });
    await alerts.scan();
    expect(alerts.list.list({ activeOnly: true }).map((a) => a.edgeId).sort()).toEqual(["edge-lapsed", "edge-short"]);
    expect(alerts.list.list().find((a) => a.edgeId === "edge-short")?.count).toBe(3);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(bodies().map((b) => b.edgeId).sort()).toEqual(["edge-far", "edge-lapsed", "edge-short", "edge-stuck"]);
    await alerts.stop();
  });
});
