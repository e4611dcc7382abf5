import { afterAll, describe, expect, it } from "vitest";
import { dockerSnapshotSchema, edgePaths, type DockerSnapshot } from "@pier/protocol";
import { parseDockerHost } from "./docker-client.ts";
import { docker, removeContainers, testImage, uniqueName, until } from "./docker-cli.testkit.ts";
import { DockerStatus } from "./docker-status.ts";
import { readText, startH2cServer, type H2cServer } from "./h2c-server.testkit.ts";
import { recordingLogger } from "./recording-logger.testkit.ts";
import { SnapshotReporter } from "./snapshot-reporter.ts";

const local = parseDockerHost(undefined);
const created = new Set<string>();
afterAll(() => removeContainers(created));

/** Answers each snapshot post with `status` and keeps the validated bodies. */
function acceptSnapshots(server: H2cServer, status = 204): { posts: DockerSnapshot[]; contentTypes: string[] } {
  const posts: DockerSnapshot[] = [];
  const contentTypes: string[] = [];
  void (async () => {
    for (;;) {
      const { stream, headers } = await server.nextStream();
      if (headers[":path"] !== edgePaths.snapshot || headers[":method"] !== "POST") throw new Error(`unexpected ${headers[":method"]} ${headers[":path"]}`);
      contentTypes.push(String(headers["content-type"]));
      const body = await readText(stream);
      stream.respond({ ":status": status }, { endStream: status === 204 });
      if (status !== 204) stream.end(`{"message":"test server says ${status}"}`);
      posts.push(dockerSnapshotSchema.parse(JSON.parse(body)));
    }
  })();
  return { posts, contentTypes };
}

describe("SnapshotReporter", () => {
  it("posts a snapshot at start and again after a Docker event, on the session's connection", async () => {
    await using server = await startH2cServer();
    const { posts, contentTypes } = acceptSnapshots(server);
    const log = recordingLogger();
    const controller = new AbortController();
    const running = new SnapshotReporter(local, log, new DockerStatus(local, log)).run(server.client, controller.signal);
    try {
      await until("the first snapshot", () => posts[0]);
      expect(contentTypes[0]).toBe("application/json");
      const name = uniqueName("reporter");
      created.add(name);
      docker(["run", "-d", "--name", name, testImage, "sleep", "300"]);
      const seen = await until("a snapshot with the new container", () => posts.find((p) => p.containers.some((c) => c.names.includes(name) && c.state === "running")));
      expect(seen.engine.version).toMatch(/^\d+\./);
      expect(log.at("warn")).toEqual([]);
    } finally {
      controller.abort();
      await running;
    }
  });

  it("logs a server that refuses snapshots once, and keeps the session", async () => {
    await using server = await startH2cServer();
    acceptSnapshots(server, 404);
    const log = recordingLogger();
    const controller = new AbortController();
    const running = new SnapshotReporter(local, log, new DockerStatus(local, log)).run(server.client, controller.signal);
    try {
      await until("the refusal logged", () => log.at("warn")[0]);
      expect(log.at("warn")).toEqual([`could not send the Docker snapshot: the server answered HTTP 404: {"message":"test server says 404"}`]);
      expect(server.client.closed).toBe(false);
    } finally {
      controller.abort();
      await running;
    }
  });

  it("warns once when Docker is unreachable, retries, and never ends the session", async () => {
    await using server = await startH2cServer();
    const { posts } = acceptSnapshots(server);
    const log = recordingLogger();
    const missing = parseDockerHost("unix:///tmp/pier-no-such-docker.sock");
    const controller = new AbortController();
    const running = new SnapshotReporter(missing, log, new DockerStatus(missing, log)).run(server.client, controller.signal);
    try {
      await until("a retry", () => (log.at("debug").length > 0 ? true : undefined));
      expect(log.at("warn")).toEqual([expect.stringMatching(/^Cannot reach Docker at unix:\/\/\/tmp\/pier-no-such-docker\.sock: .*Docker is not running.*without its Docker state/)]);
      expect(posts).toEqual([]);
      expect(server.client.closed).toBe(false);
    } finally {
      controller.abort();
      await running;
    }
  });
});
