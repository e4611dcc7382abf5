import { existsSync, readFileSync, statSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { PierApi, readSetupToken, startPierServer, tempDir } from "../src/index.ts";

const password = "correct horse battery staple";

/**
 * `pier server` without --admin-password-file, as the README's first step runs it: the one-time
 * setup token is in DATA/admin-setup-token (0600), the log says where and never what, and the
 * README's curl (the token in X-Pier-Setup-Token) creates the admin; nothing else does.
 */
describe("pier server: the first administrator", () => {
  it("needs the setup token the server wrote to its data directory and logged the path of", async () => {
    await using dir = tempDir("first-admin");
    await using server = await startPierServer({ dataDir: dir.file("data") });
    const tokenFile = dir.file("data/admin-setup-token");
    await server.waitFor(/no administrator yet/);
    const token = readSetupToken(dir.file("data"));
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    expect(server.output()).toContain(`one-time setup token in ${tokenFile} (mode 0600; the token itself is never logged)`);
    expect(server.output()).not.toContain(token);

    const api = new PierApi(`https://127.0.0.1:${server.httpsPort}`, { ca: readFileSync(dir.file("data/ca/ca.crt")) });
    const refused = await api.call<{ code: string; message: string; field: string; fix: string }>("POST", "/api/users/admin/init", { Username: "admin", Password: password });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: "forbidden", field: "SetupToken", message: expect.stringMatching(/admin-setup-token/) as unknown, fix: expect.stringMatching(/cat DATA\/admin-setup-token/) as unknown });
    expect((await api.call<{ AdminExists: boolean }>("GET", "/api/system/status")).body.AdminExists).toBe(false);

    expect((await api.initAdmin("admin", password, token)).status).toBe(200);
    expect(existsSync(tokenFile)).toBe(false);
    await api.login("admin", password);
    expect(server.output()).not.toContain(token);
  });
});
