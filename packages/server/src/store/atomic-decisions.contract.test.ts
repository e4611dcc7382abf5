import { expect, it } from "vitest";
import type { StoreTarget } from "./database.ts";
import { describeOnEngines, type StoreEngine } from "./store-engines.testkit.ts";
import type { Store } from "./store.ts";

/**
 * The decisions that read then write (docs/architecture.md "Scale-out", Store), raced the way
 * replicas race them: two stores on one database (two pools on PostgreSQL, two connections on
 * one SQLite file), eight calls at once. PostgreSQL runs READ COMMITTED, so a read-then-insert
 * without a lock lets several through; each test asserts exactly one winner.
 */
const racers = 8;
const rounds = 3;

/** Two stores on a fresh database, as two replicas hold them; closed with the returned disposer. */
async function twoStores(engine: StoreEngine): Promise<{ a: Store; b: Store; target: StoreTarget } & AsyncDisposable> {
  const target = await engine.target();
  const a = await engine.open(target);
  const b = await engine.open(target);
  return {
    a,
    b,
    target,
    [Symbol.asyncDispose]: async () => {
      await a.close();
      await b.close();
    },
  };
}

/** Calls `call` `racers` times at once, alternating between the two stores. */
function race<T>(stores: { a: Store; b: Store }, call: (store: Store, index: number) => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: racers }, (_, index) => call(index % 2 === 0 ? stores.a : stores.b, index)));
}

describeOnEngines("atomic decisions under concurrency", (engine) => {
  it("createFirst: of eight first administrators created at once from two stores, exactly one exists", async () => {
    for (let round = 0; round < rounds; round++) {
      await using stores = await twoStores(engine);
      expect(await stores.a.users.count()).toBe(0);
      const results = await race(stores, (store, index) => store.users.createFirst({ username: `admin-${index}`, passwordHash: "scrypt$x" }));
      const created = results.filter((user) => user !== null);
      expect(created).toHaveLength(1);
      expect(await stores.b.users.count()).toBe(1);
      expect(await stores.b.users.getByUsername(created[0]?.username ?? "")).toEqual(created[0]);
      // Once there is one, a later call creates nothing either.
      expect(await stores.b.users.createFirst({ username: "late", passwordHash: "scrypt$x" })).toBeNull();
    }
  });

  it("claim: of eight devices claiming one key's environment at once, exactly one wins and the row is the winner's", async () => {
    const secretHash = "5e".repeat(32);
    for (let round = 0; round < rounds; round++) {
      await using stores = await twoStores(engine);
      const environment = await stores.a.environments.create({ name: "from-edge-key", type: "edge-agent", edgeKeySecretHash: secretHash });
      expect(environment.edgeKeySecretHash).toBe(secretHash);
      const results = await race(stores, (store, index) => store.environments.claim(environment.id, secretHash, { edgeKeySecretHash: null, edgeId: `device-${index}`, name: `device-${index}` }));
      const winners = results.filter((claimed) => claimed !== null);
      expect(winners).toHaveLength(1);
      const stored = await stores.b.environments.get(environment.id);
      expect(stored).toMatchObject({ edgeKeySecretHash: null, edgeId: winners[0]?.edgeId, name: winners[0]?.name });
      // The key is spent: claiming again with it fails.
      expect(await stores.a.environments.claim(environment.id, secretHash, { name: "again" })).toBeNull();
    }
  });

  it("bindIdentity: of eight identities bound at once to one device, exactly one is bound; the same one binds again, another never", async () => {
    for (let round = 0; round < rounds; round++) {
      await using stores = await twoStores(engine);
      const environment = await stores.a.environments.create({ name: "edge-bind", type: "edge-agent", edgeId: "edge-bind" });
      expect(environment.identity).toBeNull();
      const identity = (index: number) => ({ kind: "certificate" as const, value: index.toString(16).padStart(2, "0").repeat(32) });
      const results = await race(stores, (store, index) => store.environments.bindIdentity(environment.id, identity(index), { sourceAddress: `198.51.100.${index + 1}` }));
      const bound = results.filter((result) => result !== null);
      expect(bound).toHaveLength(1);
      const winner = bound[0]?.identity;
      expect(winner).toBeDefined();
      const stored = await stores.b.environments.get(environment.id);
      expect(stored?.identity).toEqual(winner);
      expect(stored?.sourceAddress).toBe(bound[0]?.sourceAddress);
      if (winner === null || winner === undefined) return;
      expect(await stores.a.environments.bindIdentity(environment.id, winner, { sourceAddress: "203.0.113.1" })).toMatchObject({ identity: winner, sourceAddress: "203.0.113.1" });
      const loser = identity(winner.value === identity(0).value ? 1 : 0);
      expect(await stores.b.environments.bindIdentity(environment.id, loser, {})).toBeNull();
    }
  });

  it("nextCrlNumber: eight numbers allocated at once from two stores for one CA are all different and consecutive; another CA counts on its own; a floor is honoured once", async () => {
    const caA = "a1".repeat(32);
    const caB = "b2".repeat(32);
    for (let round = 0; round < rounds; round++) {
      await using stores = await twoStores(engine);
      const numbers = await race(stores, (store) => store.rotation.nextCrlNumber(caA));
      expect(new Set(numbers).size).toBe(racers);
      expect([...numbers].sort((x, y) => x - y)).toEqual(Array.from({ length: racers }, (_, index) => index + 1));
      expect(await stores.b.rotation.nextCrlNumber(caB)).toBe(1);
      // A replica that kept numbers in crl-numbers.json (up to 41) lifts the counter once; a lower floor does not lower it.
      expect(await stores.a.rotation.nextCrlNumber(caB, 41)).toBe(42);
      expect(await stores.b.rotation.nextCrlNumber(caB, 3)).toBe(43);
      expect(await stores.a.rotation.nextCrlNumber(caA)).toBe(racers + 1);
    }
    await using stores = await twoStores(engine);
    await expect(stores.a.rotation.nextCrlNumber("not-a-ca")).rejects.toMatchObject({ code: "bad_request", field: "caSpkiSha256" });
    await expect(stores.a.rotation.nextCrlNumber(caA, -1)).rejects.toMatchObject({ code: "bad_request" });
  });
});
