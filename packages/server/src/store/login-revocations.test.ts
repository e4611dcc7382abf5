import { expect, it, onTestFinished } from "vitest";
import type { StoreTarget } from "./database.ts";
import { type StoreEngine, describeOnEngines } from "./store-engines.testkit.ts";
import type { Store } from "./store.ts";

async function opened(engine: StoreEngine, target?: StoreTarget): Promise<Store> {
  const store = await engine.open(target);
  onTestFinished(() => store.close());
  return store;
}

const at = (seconds: number) => new Date(Date.UTC(2026, 11, 6) + seconds * 1000);

describeOnEngines("revoked logins", (engine) => {
  it("lists a logged-out token until it expires, once however often it is revoked, also after the store is reopened", async () => {
    const target = await engine.target();
    const first = await opened(engine, target);
    expect(await first.logins.list(at(0))).toEqual([]);
    await first.logins.revoke("jti-late", at(600));
    await first.logins.revoke("jti-soon", at(60));
    await first.logins.revoke("jti-soon", at(60));
    await first.close();

    const reopened = await opened(engine, target);
    expect(await reopened.logins.list(at(0))).toEqual([
      { jti: "jti-soon", expiresAt: at(60) },
      { jti: "jti-late", expiresAt: at(600) },
    ]);
    expect(await reopened.logins.list(at(60))).toEqual([{ jti: "jti-late", expiresAt: at(600) }]);
  });

  it("prunes the entries whose token expired, and only those", async () => {
    const store = await opened(engine);
    await store.logins.revoke("a", at(10));
    await store.logins.revoke("b", at(20));
    await store.logins.revoke("c", at(30));
    expect(await store.logins.prune(at(5))).toBe(0);
    expect(await store.logins.prune(at(20))).toBe(2);
    expect(await store.logins.list(at(0))).toEqual([{ jti: "c", expiresAt: at(30) }]);
  });

  it("refuses a jti longer than 200 characters or empty", async () => {
    const store = await opened(engine);
    await store.logins.revoke("j".repeat(200), at(10));
    expect(await store.logins.list(at(0))).toHaveLength(1);
    await expect(store.logins.revoke("j".repeat(201), at(10))).rejects.toMatchObject({ code: "bad_request", field: "jti" });
    await expect(store.logins.revoke("", at(10))).rejects.toMatchObject({ code: "bad_request", field: "jti" });
    expect(await store.logins.list(at(0))).toHaveLength(1);
  });
});
