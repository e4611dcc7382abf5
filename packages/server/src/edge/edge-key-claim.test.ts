import { createHash } from "node:crypto";
import type { Hello } from "@pier/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ServerError } from "../errors.ts";
import { SqliteStore } from "../store/sqlite-store.ts";
import { type TempDir, tempDir } from "../store/temp-dir.testkit.ts";
import { EdgeService } from "./edge-service.ts";

const secret = "Xq3v9TzL0pR7mK2wB8nY5cJ4hF6dA1sE0gU3iO9tW2k";
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

function hello(edgeId: string, environmentId: number, extra: Partial<Hello> = {}): Hello {
  return { type: "hello", protocol: 1, environmentId, agent: { edgeId, agentVersion: "0.1.0", platform: "docker", hostname: edgeId, os: "linux", arch: "x64" }, ...extra };
}

async function refusal(promise: Promise<unknown>): Promise<ServerError> {
  const error = await promise.then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(ServerError);
  return error as ServerError;
}

describe("EdgeService: a hello claims environment N ≠ 0 only with the secret of N's key", () => {
  let dir: TempDir;
  let store: SqliteStore;
  let edge: EdgeService;
  let reservedId: number;

  beforeEach(async () => {
    dir = tempDir("edge-key-claim");
    store = await SqliteStore.open(dir.file("pier.db"));
    edge = new EdgeService(store, { record: () => undefined });
    reservedId = (await store.environments.create({ name: "shop-7", type: "edge-agent", edgeKeyEnvironment: true, userTrusted: true, edgeKeySecretHash: sha256(secret) })).id;
  });
  afterEach(async () => {
    await store.close();
    await dir[Symbol.asyncDispose]();
  });

  async function expectUnclaimed(): Promise<void> {
    expect(await store.environments.get(reservedId)).toMatchObject({ edgeId: null, identity: null, edgeKeySecretHash: sha256(secret) });
    expect(await store.environments.list()).toHaveLength(1); // nothing created either
  }

  it("refuses a hello without the secret (a 4-field key naming the id), binds nothing and audits it", async () => {
    const error = await refusal(edge.hello(hello("guesser-1", reservedId), { sourceAddress: "203.0.113.5" }));
    expect(error.code).toBe("forbidden");
    expect(error.message).toMatch(new RegExp(`names environment ${reservedId} but carries no secret`));
    expect(error.fix).toMatch(/POST \/api\/endpoints\/\d+\/edge\/key/);
    await expectUnclaimed();
    const [event] = await store.audit.list({ environmentId: reservedId });
    expect(event).toMatchObject({ kind: "refused_edge_key", environmentId: reservedId, edgeId: "guesser-1", sourceAddress: "203.0.113.5", detail: { reason: "missing" } });
  });

  it("refuses a wrong secret the same way, without writing the secret anywhere", async () => {
    const wrong = `${secret.slice(0, -1)}x`;
    const error = await refusal(edge.hello(hello("guesser-2", reservedId, { edgeKeySecret: wrong }), { sourceAddress: "203.0.113.6" }));
    expect(error.message).toMatch(/is not the one of environment/);
    await expectUnclaimed();
    const events = await store.audit.list({ environmentId: reservedId });
    expect(events.map((e) => [e.kind, e.detail["reason"]])).toEqual([["refused_edge_key", "wrong"]]);
    expect(JSON.stringify(events)).not.toContain(wrong);
  });

  it("lets exactly one of two devices presenting the same key at the same moment claim the environment", async () => {
    const attempts = await Promise.allSettled([
      edge.hello(hello("twin-a", reservedId, { edgeKeySecret: secret }), { sourceAddress: "198.51.100.10" }),
      edge.hello(hello("twin-b", reservedId, { edgeKeySecret: secret }), { sourceAddress: "198.51.100.11" }),
    ]);
    const won = attempts.filter((attempt) => attempt.status === "fulfilled");
    const lost = attempts.flatMap((attempt) => (attempt.status === "rejected" ? [attempt.reason as ServerError] : []));
    expect(won).toHaveLength(1);
    expect(lost.map((error) => error.code)).toEqual(["conflict"]);
    const winner = won[0]?.value.welcome.environmentId;
    expect(winner).toBe(reservedId);
    const stored = await store.environments.get(reservedId);
    expect(["twin-a", "twin-b"]).toContain(stored?.edgeId);
    expect((await store.audit.list({ environmentId: reservedId })).filter((e) => e.kind === "enrolled")).toHaveLength(1);
  });

  it("with the secret, binds the device and forgets the secret's hash; the bound identity speaks for it afterwards", async () => {
    const first = await edge.hello(hello("device-7", reservedId, { edgeKeySecret: secret }), { sourceAddress: "198.51.100.7" });
    expect(first.welcome).toMatchObject({ environmentId: reservedId, status: "associated" });
    const token = first.welcome.deviceToken;
    expect(token).toBeDefined();
    expect(await store.environments.get(reservedId)).toMatchObject({ edgeId: "device-7", edgeKeySecretHash: null, identity: { kind: "token" } });

    // Later hellos are the device's (its token), with or without the key's secret.
    expect((await edge.hello(hello("device-7", reservedId, { deviceToken: token ?? "", edgeKeySecret: secret }), { sourceAddress: "198.51.100.7" })).welcome.environmentId).toBe(reservedId);
    expect((await edge.hello(hello("device-7", reservedId, { deviceToken: token ?? "" }), { sourceAddress: "198.51.100.7" })).welcome.environmentId).toBe(reservedId);
    // Another device with the same key gets nothing: the key served its one device.
    expect((await refusal(edge.hello(hello("device-8", reservedId, { edgeKeySecret: secret }), { sourceAddress: "198.51.100.8" }))).code).toBe("conflict");
    expect((await store.audit.list({ environmentId: reservedId })).map((e) => e.kind)).toEqual(["enrolled"]);
  });

  it("refuses every claim of an environment whose key was made before keys had a secret", async () => {
    const legacy = await store.environments.create({ name: "old", type: "edge-agent", edgeKeyEnvironment: true, userTrusted: true });
    const error = await refusal(edge.hello(hello("device-9", legacy.id, { edgeKeySecret: secret }), { sourceAddress: "198.51.100.9" }));
    expect(error.message).toMatch(/made before keys carried a secret/);
    expect(await store.environments.get(legacy.id)).toMatchObject({ edgeId: null, identity: null });
    expect((await store.audit.list({ environmentId: legacy.id }))[0]?.detail).toEqual({ reason: "no_secret_on_record" });
  });
});
