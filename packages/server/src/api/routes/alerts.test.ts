import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../server.ts";
import { type TempDir, tempDir } from "../../store/temp-dir.testkit.ts";
import { startAdminServer } from "../admin-server.testkit.ts";
import type { ApiClient } from "../api-client.testkit.ts";

const password = "correct horse battery staple";

/** Alerts and the webhook settings through the API of a real server on loopback. */
describe("alerts API and webhook settings", () => {
  let dir: TempDir;
  let server: RunningServer;
  let api: ApiClient;
  const logs: string[] = [];

  beforeAll(async () => {
    dir = tempDir("alerts-api");
    ({ server, api } = await startAdminServer(dir, password, (_, m) => logs.push(m)));
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await dir?.[Symbol.asyncDispose]();
  });

  it("refuses the webhook URL before a secret exists, then shows a generated secret once and never again", async () => {
    const early = await api.call("PUT", "/api/settings", { body: { WebhookURL: "https://hooks.example.com/pier" } });
    expect(early.status).toBe(400);
    expect(early.json).toMatchObject({ field: "WebhookURL", message: "Set the webhook secret before the webhook URL: alerts are always signed.", fix: expect.stringContaining("POST /api/settings/webhook/secret") as unknown });
    const generated = await api.call("POST", "/api/settings/webhook/secret");
    expect(generated.status, generated.text).toBe(200);
    const secret = generated.json["Secret"] as string;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const set = await api.call("PUT", "/api/settings", { body: { WebhookURL: "https://hooks.example.com/pier", AlertExpiryDays: 14 } });
    expect(set.status, set.text).toBe(200);
    expect(set.json).toMatchObject({ WebhookURL: "https://hooks.example.com/pier", WebhookSecretSet: true, AlertExpiryDays: 14 });
    const settings = await api.call("GET", "/api/settings");
    expect(settings.json["WebhookSecretSet"]).toBe(true);
    expect(settings.text).not.toContain(secret);
    expect(logs.join("\n")).not.toContain(secret);
    // An administrator may set their own secret, within bounds.
    expect((await api.call("POST", "/api/settings/webhook/secret", { body: { Secret: "x".repeat(16) } })).json).toEqual({ Secret: "x".repeat(16) });
    const short = await api.call("POST", "/api/settings/webhook/secret", { body: { Secret: "x".repeat(15) } });
    expect(short.status).toBe(400);
    expect(short.json["field"]).toBe("Secret");
    expect((await api.call("POST", "/api/settings/webhook/secret", { body: { Secret: "x".repeat(257) } })).status).toBe(400);
    // The change of secret is audited, without the secret.
    const audit = await server.store.audit.list({ limit: 5 });
    expect(audit.filter((e) => e.kind === "webhook_secret_changed")).toHaveLength(2);
    expect(JSON.stringify(audit)).not.toContain(secret);
  });

  it("refuses a webhook URL that is not https, or longer than 2048 characters, and an AlertExpiryDays out of range, with 400", async () => {
    const plain = await api.call("PUT", "/api/settings", { body: { WebhookURL: "http://hooks.example.com/pier" } });
    expect(plain.status).toBe(400);
    expect(plain.json).toMatchObject({ field: "WebhookURL", message: expect.stringContaining("must be an https:// URL") as unknown });
    const long = `https://hooks.example.com/${"a".repeat(2049 - "https://hooks.example.com/".length)}`;
    expect(long).toHaveLength(2049);
    const tooLong = await api.call("PUT", "/api/settings", { body: { WebhookURL: long } });
    expect(tooLong.status).toBe(400);
    expect(tooLong.json).toMatchObject({ field: "WebhookURL", message: expect.stringContaining("at most 2048 characters") as unknown });
    // Precondition: 2048 characters is accepted.
    expect((await api.call("PUT", "/api/settings", { body: { WebhookURL: long.slice(0, 2048) } })).status).toBe(200);
    expect((await api.call("PUT", "/api/settings", { body: { AlertExpiryDays: 0 } })).status).toBe(400);
    expect((await api.call("PUT", "/api/settings", { body: { AlertExpiryDays: 398 } })).status).toBe(400);
    // Empty removes the webhook.
    expect((await api.call("PUT", "/api/settings", { body: { WebhookURL: "" } })).json["WebhookURL"]).toBe("");
  });

  it("lists alerts raised from the server's own audit trail, to signed-in users only", async () => {
    expect((await api.call("GET", "/api/pier/alerts", { token: null })).status).toBe(401);
    const before = await api.call("GET", "/api/pier/alerts");
    expect(before.status).toBe(200);
    expect(before.json).toEqual([]);
    await server.store.audit.append({ kind: "refused_tls", sourceAddress: "192.0.2.7", detail: { listener: "edge", code: "client_certificate_revoked", cause: "the client certificate (serial 1f) is revoked", serial: "1f", certificate: "CN=edge-77" } });
    const after = await api.call("GET", "/api/pier/alerts?active=true&limit=10");
    expect(after.json).toEqual([
      expect.objectContaining({ Kind: "revoked_connect", Count: 1, Active: true, EnvironmentId: null, Message: "A revoked certificate (serial 1f, CN=edge-77) tried to connect from 192.0.2.7; the handshake was refused.", Detail: expect.objectContaining({ serial: "1f" }) as unknown }),
    ]);
    expect(logs).toContain("alert revoked_connect: A revoked certificate (serial 1f, CN=edge-77) tried to connect from 192.0.2.7; the handshake was refused.");
    expect((await api.call("GET", "/api/pier/alerts?limit=5000")).status).toBe(400);
  });
});
