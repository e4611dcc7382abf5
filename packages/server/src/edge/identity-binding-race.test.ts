import type { Hello } from "@pier/protocol";
import { describe, expect, it } from "vitest";
import { SqliteStore } from "../store/sqlite-store.ts";
import { tempDir } from "../store/temp-dir.testkit.ts";
import { EdgeService } from "./edge-service.ts";

const hello: Hello = {
  type: "hello",
  protocol: 1,
  environmentId: 0,
  agent: { edgeId: "race-unit", agentVersion: "1.0.0", platform: "docker", hostname: "pi", os: "linux", arch: "arm64" },
};

describe("EdgeService: the first identity of a known EDGE_ID", () => {
  it("is bound once when two devices present that EDGE_ID at the same time; the other is refused and audited", async () => {
    await using dir = tempDir("identity-binding");
    await using store = await SqliteStore.open(dir.file("pier.db"));
    await store.settings.update({ trustOnFirstConnect: true });
    // An environment that knows its EDGE_ID but no identity yet (made by an operator or an import).
    const environment = await store.environments.create({ name: "race", type: "edge-agent", edgeId: "race-unit", userTrusted: true });
    expect(environment.identity).toBeNull();
    const edge = new EdgeService(store, { record: () => undefined });

    // Two devices without a device token: each is handed its own, a different identity.
    const outcomes = await Promise.allSettled([edge.hello(hello, { sourceAddress: "192.0.2.1" }), edge.hello(hello, { sourceAddress: "192.0.2.2" })]);

    const welcomed = outcomes.filter((outcome) => outcome.status === "fulfilled");
    const refused = outcomes.filter((outcome) => outcome.status === "rejected");
    expect(welcomed).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(refused[0]?.reason).toMatchObject({ code: "conflict" });
    expect(String(refused[0]?.reason)).toContain("EDGE_ID race-unit is bound to another device (another device token)");
    const stored = await store.environments.get(environment.id);
    const token = welcomed[0]?.value.welcome.deviceToken;
    expect(token).toBeDefined();
    // The identity bound is the welcomed device's, so its token keeps working.
    expect(stored?.identity?.kind).toBe("token");
    await expect(edge.hello({ ...hello, deviceToken: token ?? "" }, { sourceAddress: "192.0.2.1" })).resolves.toMatchObject({ environment: { id: environment.id } });
    expect((await store.audit.list({ environmentId: environment.id })).map((event) => event.kind)).toContain("identity_conflict");
  });
});
