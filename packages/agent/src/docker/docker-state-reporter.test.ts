import { mkdtempSync, rmSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer as createNetServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DockerState } from "@pier/protocol";
import { afterAll, describe, expect, it } from "vitest";
import { parseDockerHost } from "./docker-client.ts";
import { DockerStateReporter } from "./docker-state-reporter.ts";
import { DockerStatus } from "./docker-status.ts";
import { recordingLogger } from "./recording-logger.testkit.ts";

// A socket this test controls answers for Docker (the real engine is the end-to-end test's,
// packages/e2e/test/docker-state.test.ts): it can stop, come back or hang on demand.
const dir = mkdtempSync(join(tmpdir(), "pier-docker-state-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => resolve());
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Answers `GET /_ping` with `OK`, as the Docker Engine does. */
async function pingServer(path: string): Promise<Server> {
  const server = createHttpServer((req, res) => res.end(req.url === "/_ping" ? "OK" : "")).on("connection", (socket: Socket) => socket.unref());
  await listen(server, path);
  return server;
}

async function until<T>(what: string, probe: () => T | undefined, ms = 5_000): Promise<T> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 20))) {
    const value = probe();
    if (value !== undefined) return value;
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("DockerStateReporter", () => {
  it("says up at the start, down within an interval of Docker going away, and up again, each change once", async () => {
    const path = join(dir, "a.sock");
    const docker = parseDockerHost(`unix://${path}`);
    const log = recordingLogger();
    const sent: DockerState[] = [];
    const controller = new AbortController();
    let server = await pingServer(path);
    const running = new DockerStateReporter(docker, new DockerStatus(docker, log)).run({ heartbeatNow: (state) => sent.push(state) }, () => 100, controller.signal);
    try {
      await until("the first report", () => sent[0]);
      expect(sent).toEqual([{ state: "up" }]);
      await close(server);
      const stoppedAt = Date.now();
      const down = await until("Docker reported down", () => sent.find((state) => state.state === "down"));
      expect(Date.now() - stoppedAt).toBeLessThan(1_000);
      expect(down.error).toContain(`there is no socket at ${path}`);
      expect(log.at("warn").join("\n")).toContain("The server shows Docker as down on this device until it answers.");
      // Unchanged for a few intervals: nothing more is sent.
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(sent).toHaveLength(2);
      server = await pingServer(path);
      await until("Docker reported up again", () => (sent.length === 3 ? sent[2] : undefined));
      expect(sent[2]).toEqual({ state: "up" });
      expect(log.at("info")).toContain(`Docker answers again at ${docker.url}`);
    } finally {
      controller.abort();
      await running;
      await close(server);
    }
  });

  it("says down, with the time it waited, when Docker accepts the connection but never answers", async () => {
    const path = join(dir, "hung.sock");
    const docker = parseDockerHost(`unix://${path}`);
    const held: Socket[] = [];
    const server = createNetServer((socket) => void held.push(socket));
    await listen(server, path);
    const sent: DockerState[] = [];
    const controller = new AbortController();
    const running = new DockerStateReporter(docker, new DockerStatus(docker, recordingLogger())).run({ heartbeatNow: (state) => sent.push(state) }, () => 300, controller.signal);
    try {
      const down = await until("Docker reported down", () => sent[0]);
      expect(down).toEqual({ state: "down", error: `Docker at ${docker.url} did not answer a ping within 0.3 s.` });
      expect(held.length).toBeGreaterThan(0);
    } finally {
      controller.abort();
      await running;
      for (const socket of held) socket.destroy();
      await close(server);
    }
  });
});
