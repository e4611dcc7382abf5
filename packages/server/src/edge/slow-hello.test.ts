import { constants } from "node:http2";
import { setTimeout as sleep } from "node:timers/promises";
import { edgePaths, encodeFrame, protocolVersion, type Hello } from "@pier/protocol";
import { describe, expect, it } from "vitest";
import { startEdgeFixture, type EdgeFixture } from "./edge-fixture.testkit.ts";
import { connectAgent } from "./test-agent.testkit.ts";

/**
 * Stand-in for a database slowed down by a connect storm (thousands of devices saying hello at
 * once on a loaded PostgreSQL), which cannot be produced on demand here: the hello's first
 * environment read waits until `release()` (or `delayMs`).
 */
function slowEnvironmentReads(fixture: EdgeFixture, delayMs?: number): { readonly started: Promise<void>; release(): void } {
  const environments = fixture.store.environments as { getByEdgeId: typeof fixture.store.environments.getByEdgeId };
  const original = environments.getByEdgeId.bind(fixture.store.environments);
  let release = () => {};
  const gate = delayMs === undefined ? new Promise<void>((resolve) => (release = resolve)) : sleep(delayMs);
  let started = () => {};
  const startedPromise = new Promise<void>((resolve) => (started = resolve));
  environments.getByEdgeId = async (edgeId) => {
    started();
    await gate;
    return original(edgeId);
  };
  return { started: startedPromise, release: () => release() };
}

function hello(edgeId: string): Hello {
  return { type: "hello", protocol: protocolVersion, environmentId: 0, agent: { edgeId, agentVersion: "0.0.0-test", platform: "docker", hostname: edgeId, os: "linux", arch: "amd64" } };
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await sleep(20);
  }
}

describe("a hello the server is slow to handle", () => {
  it("opens no session when the device closed its stream meanwhile (none left behind, no directory claim)", async () => {
    await using fixture = await startEdgeFixture();
    const opened: number[] = [];
    fixture.edge.onSessionOpened((environmentId) => opened.push(environmentId));
    const slow = slowEnvironmentReads(fixture);

    const connection = connectAgent({ port: fixture.port, ca: fixture.ca });
    const stream = connection.request({ ":method": "POST", ":path": edgePaths.session, "content-type": "application/x-ndjson" }, { endStream: false });
    stream.on("error", () => undefined);
    stream.write(encodeFrame(hello("gave-up")));
    await slow.started; // precondition: the server is handling the hello
    stream.close(constants.NGHTTP2_CANCEL); // the device's welcome timeout ran out
    await until(() => stream.closed);
    await sleep(200); // the server sees the reset
    slow.release();

    // The hello completes (the device is enrolled, as it asked) but no session is attached.
    const environment = await (async () => {
      let found = null;
      await until(async () => (found = await fixture.store.environments.getByEdgeId("gave-up")) !== null);
      return found as unknown as { id: number };
    })();
    await sleep(300); // the rest of the hello (the welcome, attaching a session) would be done by now
    expect(fixture.edge.isConnected(environment.id)).toBe(false);
    expect(opened).toEqual([]);
    expect(fixture.logs).toContainEqual(expect.stringContaining("the stream closed while its hello was handled; no session opened"));
    connection.close();

    // Control: a device that waits gets its session, counted as connected and announced.
    const agent = await fixture.agent("waited");
    expect(fixture.edge.isConnected(agent.welcome.environmentId)).toBe(true);
    expect(opened).toEqual([agent.welcome.environmentId]);
    agent.connection.close();
  });

  it("still welcomes a device whose hello arrived in time but took the server longer than the 10 s hello timeout", { timeout: 30_000 }, async () => {
    await using fixture = await startEdgeFixture();
    slowEnvironmentReads(fixture, 10_500);
    const started = Date.now();
    const agent = await fixture.agent("patient");
    expect(Date.now() - started).toBeGreaterThanOrEqual(10_000); // precondition: past the hello timeout
    expect(agent.welcome.type).toBe("welcome");
    expect(fixture.edge.isConnected(agent.welcome.environmentId)).toBe(true);
    agent.connection.close();
  });
});
