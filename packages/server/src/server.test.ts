import http2 from "node:http2";
import https from "node:https";
import tls from "node:tls";
import { edgePaths } from "@pier/protocol";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type FakeDocker, startFakeDocker } from "./docker/fake-docker.testkit.ts";
import { TestAgent } from "./edge/test-agent.testkit.ts";
import { type TestCaServer, startTestCaServer } from "./api/admin-server.testkit.ts";
import type { ApiClient } from "./api/api-client.testkit.ts";
import type { RunningServer } from "./server.ts";
import { sampleSnapshot } from "./store/snapshot.testkit.ts";
import type { TestCa } from "./tls/tls-fixtures.testkit.ts";

// Asymmetric matchers are typed `any`; this keeps the assertions readable and the linter content.
const matching = (pattern: RegExp): unknown => expect.stringMatching(pattern);

const password = "correct horse battery staple";

describe("startServer: Docker snapshots and the Docker proxy", () => {
  let started: TestCaServer;
  let ca: TestCa;
  let docker: FakeDocker;
  let server: RunningServer;
  let jwt: string;
  let api: ApiClient;
  const logs: string[] = [];

  const agent = (edgeId: string) => TestAgent.connect({ port: server.tunnelAddress.port, ca: ca.pem, edgeId });

  async function associatedAgent(edgeId: string): Promise<TestAgent> {
    const connected = await agent(edgeId);
    expect((await api.call("POST", `/api/endpoints/${connected.welcome.environmentId}/edge/trust`)).status).toBe(204);
    await connected.next("status");
    connected.serveTunnels(docker);
    return connected;
  }

  beforeAll(async () => {
    docker = await startFakeDocker();
    started = await startTestCaServer("server", { adminPassword: password, log: (level, message) => logs.push(`${level}: ${message}`) });
    ({ ca, server, api } = started);
    jwt = await api.login("admin", password);
  });
  afterAll(async () => {
    await started[Symbol.asyncDispose]();
    await docker[Symbol.asyncDispose]();
  });

  it("shows the latest snapshot as Portainer's Snapshots[] and in full at docker-snapshot", async () => {
    await using device = await agent("snapshots-1");
    const id = device.welcome.environmentId;
    expect((await api.call("GET", `/api/endpoints/${id}`)).json["Snapshots"]).toEqual([]);
    const missing = await api.call("GET", `/api/endpoints/${id}/docker-snapshot`);
    expect(missing.status).toBe(404);
    expect(missing.json["message"]).toMatch(/has not reported a Docker snapshot yet/);

    const before = Math.floor(Date.now() / 1000);
    expect((await device.post(edgePaths.snapshot, JSON.stringify(sampleSnapshot()))).status).toBe(204);
    const view = await api.call("GET", `/api/endpoints/${id}`);
    const [summary] = view.json["Snapshots"] as Array<Record<string, number | string>>;
    expect(summary).toEqual({
      Time: expect.any(Number) as unknown,
      DockerVersion: "27.3.1",
      RunningContainerCount: 2,
      StoppedContainerCount: 2,
      HealthyContainerCount: 0,
      UnhealthyContainerCount: 0,
      ImageCount: 3,
      VolumeCount: 1,
      TotalCPU: 4,
      TotalMemory: 8_254_390_272,
    });
    expect(summary?.["Time"]).toBeGreaterThanOrEqual(before);
    const list = await api.call("GET", "/api/endpoints");
    expect((list.json as unknown as Array<Record<string, unknown>>).find((e) => e["Id"] === id)?.["Snapshots"]).toEqual([summary]);

    const full = await api.call("GET", `/api/endpoints/${id}/docker-snapshot`);
    expect(full.status).toBe(200);
    expect(full.json).toEqual({ Time: summary?.["Time"], Snapshot: sampleSnapshot() });
    expect((await api.call("GET", "/api/endpoints/99999/docker-snapshot")).status).toBe(404);

    const openapi = await api.call("GET", "/api/openapi.json", { token: null });
    expect(Object.keys(openapi.json["paths"] as object)).toContain("/api/endpoints/{id}/docker-snapshot");
    const proxied = (openapi.json["paths"] as Record<string, Record<string, { responses: Record<string, unknown> }>>)["/api/endpoints/{id}/docker/{path}"];
    expect(Object.keys(proxied ?? {}).sort()).toEqual(["delete", "get", "head", "post", "put"]);
    expect(Object.keys(proxied?.["get"]?.responses ?? {})).toEqual(expect.arrayContaining(["401", "403", "404", "503"]));
  });

  it("refuses callers without valid credentials (401), unknown environments (404) and waiting devices (403)", async () => {
    await using waiting = await agent("proxy-waiting");
    const id = waiting.welcome.environmentId;
    const anonymous = await api.call("GET", `/api/endpoints/${id}/docker/_ping`, { token: null });
    expect(anonymous.status).toBe(401);
    expect(anonymous.json["message"]).toMatch(/^Authentication required/);
    expect((await api.call("GET", `/api/endpoints/${id}/docker/_ping`, { token: null, headers: { "x-api-key": "pier_nope" } })).status).toBe(401);
    expect((await api.call("GET", `/api/endpoints/${id}/docker/_ping`, { token: null, headers: { authorization: "Bearer not.a.jwt" } })).status).toBe(401);
    const unknown = await api.call("GET", "/api/endpoints/99999/docker/_ping");
    expect(unknown).toMatchObject({ status: 404, json: { message: "Environment 99999 does not exist." } });
    const refused = await api.call("GET", `/api/endpoints/${id}/docker/_ping`);
    expect(refused.status).toBe(403);
    expect(refused.json["message"]).toMatch(/is in the waiting room: associate it first/);
    expect(docker.requests.filter((r) => r.url === "/_ping")).toHaveLength(0);
  });

  it("proxies a request to the device's Docker Engine with a JWT or an access token, without Pier's credentials", async () => {
    await using device = await associatedAgent("proxy-1");
    const id = device.welcome.environmentId;
    const ping = await api.call("GET", `/api/endpoints/${id}/docker/_ping`);
    expect(ping).toMatchObject({ status: 200, text: "OK" });
    expect(ping.headers["api-version"]).toBe("1.47");

    const seen = await api.call("GET", `/api/endpoints/${id}/docker/inspect/v1.47/containers/json?all=1&filters=%7B%7D`, {
      headers: { cookie: "portainer=1", "x-registry-auth": "e30=", "x-custom": "kept" },
    });
    expect(seen.status).toBe(200);
    expect(seen.json["url"]).toBe("/inspect/v1.47/containers/json?all=1&filters=%7B%7D");
    expect(seen.json["headers"]).toMatchObject({ host: "docker", "x-registry-auth": "e30=", "x-custom": "kept" });
    expect(seen.json["headers"]).not.toHaveProperty("authorization");
    expect(seen.json["headers"]).not.toHaveProperty("cookie");

    const token = await api.call("POST", "/api/users/1/tokens", { body: JSON.stringify({ description: "docker proxy test" }) });
    const byKey = await api.call("GET", `/api/endpoints/${id}/docker/inspect`, { token: null, headers: { "x-api-key": String(token.json["rawAPIKey"]) } });
    expect(byKey.status).toBe(200);
    expect(byKey.json["headers"]).not.toHaveProperty("x-api-key");

    const missing = await api.call("GET", `/api/endpoints/${id}/docker/nothing-here`);
    expect(missing).toMatchObject({ status: 404, json: { message: "page not found: /nothing-here" } });
    await vi.waitFor(() => expect(logs).toContainEqual(matching(new RegExp(`^debug: docker environment ${id}: GET /nothing-here → 404 in \\d+ ms$`))));
  });

  it("streams request and response bodies both ways", async () => {
    await using device = await associatedAgent("proxy-2");
    const id = device.welcome.environmentId;
    const payload = JSON.stringify({ data: "y".repeat(2 * 1024 * 1024) });
    const echoed = await api.call("POST", `/api/endpoints/${id}/docker/echo`, { body: payload });
    expect(echoed.status).toBe(200);
    expect(echoed.text.length).toBe(payload.length);
    expect(echoed.text === payload).toBe(true);
  });

  it("follows logs live and ends the tunnel, up to the Docker connection, when the client goes away", async () => {
    await using device = await associatedAgent("proxy-3");
    const id = device.welcome.environmentId;
    const received = await new Promise<string>((resolve, reject) => {
      const request = https.request(
        { host: "127.0.0.1", port: server.httpsAddress.port, path: `/api/endpoints/${id}/docker/containers/abc/logs?follow=1&stdout=1`, ca: ca.pem, servername: "", agent: false, headers: { authorization: `Bearer ${jwt}` } },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            text += chunk;
            // Three lines 20 ms apart: they arrive while the response is still open.
            if (text.includes("line 3\n")) {
              request.destroy();
              resolve(text);
            }
          });
          res.on("end", () => reject(new Error("the log stream ended by itself")));
        },
      );
      request.on("error", () => undefined);
      request.end();
    });
    expect(received).toMatch(/^line 1\nline 2\nline 3\n/);
    await docker.logsClosed;
    await vi.waitFor(() => expect(logs).toContainEqual(matching(new RegExp(`^debug: docker environment ${id}: GET /containers/abc/logs\\?follow=1&stdout=1 → client went away`))));
  });

  it("cuts the client's response when the device drops in the middle of it", async () => {
    const device = await associatedAgent("proxy-6");
    const id = device.welcome.environmentId;
    const outcome = await new Promise<string>((resolve) => {
      const request = https.request(
        { host: "127.0.0.1", port: server.httpsAddress.port, path: `/api/endpoints/${id}/docker/containers/abc/logs?follow=1`, ca: ca.pem, servername: "", agent: false, headers: { authorization: `Bearer ${jwt}` } },
        (res) => {
          res.once("data", () => void device.close());
          res.on("end", () => resolve("ended"));
          res.on("error", (error) => resolve(`error: ${error.message}`));
        },
      );
      request.on("error", (error) => resolve(`request error: ${error.message}`));
      request.end();
    });
    expect(outcome).toBe("error: aborted");
    await vi.waitFor(() => expect(logs).toContainEqual(matching(new RegExp(`^debug: docker environment ${id}: GET /containers/abc/logs\\?follow=1 → 200, cut: The tunnel to the device closed before it was done \\(HTTP/2 code \\d+\\): the device's session ended`))));
  });

  it("serves HTTP/2 clients too, without connection-specific headers", async () => {
    await using device = await associatedAgent("proxy-4");
    const session = http2.connect(`https://127.0.0.1:${server.httpsAddress.port}`, { ca: ca.pem, servername: "" });
    try {
      const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const stream = session.request({ ":path": `/api/endpoints/${device.welcome.environmentId}/docker/_ping`, authorization: `Bearer ${jwt}` });
        let status = 0;
        let text = "";
        stream.setEncoding("utf8");
        stream.on("response", (headers) => (status = Number(headers[":status"])));
        stream.on("data", (chunk: string) => (text += chunk));
        stream.on("end", () => resolve({ status, text }));
        stream.on("error", reject);
      });
      expect(answer).toEqual({ status: 200, text: "OK" });
    } finally {
      session.close();
    }
  });

  /** Sends a raw HTTP/1.1 upgrade request over TLS; `input` is written after Docker's 101, then the write side is closed. */
  function upgradeRequest(path: string, headers: Record<string, string>, input: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host: "127.0.0.1", port: server.httpsAddress.port, ca: ca.pem, servername: "" }, () => {
        const lines = Object.entries({ host: "pier", connection: "Upgrade", upgrade: "tcp", ...headers }).map(([name, value]) => `${name}: ${value}\r\n`);
        socket.write(`POST ${path} HTTP/1.1\r\n${lines.join("")}\r\n`);
      });
      let text = "";
      socket.setEncoding("latin1");
      socket.on("data", (chunk: string) => {
        const before = text;
        text += chunk;
        if (!before.includes("\r\n\r\n") && text.includes("101 UPGRADED") && text.includes("\r\n\r\n")) {
          socket.write(input);
          socket.end();
        }
      });
      socket.on("end", () => resolve(text));
      socket.on("error", reject);
    });
  }

  it("splices connection upgrades (attach, exec) through the tunnel, half-close included", async () => {
    await using device = await associatedAgent("proxy-upgrade");
    const id = device.welcome.environmentId;
    const answer = await upgradeRequest(`/api/endpoints/${id}/docker/containers/abc/attach?stream=1&stdin=1`, { authorization: `Bearer ${jwt}` }, "hello through the tunnel");
    expect(answer).toMatch(/^HTTP\/1\.1 101 UPGRADED\r\n/);
    // Docker's answer to input that arrived, and to its end (our half-close), both came back.
    expect(answer.endsWith("\r\n\r\nHELLO THROUGH THE TUNNELbye\n")).toBe(true);
    const seen = docker.requests.find((r) => r.url === "/containers/abc/attach?stream=1&stdin=1");
    expect(seen?.headers).toMatchObject({ host: "docker", connection: "Upgrade", upgrade: "tcp" });
    expect(seen?.headers).not.toHaveProperty("authorization");
    await vi.waitFor(() => expect(logs).toContainEqual(matching(new RegExp(`^debug: docker environment ${id}: POST /containers/abc/attach\\?stream=1&stdin=1 \\(upgrade\\) → connection closed in \\d+ ms$`))));
  });

  it("refuses upgrades as it refuses requests, with Docker's error shape", async () => {
    const waiting = await agent("proxy-upgrade-waiting");
    const id = waiting.welcome.environmentId;
    const refused = await upgradeRequest(`/api/endpoints/${id}/docker/containers/abc/attach`, { authorization: `Bearer ${jwt}` }, "");
    expect(refused).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(refused).toMatch(/"message":"Environment \d+ \(\\"proxy-upgrade-waiting\\"\) is in the waiting room: associate it first/);
    expect(await upgradeRequest(`/api/endpoints/${id}/docker/containers/abc/attach`, {}, "")).toMatch(/^HTTP\/1\.1 401 Unauthorized\r\n[\s\S]*Authentication required/);
    expect(await upgradeRequest("/api/status", { authorization: `Bearer ${jwt}` }, "")).toMatch(/^HTTP\/1\.1 404 Not Found\r\n/);
    await waiting.close();
  });

  it("answers 503 with the last check-in for an offline device", async () => {
    const device = await associatedAgent("proxy-5");
    const id = device.welcome.environmentId;

    await device.close();
    await vi.waitFor(async () => expect((await api.call("GET", `/api/endpoints/${id}`)).json["Pier"]).toMatchObject({ Connected: false }));
    const offline = await api.call("GET", `/api/endpoints/${id}/docker/_ping`);
    expect(offline.status).toBe(503);
    expect(offline.json["message"]).toMatch(new RegExp(`^Environment ${id} \\("proxy-5"\\) is offline: last check-in \\d{4}-\\d\\d-\\d\\dT`));
  });
});
