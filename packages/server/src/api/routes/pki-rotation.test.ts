import { existsSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../server.ts";
import { type TempDir, tempDir } from "../../store/temp-dir.testkit.ts";
import { startAdminServer } from "../admin-server.testkit.ts";
import type { ApiClient } from "../api-client.testkit.ts";

const password = "correct horse battery staple";

describe("/api/pki/rotation on a server with the built-in CA (no devices)", () => {
  let dir: TempDir;
  let server: RunningServer;
  let api: ApiClient;
  let caPem: string;

  beforeAll(async () => {
    dir = tempDir("pki-rotation-routes");
    ({ server, api } = await startAdminServer(dir, password));
    caPem = readFileSync(dir.file("data/ca/ca.crt"), "utf8");
  });
  afterAll(async () => {
    await server.close();
    await dir[Symbol.asyncDispose]();
  });

  it("answers 401 without credentials, for reading and for every step", async () => {
    for (const [method, path] of [
      ["GET", "/api/pki/rotation"],
      ["POST", "/api/pki/rotation"],
      ["POST", "/api/pki/rotation/finish"],
      ["POST", "/api/pki/rotation/rollback"],
    ] as const) {
      expect((await api.call(method, path, { token: null, ...(method === "POST" ? { body: {} } : {}) })).status).toBe(401);
    }
    expect(existsSync(dir.file("data/ca-next"))).toBe(false);
  });

  it("reports standby with the CA in force, refuses a bad window (400) and steps outside a rotation (409)", async () => {
    const standby = await api.call("GET", "/api/pki/rotation");
    expect(standby.status).toBe(200);
    expect(standby.json).toMatchObject({ Phase: "standby", StartedAt: null, ToCa: null, DevicesTotal: 0, DevicesMoved: 0, Stragglers: [] });
    expect((standby.json["FromCa"] as { Subject: string }).Subject).toMatch(/^CN=Pier built-in CA/);

    for (const body of [{ WindowSeconds: 86_401 }, { WindowSeconds: -1 }, { WindowSeconds: 1.5 }, { WindowSeconds: "600" }]) {
      const refused = await api.call("POST", "/api/pki/rotation", { body });
      expect(refused.status).toBe(400);
      expect(refused.json["field"]).toBe("WindowSeconds");
    }
    expect((await api.call("POST", "/api/pki/rotation/finish", { body: { Force: "yes" } })).status).toBe(400);
    const finish = await api.call("POST", "/api/pki/rotation/finish");
    expect(finish.status).toBe(409);
    expect(finish.json["message"]).toContain("no CA rotation to finish");
    expect((await api.call("POST", "/api/pki/rotation/rollback")).status).toBe(409);
    expect(existsSync(dir.file("data/ca-next"))).toBe(false);
  });

  it("starts without a body (default window), refuses a second start, and finishes with no devices", async () => {
    const started = await api.call("POST", "/api/pki/rotation");
    expect(started.status).toBe(200);
    expect(started.json).toMatchObject({ Phase: "rotating", WindowSeconds: 600, DevicesTotal: 0 });
    expect(existsSync(dir.file("data/ca-next/ca.crt"))).toBe(true);
    expect((await api.call("POST", "/api/pki/rotation", { body: {} })).status).toBe(409);

    const finished = await api.call("POST", "/api/pki/rotation/finish");
    expect(finished.status).toBe(200);
    expect(finished.json).toMatchObject({ Phase: "standby", Stragglers: [] });
    expect(finished.json["RetiredDirectory"]).toMatch(/ca-retired-/);
    expect(readFileSync(dir.file("data/ca/ca.crt"), "utf8")).not.toBe(caPem);
  });
});
