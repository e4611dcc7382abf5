import { mkdtempSync, rmSync } from "node:fs";
import { createServer, connect as netConnect, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { dockerSnapshotSchema, type DockerSnapshot } from "@pier/protocol";
import type { AgentError } from "../errors.ts";
import { parseDockerHost } from "./docker-client.ts";
import { docker, removeContainers, testImage, uniqueName, until } from "./docker-cli.testkit.ts";
import { collectSnapshot, encodeSnapshot, watchDockerEvents } from "./snapshot.ts";

const local = parseDockerHost(undefined);
const created = new Set<string>();

function run(prefix: string, ...command: string[]): string {
  const name = uniqueName(prefix);
  created.add(name);
  docker(["run", "-d", "--name", name, testImage, ...command]);
  return name;
}

afterAll(() => removeContainers(created));

describe("collectSnapshot", () => {
  it("reports the engine, the host and what Docker holds, valid for dockerSnapshotSchema", async () => {
    const snapshot = await collectSnapshot(local);
    expect(dockerSnapshotSchema.safeParse(snapshot).success).toBe(true);
    expect(snapshot.engine.version).toMatch(/^\d+\./);
    expect(snapshot.engine).toMatchObject({ os: "linux", apiVersion: expect.stringMatching(/^1\.\d+$/) as string });
    expect(snapshot.host.cpus).toBeGreaterThan(0);
    expect(snapshot.host.memoryBytes).toBeGreaterThan(0);
    const image = snapshot.images.find((i) => i.tags.includes(`${testImage}:latest`));
    expect(image?.sizeBytes).toBeGreaterThan(0);
    expect(snapshot.images.flatMap((i) => i.tags)).not.toContain("<none>:<none>");
    expect(snapshot.networks.map((n) => n.name)).toEqual(expect.arrayContaining(["bridge", "host", "none"]));
  });

  it("lists a running container by its name, then as exited once stopped", async () => {
    const name = run("snapshot", "sleep", "300");
    const running = (await collectSnapshot(local)).containers.find((c) => c.names.includes(name));
    expect(running).toMatchObject({ image: testImage, state: "running", status: expect.stringMatching(/^Up /) as string });
    expect(running?.created).toBeGreaterThan(Date.now() / 1000 - 600);
    docker(["stop", "-t", "0", name]);
    const stopped = (await collectSnapshot(local)).containers.find((c) => c.names.includes(name));
    expect(stopped).toMatchObject({ id: running?.id, state: "exited", status: expect.stringMatching(/^Exited /) as string });
  });

  it("lists volumes by name and driver", async () => {
    const name = uniqueName("volume");
    docker(["volume", "create", name]);
    try {
      expect((await collectSnapshot(local)).volumes).toContainEqual({ name, driver: "local" });
    } finally {
      docker(["volume", "rm", "-f", name]);
    }
  });
});

describe("encodeSnapshot", () => {
  const base: DockerSnapshot = {
    collectedAt: new Date(0).toISOString(),
    engine: { version: "27.0.0", apiVersion: "1.46", os: "linux", arch: "amd64", kernelVersion: "6.1" },
    host: { name: "edge", cpus: 4, memoryBytes: 8e9 },
    containers: [],
    images: [],
    volumes: [],
    networks: [],
  };

  it("sends a snapshot that fits as it is", () => {
    const { json, trimmed } = encodeSnapshot(base);
    expect(trimmed).toEqual([]);
    expect(JSON.parse(json)).toEqual(base);
  });

  it("cuts the lists of an oversized snapshot until it fits, and says what it left out", () => {
    const images = Array.from({ length: 5000 }, (_, n) => ({ id: `sha256:${n}`, tags: [`registry.example.com/team/image-${n}:v1.2.3`], sizeBytes: 1e6, created: 1 }));
    const volumes = Array.from({ length: 10 }, (_, n) => ({ name: `v${n}`, driver: "local" }));
    const { json, trimmed } = encodeSnapshot({ ...base, images, volumes }, 100_000);
    expect(Buffer.byteLength(json)).toBeLessThanOrEqual(100_000);
    const sent = dockerSnapshotSchema.parse(JSON.parse(json));
    expect(sent.images.length).toBeGreaterThan(500);
    expect(sent.images[0]).toEqual(images[0]);
    expect(trimmed).toEqual(expect.arrayContaining([`${sent.images.length} of 5000 images`]));
  });
});

describe("watchDockerEvents", () => {
  it("calls onChange after docker run, and stops when aborted", async () => {
    const controller = new AbortController();
    let connected = 0;
    let changes = 0;
    const errors: AgentError[] = [];
    const watching = watchDockerEvents(local, controller.signal, { onConnected: () => connected++, onChange: () => changes++, onError: (error) => errors.push(error) });
    await until("the event stream", () => (connected > 0 ? true : undefined));
    run("events", "true");
    await until("onChange", () => (changes > 0 ? true : undefined));
    controller.abort();
    await watching;
    expect(errors).toEqual([]);
  });

  it("reports a missing Docker through onError, retrying with backoff, and never throws", async () => {
    const controller = new AbortController();
    const errors: AgentError[] = [];
    const watching = watchDockerEvents(parseDockerHost("unix:///tmp/pier-no-such-docker.sock"), controller.signal, { onChange: () => undefined, onError: (error) => errors.push(error) });
    await until("two attempts", () => (errors.length >= 2 ? true : undefined));
    controller.abort();
    await expect(watching).resolves.toBeUndefined();
    expect(errors[0]?.explained?.code).toBe("docker_not_running");
  });

  it("reconnects when Docker goes away and comes back, and says so with onConnected", async () => {
    // A unix-socket relay in front of the real engine: closing it is Docker stopping.
    const dir = mkdtempSync(join(tmpdir(), "pier-docker-relay-"));
    const path = join(dir, "docker.sock");
    const sockets = new Set<Socket>();
    const listen = () =>
      new Promise<Server>((resolve) => {
        const relay = createServer((client) => {
          const upstream = netConnect({ path: "/var/run/docker.sock" });
          for (const socket of [client, upstream]) {
            sockets.add(socket);
            socket.on("error", () => undefined);
            socket.on("close", () => sockets.delete(socket));
          }
          client.pipe(upstream).pipe(client);
        });
        relay.listen(path, () => resolve(relay));
      });
    let relay = await listen();
    const controller = new AbortController();
    let connected = 0;
    const errors: AgentError[] = [];
    const watching = watchDockerEvents(parseDockerHost(`unix://${path}`), controller.signal, { onConnected: () => connected++, onChange: () => undefined, onError: (error) => errors.push(error) });
    try {
      await until("the first connection", () => (connected === 1 ? true : undefined));
      relay.close();
      for (const socket of sockets) socket.destroy();
      await until("a failed reconnection", () => (errors.length > 0 ? true : undefined));
      expect(errors[0]?.message).toMatch(/Docker is not running/);
      relay = await listen();
      await until("the reconnection", () => (connected === 2 ? true : undefined));
    } finally {
      controller.abort();
      await watching;
      relay.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
