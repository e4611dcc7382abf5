import type { DesiredStack } from "@pier/protocol";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { PgClusterEvents } from "../cluster/pg-cluster-events.ts";
import { freshPostgresDatabase } from "../cluster/postgres-database.testkit.ts";
import { BridgedEvents, type BusFactory, type ReplicaPair, startReplicaPair } from "../cluster/replica-pair.testkit.ts";
import type { TestAgent } from "../edge/test-agent.testkit.ts";
import { DesiredStateService } from "./desired-state.ts";
import { followDesiredStateChanges } from "./desired-state-push.ts";

let postgresUrl: string;
beforeAll(async () => {
  postgresUrl = await freshPostgresDatabase("desired_state");
});

const buses: [string, BusFactory][] = [
  ["an in-process bridge", (ids) => Promise.resolve(BridgedEvents.pair(ids))],
  ["PostgreSQL LISTEN/NOTIFY", async ([a, b]) => [await PgClusterEvents.start({ url: postgresUrl, replicaId: a }), await PgClusterEvents.start({ url: postgresUrl, replicaId: b })] as const],
];

const open: AsyncDisposable[] = [];
afterEach(async () => {
  for (const item of open.splice(0).reverse()) await item[Symbol.asyncDispose]();
});

const stack = (version: number): DesiredStack => ({ id: 1, name: "web", version, deploymentType: 0, composeFile: "services:\n  web:\n    image: nginx\n", envVars: [], registries: [] });

describe.each(buses)("a desired-state change on replica B reaches the session replica A holds, over %s", (busName, bus) => {
  it("A pushes status with the version B stored, in under a second", async () => {
    const replicas: ReplicaPair = await startReplicaPair(bus);
    open.push(replicas);
    const stacks = new Map<number, DesiredStack[]>();
    const sources = () => ({ stacks: (id: number) => Promise.resolve(stacks.get(id) ?? []), jobs: () => Promise.resolve([]), agentUpdate: () => Promise.resolve(undefined) });
    // Each replica runs the push; B alone makes the change.
    for (const replica of [replicas.a, replicas.b]) open.push({ [Symbol.asyncDispose]: (stop => () => Promise.resolve(stop()))(followDesiredStateChanges({ events: replica.events, edge: replica.edge, log: () => undefined })) });
    const onB = new DesiredStateService({ store: replicas.store, events: replicas.b.events, sources, log: () => undefined });

    const credential = await replicas.deviceCertificate("fleet-replica-device");
    const agent: TestAgent = await replicas.a.agent("fleet-replica-device", credential);
    open.push(agent);
    const environmentId = agent.welcome.environmentId;
    await replicas.store.environments.update(environmentId, { userTrusted: true });
    // Precondition: A holds the session, B does not.
    expect(replicas.a.edge.isConnected(environmentId)).toBe(true);
    expect(replicas.b.edge.isConnected(environmentId)).toBe(false);

    stacks.set(environmentId, [stack(1)]);
    const sent = performance.now();
    await onB.changed([environmentId]);
    const status = await agent.next("status", 2000);
    const latencyMs = performance.now() - sent;
    const stored = (await replicas.store.environments.get(environmentId))?.desiredStateVersion;
    expect(stored).toMatch(/^[0-9a-f]{64}$/);
    expect(status).toMatchObject({ status: "associated", desiredStateVersion: stored });
    expect(latencyMs).toBeLessThan(1000);
    console.log(`desired state changed on B -> status on A's session, over ${busName}: ${latencyMs.toFixed(1)} ms`);

    // Unchanged: nothing announced, nothing pushed.
    await onB.changed([environmentId]);
    await expect(agent.next("status", 300)).rejects.toThrow("no status frame");
  });
});
