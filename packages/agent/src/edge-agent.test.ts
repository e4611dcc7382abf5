import { mkdtempSync, rmSync } from "node:fs";
import { createSecureServer, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { dockerSnapshotSchema, edgePaths, encodeEdgeKey, encodeFrame, type DockerSnapshot } from "@pier/protocol";
import { loadAgentConfig } from "./config.ts";
import { until } from "./docker/docker-cli.testkit.ts";
import { readText } from "./docker/h2c-server.testkit.ts";
import { recordingLogger } from "./docker/recording-logger.testkit.ts";
import { EdgeAgent } from "./edge-agent.ts";
import { serverCertificate } from "./server-certificate.testkit.ts";

describe("EdgeAgent with Docker", () => {
  it("posts its snapshot after the welcome and opens a tunnel to Docker when the server pushes one", async () => {
    const { cert, key, fingerprint } = serverCertificate();
    const snapshots: DockerSnapshot[] = [];
    let session: ServerHttp2Stream | undefined;
    let tunnel: { stream: ServerHttp2Stream; path: string } | undefined;
    const server = createSecureServer({ cert, key });
    server.on("stream", (stream, headers) => {
      stream.on("error", () => undefined);
      const path = String(headers[":path"]);
      if (path === edgePaths.session) {
        session = stream;
        stream.respond({ ":status": 200, "content-type": "application/x-ndjson" });
        stream.write(encodeFrame({ type: "welcome", environmentId: 7, status: "associated", checkinIntervalSeconds: 5 }));
      } else if (path === edgePaths.snapshot) {
        void readText(stream).then((body) => {
          snapshots.push(dockerSnapshotSchema.parse(JSON.parse(body)));
          stream.respond({ ":status": 204 }, { endStream: true });
        });
      } else if (path.startsWith(edgePaths.tunnel)) {
        tunnel = { stream, path };
      } else {
        stream.respond({ ":status": 404 }, { endStream: true });
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const dataDir = mkdtempSync(join(tmpdir(), "pier-agent-"));
    const env = { EDGE_ID: "edge-docker-1", EDGE_KEY: encodeEdgeKey({ apiUrl: `https://${address}`, tunnelAddress: address, serverFingerprint: fingerprint, environmentId: 0 }) };
    const log = recordingLogger();
    const agent = new EdgeAgent(loadAgentConfig({ flags: { data: dataDir }, env }), log, env);
    const controller = new AbortController();
    const running = agent.run(controller.signal);
    try {
      const snapshot = await until("the snapshot", () => snapshots[0]);
      expect(snapshot.engine.version).toMatch(/^\d+\./);

      session?.write(encodeFrame({ type: "tunnel", id: "tunnel-agent-1" }));
      const opened = await until("the tunnel stream", () => tunnel);
      expect(opened.path).toBe(`${edgePaths.tunnel}tunnel-agent-1`);
      opened.stream.respond({ ":status": 200 });
      opened.stream.write("GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n");
      expect(await readText(opened.stream, /\r\n\r\nOK$/)).toMatch(/^HTTP\/1\.1 200 OK/);
      opened.stream.end();
      expect(log.at("error")).toEqual([]);
    } finally {
      controller.abort();
      await running;
      server.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
