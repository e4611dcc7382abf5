import { afterEach, describe, expect, it } from "vitest";
import { startAdminServer } from "../api/admin-server.testkit.ts";
import type { RunningServer } from "../server.ts";
import { type TempDir, tempDir } from "../store/temp-dir.testkit.ts";

const password = "correct horse battery staple";
let dir: TempDir | undefined;
let server: RunningServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
  await dir?.[Symbol.asyncDispose]();
  dir = undefined;
});

describe("logout on a single server (SQLite)", () => {
  it("a logged-out session token stays refused after a restart; another token of the same secret still works", async () => {
    dir = tempDir("logouts");
    let started = await startAdminServer(dir, password);
    server = started.server;
    const loggedOut = await started.api.login("admin", password);
    const kept = await started.api.login("admin", password);
    expect((await started.api.call("POST", "/api/auth/logout", { token: loggedOut })).status).toBe(204);
    expect((await started.api.call("GET", "/api/settings", { token: loggedOut })).status).toBe(401);
    await server.close();

    started = await startAdminServer(dir, password);
    server = started.server;
    // Precondition: the restarted server accepts tokens signed before the restart.
    expect((await started.api.call("GET", "/api/settings", { token: kept })).status).toBe(200);
    const refused = await started.api.call("GET", "/api/settings", { token: loggedOut });
    expect(refused.status).toBe(401);
    expect(refused.json["message"]).toBe("This session was logged out. Log in again.");
  });
});
