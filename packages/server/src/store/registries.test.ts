import { expect, it, onTestFinished } from "vitest";
import type { StoreTarget } from "./database.ts";
import type { RegistryFields } from "./registries.ts";
import { type StoreEngine, describeOnEngines } from "./store-engines.testkit.ts";
import type { Store } from "./store.ts";

const at = (seconds: number) => new Date(Date.UTC(2026, 11, 6) + seconds * 1000);
const lab: RegistryFields = { name: "lab", url: "registry.lab:5000", authentication: true, username: "ci" };
const sealed = (id: number) => Buffer.from(`sealed-${id}`);

async function opened(engine: StoreEngine): Promise<{ store: Store; target: StoreTarget }> {
  const target = await engine.cleanTarget();
  const store = await engine.open(target);
  onTestFinished(() => store.close());
  return { store, target };
}

/** A stand-in for H2's edge stack store: the rows a stack naming registries leaves (migration 12's tables). */
async function stackNaming(engine: StoreEngine, target: StoreTarget, stack: { id: number; name: string; registryIds: number[]; groupIds: number[] }): Promise<void> {
  await engine.sql(target, "INSERT INTO edge_stacks (id, name, version, deployment_type, created_at, updated_at) VALUES (?, ?, 1, 0, 0, 0)", [stack.id, stack.name]);
  for (const registryId of stack.registryIds) await engine.sql(target, "INSERT INTO edge_stack_registries (stack_id, registry_id) VALUES (?, ?)", [stack.id, registryId]);
  for (const groupId of stack.groupIds) await engine.sql(target, "INSERT INTO edge_stack_groups (stack_id, group_id) VALUES (?, ?)", [stack.id, groupId]);
}

describeOnEngines("registry store", (engine) => {
  it("creates a registry with the password sealed by its id in the same transaction, reads it back, lists by id", async () => {
    const { store, target } = await opened(engine);
    const seenIds: number[] = [];
    const created = await store.registries.create(
      lab,
      (id) => {
        seenIds.push(id);
        return sealed(id);
      },
      at(1),
    );
    expect(seenIds).toEqual([created.id]);
    expect(created).toEqual({ id: 1, ...lab, passwordSealed: sealed(1), createdAt: at(1), updatedAt: at(1) });
    const open = await store.registries.create({ name: "public", url: "mirror.lab", authentication: false, username: "" }, () => Buffer.from("never stored"), at(2));
    expect(open.passwordSealed).toBeNull();
    expect(await store.registries.get(1)).toEqual(created);
    expect(await store.registries.get(99)).toBeNull();
    expect((await store.registries.list()).map((r) => r.name)).toEqual(["lab", "public"]);
    expect((await store.registries.getMany([2, 99, 1])).map((r) => r.id)).toEqual([1, 2]);
    expect(await store.registries.getMany([])).toEqual([]);
    const rows = await engine.sql<{ password_sealed: Uint8Array | null }>(target, "SELECT password_sealed FROM registries ORDER BY id");
    expect(rows.map((row) => (row.password_sealed === null ? null : Buffer.from(row.password_sealed).toString()))).toEqual(["sealed-1", null]);
  });

  it("refuses a second registry with the same name (conflict naming Name), on create and on update", async () => {
    const { store } = await opened(engine);
    await store.registries.create(lab, sealed, at(1));
    const other = await store.registries.create({ ...lab, name: "other" }, sealed, at(1));
    await expect(store.registries.create(lab, sealed, at(2))).rejects.toMatchObject({ code: "conflict", field: "Name", message: 'A registry named "lab" already exists.' });
    await expect(store.registries.update(other.id, lab, undefined, at(2))).rejects.toMatchObject({ code: "conflict", field: "Name" });
    expect((await store.registries.list()).map((r) => r.name)).toEqual(["lab", "other"]);
  });

  it("updates fields, keeps the sealed password without a new one, replaces it with one, drops it without authentication", async () => {
    const { store } = await opened(engine);
    const { id } = await store.registries.create(lab, sealed, at(1));
    const renamed = await store.registries.update(id, { ...lab, name: "lab-2", url: "10.0.0.5:5000" }, undefined, at(2));
    expect(renamed).toMatchObject({ name: "lab-2", url: "10.0.0.5:5000", passwordSealed: sealed(id), createdAt: at(1), updatedAt: at(2) });
    expect((await store.registries.update(id, lab, () => Buffer.from("new"), at(3)))?.passwordSealed).toEqual(Buffer.from("new"));
    expect(await store.registries.update(id, { ...lab, authentication: false, username: "" }, undefined, at(4))).toMatchObject({ authentication: false, username: "", passwordSealed: null });
    expect(await store.registries.update(99, lab, undefined, at(5))).toBeNull();
  });

  it("deletes a registry no stack names; refuses one a stack names (naming the stacks and their groups), missing otherwise", async () => {
    const { store, target } = await opened(engine);
    const used = await store.registries.create(lab, sealed, at(1));
    const unused = await store.registries.create({ ...lab, name: "unused" }, sealed, at(1));
    await stackNaming(engine, target, { id: 7, name: "web", registryIds: [used.id], groupIds: [3, 4] });
    await stackNaming(engine, target, { id: 8, name: "db", registryIds: [used.id], groupIds: [] });
    expect(await store.registries.stacksNaming(used.id)).toEqual([
      { id: 7, name: "web", groupIds: [3, 4] },
      { id: 8, name: "db", groupIds: [] },
    ]);
    expect(await store.registries.stacksNaming(unused.id)).toEqual([]);
    expect(await store.registries.delete(used.id)).toEqual({ outcome: "in_use", stacks: [{ id: 7, name: "web", groupIds: [3, 4] }, { id: 8, name: "db", groupIds: [] }] });
    expect(await store.registries.get(used.id)).not.toBeNull();
    expect(await store.registries.delete(unused.id)).toEqual({ outcome: "deleted" });
    expect(await store.registries.delete(unused.id)).toEqual({ outcome: "missing" });
    expect((await store.registries.list()).map((r) => r.id)).toEqual([used.id]);
  });
});
