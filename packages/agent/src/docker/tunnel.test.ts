import { constants } from "node:http2";
import { describe, expect, it } from "vitest";
import { edgePaths } from "@pier/protocol";
import { AgentError } from "../errors.ts";
import { parseDockerHost } from "./docker-client.ts";
import { DockerStatus } from "./docker-status.ts";
import { readText, startH2cServer } from "./h2c-server.testkit.ts";
import { recordingLogger } from "./recording-logger.testkit.ts";
import { docker, removeContainers, testImage, uniqueName, until } from "./docker-cli.testkit.ts";
import { DockerTunnels, openTunnel, tunnelErrorHeader } from "./tunnel.ts";

const local = parseDockerHost(undefined);
const missing = parseDockerHost("unix:///tmp/pier-no-such-docker.sock");
const ping = "GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n";

describe("openTunnel", () => {
  it("opens POST /api/edge/v1/tunnel/<id> and pipes it to Docker both ways; the server ending its side closes it", async () => {
    await using server = await startH2cServer();
    const tunnel = openTunnel(server.client, "tunnel-ping-1", local);
    const { stream, headers } = await server.nextStream();
    expect(headers[":method"]).toBe("POST");
    expect(headers[":path"]).toBe(`${edgePaths.tunnel}tunnel-ping-1`);
    stream.respond({ ":status": 200 });
    stream.write(ping);
    const answer = await readText(stream, /\r\n\r\nOK$/);
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    // A second request on the same (keep-alive) Docker connection.
    stream.write(ping);
    await readText(stream, /OK[\s\S]*OK$/);
    stream.end();
    const outcome = await tunnel;
    expect(outcome.error).toBeUndefined();
    expect(outcome.bytesToDocker).toBe(2 * ping.length);
    expect(outcome.bytesToServer).toBeGreaterThan(2 * "OK".length);
  });

  it("ends the request body when Docker closes the connection, with everything Docker sent", async () => {
    await using server = await startH2cServer();
    const tunnel = openTunnel(server.client, "tunnel-close-1", local);
    const { stream } = await server.nextStream();
    stream.respond({ ":status": 200 });
    stream.write("GET /version HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n");
    const answer = await readText(stream);
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*"ApiVersion"/);
    stream.end();
    expect((await tunnel).error).toBeUndefined();
  });

  it("carries more than a flow-control window: a container export of megabytes", async () => {
    await using server = await startH2cServer();
    const name = uniqueName("export");
    docker(["create", "--name", name, testImage, "true"]);
    try {
      const tunnel = openTunnel(server.client, "tunnel-export-1", local);
      const { stream } = await server.nextStream();
      stream.respond({ ":status": 200 });
      stream.write(`GET /containers/${name}/export HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n`);
      const answer = await readText(stream);
      stream.end();
      expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(answer.length).toBeGreaterThan(1_000_000);
      expect((await tunnel).bytesToServer).toBe(answer.length);
    } finally {
      removeContainers([name]);
    }
  });

  it("closes the Docker connection when the server resets the stream or the session dies", async () => {
    await using server = await startH2cServer();
    const reset = openTunnel(server.client, "tunnel-reset-1", local);
    const first = await server.nextStream();
    first.stream.respond({ ":status": 200 });
    first.stream.close(constants.NGHTTP2_CANCEL);
    expect((await reset).error?.message).toMatch(/reset/);

    const cut = openTunnel(server.client, "tunnel-cut-1", local);
    const second = await server.nextStream();
    second.stream.respond({ ":status": 200 });
    second.stream.write(ping);
    await readText(second.stream, /OK$/);
    server.client.destroy();
    const outcome = await cut;
    expect(outcome.bytesToDocker).toBe(ping.length);
  });

  it("sends nothing to Docker when the server refuses the stream", async () => {
    await using server = await startH2cServer();
    const tunnel = openTunnel(server.client, "tunnel-404-1", local);
    const { stream } = await server.nextStream();
    stream.respond({ ":status": 404 });
    stream.end("no such tunnel");
    const outcome = await tunnel;
    expect(outcome.error?.message).toMatch(/HTTP 404/);
    expect(outcome.bytesToDocker).toBe(0);
  });

  it("refuses with the reason in pier-tunnel-error and no body when Docker cannot be reached", async () => {
    await using server = await startH2cServer();
    const tunnel = openTunnel(server.client, "tunnel-nodocker-1", missing);
    const { stream, headers } = await server.nextStream();
    expect(headers[":path"]).toBe(`${edgePaths.tunnel}tunnel-nodocker-1`);
    // Whole, to its last word (it was once cut at 300 characters, mid-word).
    expect(headers[tunnelErrorHeader]).toMatch(/^Cannot reach Docker at unix:\/\/\/tmp\/pier-no-such-docker\.sock: .*Docker is not running.* or set DOCKER_HOST\.$/);
    expect(await readText(stream)).toBe("");
    stream.respond({ ":status": 204 }, { endStream: true });
    const outcome = await tunnel;
    expect(outcome.error).toBeInstanceOf(AgentError);
  });
});

describe("DockerTunnels", () => {
  it("keeps at most its limit open, refusing more with a log line", async () => {
    await using server = await startH2cServer();
    const log = recordingLogger();
    const tunnels = new DockerTunnels(local, log, new DockerStatus(local, log), 1);
    const first = tunnels.open(server.client, "tunnel-limit-1");
    const held = await server.nextStream();
    held.stream.respond({ ":status": 200 });
    expect(tunnels.active).toBe(1);

    await tunnels.open(server.client, "tunnel-limit-2");
    const refused = await server.nextStream();
    expect(refused.headers[":path"]).toBe(`${edgePaths.tunnel}tunnel-limit-2`);
    expect(refused.headers[tunnelErrorHeader]).toMatch(/too many tunnels/);
    expect(log.at("warn")).toEqual([expect.stringMatching(/^refused tunnel tunnel-limit-2: 1 tunnels are open already/)]);

    held.stream.end();
    await first;
    expect(tunnels.active).toBe(0);
  });

  it("logs an unreachable Docker once, then at debug level", async () => {
    await using server = await startH2cServer();
    const log = recordingLogger();
    const tunnels = new DockerTunnels(missing, log, new DockerStatus(missing, log));
    for (const id of ["tunnel-missing-1", "tunnel-missing-2"]) {
      const opened = tunnels.open(server.client, id);
      (await server.nextStream()).stream.respond({ ":status": 204 }, { endStream: true });
      await opened;
    }
    await until("two log lines", () => (log.lines.length >= 2 ? true : undefined));
    expect(log.at("warn")).toEqual([expect.stringMatching(/Docker is not running.*The server cannot reach Docker on this device/)]);
    expect(log.at("debug")).toEqual(expect.arrayContaining([expect.stringMatching(/^Docker still unavailable/)]));
  });
});
