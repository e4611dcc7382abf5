import { describe, expect, it } from "vitest";
import { FirstAdminGate } from "../bootstrap/first-admin.ts";
import type { Store } from "../store/index.ts";
import { databaseUnreachable } from "../store/store-errors.ts";
import { createApiApp } from "./app.ts";
import type { ApiDependencies } from "./context.ts";

/**
 * The API while the database cannot be reached (chaos suite, database-outage): what needs it is
 * refused 503 with `Retry-After`, in the one error shape; what memory can answer is answered.
 */
function appWith(count: () => Promise<number>, logs: string[] = [], token?: string) {
  const store = { users: { count } };
  const deps: Record<string, unknown> = {
    store,
    // The real gate, as prepareFirstAdmin makes it: with a setup token while no administrator existed at start.
    firstAdmin: new FirstAdminGate(store as unknown as Store, "/nonexistent/admin-setup-token", token),
    log: (level: string, message: string) => logs.push(`${level} ${message}`),
    fleet: new Proxy({}, { get: () => ({}) }),
  };
  return createApiApp(new Proxy(deps, { get: (target, key) => target[key as string] }) as unknown as ApiDependencies);
}

const lost = () => Promise.reject(databaseUnreachable(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" })));

describe("the API with the database unreachable", () => {
  it("answers 503 unavailable with Retry-After and what to do, without the driver's text, and logs nothing per request", async () => {
    const logs: string[] = [];
    // A replica started before any administrator existed, and has not seen one since.
    const res = await appWith(lost, logs, "setup-token").request("/api/system/status");
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
    const body = (await res.json()) as { code: string; message: string; fix: string; details: unknown };
    expect(body).toMatchObject({ code: "unavailable", message: "Pier's database cannot be reached right now, so this request could not be carried out.", details: { retryAfterSeconds: 5 } });
    expect(body.fix).toMatch(/Pier reconnects by itself/);
    expect(JSON.stringify(body)).not.toMatch(/ECONNREFUSED|5432/);
    expect(logs.filter((line) => line.startsWith("error"))).toEqual([]);
  });

  it("answers /api/system/status from memory once an administrator is known to exist", async () => {
    let reachable = true;
    const app = appWith(() => (reachable ? Promise.resolve(1) : lost()), [], "setup-token");
    expect(await (await app.request("/api/system/status")).json()).toMatchObject({ AdminExists: true });
    reachable = false;
    const res = await app.request("/api/system/status");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ Version: "0.1.0", AdminExists: true, SetupTokenRequired: false });
  });

  it("answers from memory at once on a server that started with an administrator", async () => {
    const res = await appWith(lost).request("/api/system/status");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ Version: "0.1.0", AdminExists: true, SetupTokenRequired: false });
  });

  it("asks the database again while no administrator exists (the first-run screen must see the one created)", async () => {
    let users = 0;
    const app = appWith(() => Promise.resolve(users), [], "setup-token");
    expect(await (await app.request("/api/system/status")).json()).toMatchObject({ AdminExists: false });
    users = 1;
    expect(await (await app.request("/api/system/status")).json()).toMatchObject({ AdminExists: true });
  });
});
