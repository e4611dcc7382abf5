import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect as connectH2 } from "node:http2";
import { request } from "node:https";
import { connect as connectSocket } from "node:net";
import { DatabaseSync } from "node:sqlite";
import { decodeEdgeKey } from "@pier/protocol";
import { PierApi, docker, startPierAgent, startPierDockerProxy, startPierServer, tempDir, type PierDockerProxy, type PierProcess, type PierServer, type TempDir } from "../src/index.ts";

/**
 * Each port serves what it is for, one canonical path, one error shape: a real server process
 * and a real agent on loopback, real TLS, requests as a security review would send them.
 */
const password = "correct horse battery staple";
let dir: TempDir;
let server: PierServer;
let agent: PierProcess;
let ca: Buffer;
let jwt: string;
let environmentId: number;

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  readonly json: Record<string, unknown>;
}

function parse(text: string): Record<string, unknown> {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** One HTTP/1.1 request with the path sent exactly as given (Node does not normalise it). */
function call(port: number, method: string, path: string, options: { body?: string; headers?: Record<string, string>; auth?: boolean } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        servername: "localhost",
        ca,
        method,
        path,
        agent: false,
        headers: { ...(options.body === undefined ? {} : { "content-type": "application/json" }), ...(options.auth === false ? {} : { authorization: `Bearer ${jwt}` }), ...options.headers },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: parse(text) }));
      },
    );
    // An upgrade the server accepts would hand over the socket: not expected in these tests.
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, text: "", json: {} });
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

/** The shape every error answer has: `{code, message, details?, field?, fix?}` and nothing else. */
function expectErrorShape(answer: Answer, status: number, code: string): void {
  expect(answer.status, answer.text).toBe(status);
  expect(answer.headers["content-type"]).toMatch(/^application\/json/);
  expect(answer.json).toMatchObject({ code, message: expect.any(String) as unknown });
  expect(Object.keys(answer.json).every((key) => ["code", "message", "details", "field", "fix"].includes(key)), answer.text).toBe(true);
  for (const optional of ["field", "fix"]) if (optional in answer.json) expect(typeof answer.json[optional]).toBe("string");
  if ("details" in answer.json) expect(typeof answer.json["details"]).toBe("object");
}

beforeAll(async () => {
  dir = tempDir("paths-ports");
  writeFileSync(dir.file("admin-password"), `${password}\n`, { mode: 0o600 });
  mkdirSync(dir.file("ui"));
  writeFileSync(dir.file("ui/index.html"), "<!doctype html><title>Pier</title>");
  server = await startPierServer({ dataDir: dir.file("data"), args: ["--admin-password-file", dir.file("admin-password"), "--ui-dir", dir.file("ui")] });
  ca = readFileSync(dir.file("data/ca/ca.crt"));
  const api = new PierApi(`https://localhost:${server.httpsPort}`, { ca });
  const login = await api.call<{ jwt: string }>("POST", "/api/auth", { Username: "admin", Password: password });
  jwt = login.body.jwt;
  agent = startPierAgent({ edgeId: "edge-paths", edgeKey: server.edgeKey, dataDir: dir.file("agent") });
  environmentId = Number((await agent.waitFor(/as environment (\d+)/))[1]);
  expect((await call(server.httpsPort, "POST", `/api/endpoints/${environmentId}/edge/trust`)).status).toBe(204);
});

afterAll(async () => {
  await agent.stop();
  await server.stop();
  await dir[Symbol.asyncDispose]();
});

describe("the tunnel port serves the edge protocol only", () => {
  const docker = () => `/api/endpoints/${environmentId}/docker/containers/json`;
  const probes = (): [string, string, string | undefined][] => [
    ["POST", "/api/auth", JSON.stringify({ Username: "admin", Password: password })],
    ["POST", "/api/users/admin/init", JSON.stringify({ Username: "admin2", Password: password })],
    ["GET", "/api/openapi.json", undefined],
    ["GET", "/", undefined],
    ["GET", docker(), undefined],
    ["GET", "/api/endpoints", undefined],
    ["GET", "/api/system/status", undefined],
  ];

  it("answers the HTTPS port's routes on the HTTPS port (the precondition)", async () => {
    const [auth, init, openapi, ui, containers, endpoints, status] = await Promise.all(probes().map(([method, path, body]) => call(server.httpsPort, method, path, body === undefined ? {} : { body })));
    expect(auth?.status).toBe(200);
    expect([403, 409]).toContain(init?.status);
    expect(openapi?.status).toBe(200);
    expect(ui?.status).toBe(200);
    expect(containers?.status, containers?.text).toBe(200);
    expect(endpoints?.status).toBe(200);
    expect(status?.status).toBe(200);
  });

  it("answers 404 in the one error shape for every one of them on the tunnel port, with or without a session token", async () => {
    for (const [method, path, body] of probes()) {
      for (const auth of [true, false]) {
        const answer = await call(server.tunnelPort, method, path, { ...(body === undefined ? {} : { body }), auth });
        expectErrorShape(answer, 404, "not_found");
        expect(answer.json["message"]).toMatch(/tunnel port: it serves the edge protocol only/);
        expect(answer.json["fix"]).toMatch(/HTTPS port/);
      }
    }
  });

  it("refuses an upgrade on the tunnel port that the HTTPS port hands to the Docker proxy", async () => {
    const upgrade = { connection: "Upgrade", upgrade: "tcp" };
    // Docker answers _ping without taking the connection over: proof the proxy got it.
    const https = await call(server.httpsPort, "GET", `/api/endpoints/${environmentId}/docker/_ping`, { headers: upgrade });
    expect(https.status, https.text).toBe(200);
    expect(https.text).toBe("OK");
    const tunnel = await call(server.tunnelPort, "GET", `/api/endpoints/${environmentId}/docker/_ping`, { headers: upgrade });
    expectErrorShape(tunnel, 404, "not_found");
    expect(tunnel.headers["connection"]).toBe("close");
  });

  it("still carries the edge session: the agent's key names the tunnel port and Docker answers through it", async () => {
    expect(decodeEdgeKey(server.edgeKey).tunnelAddress).toBe(`127.0.0.1:${server.tunnelPort}`);
    expect(agent.output()).toMatch(/as environment \d+/);
    const containers = await call(server.httpsPort, "GET", docker());
    expect(containers.status).toBe(200);
    expect(Array.isArray(JSON.parse(containers.text))).toBe(true);
    // An edge route on the tunnel port still answers as the edge protocol does (here: a bad hello).
    expectErrorShape(await call(server.tunnelPort, "POST", "/api/edge/v1/checkin", { body: "{}", auth: false }), 400, "message_malformed");
  });
});

describe("one canonical path", () => {
  it("refuses a Docker-proxy path that resolves to another API route with 400 (it used to answer 200 from /api/users)", async () => {
    const direct = await call(server.httpsPort, "GET", "/api/users/1/tokens");
    expect(direct.status).toBe(200);
    for (const path of [
      `/api/endpoints/${environmentId}/dockerX/../../../users/1/tokens`,
      `/api/endpoints/${environmentId}/docker/../../../users/1/tokens`,
      `/api/endpoints/${environmentId}/docker/%2e%2e/%2e%2e/%2e%2e/users/1/tokens`,
      `/api/endpoints/${environmentId}/docker%2f..%2f..%2f..%2fusers/1/tokens`,
      `/api/endpoints/${environmentId}/docker/containers%2fjson`,
      `/api/endpoints/${environmentId}/docker/containers\\..\\..\\json`,
      `/api/endpoints/${environmentId}/docker//containers/json`,
      `/x/../api/users/1/tokens`,
    ]) {
      const answer = await call(server.httpsPort, "GET", path);
      expectErrorShape(answer, 400, "bad_request");
      expect(answer.json["fix"], path).toMatch(/no `\.` or `\.\.` segments/);
    }
  });

  it("refuses the traversal over HTTP/2 too", async () => {
    const session = connectH2(`https://localhost:${server.httpsPort}`, { ca });
    try {
      const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const stream = session.request({ ":method": "GET", ":path": `/api/endpoints/${environmentId}/dockerX/../../../users/1/tokens`, authorization: `Bearer ${jwt}` });
        let status = 0;
        let text = "";
        stream.on("response", (headers) => (status = Number(headers[":status"])));
        stream.setEncoding("utf8");
        stream.on("data", (chunk: string) => (text += chunk));
        stream.on("end", () => resolve({ status, text }));
        stream.on("error", reject);
      });
      expect(answer.status).toBe(400);
      expect(JSON.parse(answer.text)).toMatchObject({ code: "bad_request" });
    } finally {
      session.close();
    }
  });

  it("still routes a normal Docker path, with its query untouched", async () => {
    const listed = await call(server.httpsPort, "GET", `/api/endpoints/${environmentId}/docker/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ name: ["../../x"] }))}`);
    expect(listed.status, listed.text).toBe(200);
    expect(JSON.parse(listed.text)).toEqual([]);
    const version = await call(server.httpsPort, "GET", `/api/endpoints/${environmentId}/docker/v1.41/version`);
    expect(version.status).toBe(200);
    expect(version.json["ApiVersion"]).toMatch(/^\d+\.\d+$/);
  });
});

describe("pier docker-proxy forwards origin-form paths only", () => {
  let proxy: PierDockerProxy;

  /** One raw HTTP/1.1 request on the proxy's Unix socket, exactly as written; the answer as text. */
  function raw(head: string): Promise<{ status: number; json: Record<string, unknown>; text: string }> {
    return new Promise((resolve, reject) => {
      const socket = connectSocket(dir.file("edge.sock"));
      let text = "";
      socket.setEncoding("utf8");
      socket.on("data", (chunk: string) => (text += chunk));
      socket.on("end", () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), json: parse(text.slice(text.indexOf("\r\n\r\n") + 4)), text }));
      socket.on("error", reject);
      socket.write(`${head}\r\nHost: docker\r\nConnection: close\r\n\r\n`);
    });
  }

  beforeAll(async () => {
    const token = await call(server.httpsPort, "POST", "/api/users/1/tokens", { body: JSON.stringify({ description: "docker-proxy paths" }) });
    writeFileSync(dir.file("api-key"), `${String(token.json["rawAPIKey"])}\n`, { mode: 0o600 });
    proxy = await startPierDockerProxy(["--env", String(environmentId), "--listen", `unix://${dir.file("edge.sock")}`, "--url", `https://localhost:${server.httpsPort}`, "--ca", dir.file("data/ca/ca.crt"), "--api-key-file", dir.file("api-key")]);
  });
  afterAll(async () => {
    await proxy.stop();
  });

  it("forwards an origin-form path (the precondition): the docker CLI and a raw request both work", async () => {
    expect(docker(["version", "--format", "{{.Server.APIVersion}}"], { DOCKER_HOST: proxy.dockerHost })).toMatch(/^\d+\.\d+$/);
    const ping = await raw("GET /v1.41/_ping HTTP/1.1");
    expect(ping.status, ping.text).toBe(200);
  });

  it("refuses absolute-form, authority-form, `*`, dot segments and encoded slashes with a 400 the docker CLI can show", async () => {
    for (const head of [
      "GET http://localhost/v1.41/containers/json HTTP/1.1",
      `GET https://localhost:${server.httpsPort}/api/users/1/tokens HTTP/1.1`,
      "OPTIONS * HTTP/1.1",
      "GET /v1.41/../../../users/1/tokens HTTP/1.1",
      "GET /v1.41/containers/%2e%2e/%2e%2e/%2e%2e/users/1/tokens HTTP/1.1",
      "GET /v1.41/containers%2fjson HTTP/1.1",
      "GET /v1.41/containers%5Cjson HTTP/1.1",
      "POST /v1.41/containers/x/../../../../users/1/tokens HTTP/1.1\r\nUpgrade: tcp\r\nConnection: Upgrade",
    ]) {
      const answer = await raw(head);
      expect(answer.status, `${head}\n${answer.text}`).toBe(400);
      expect(answer.json["message"], head).toMatch(/^pier docker-proxy forwards Docker Engine API paths only: /);
      expect(answer.json["code"]).toBe("bad_request");
    }
    const connect = await raw(`CONNECT localhost:${server.httpsPort} HTTP/1.1`);
    expect(connect.status, connect.text).toBe(400);
    expect(connect.json["message"]).toMatch(/origin-form/);
  });
});

describe("one error shape on the wire", () => {
  it("API: unknown route, validation (field as a dotted path, no JSON-string details), authentication", async () => {
    expectErrorShape(await call(server.httpsPort, "GET", "/api/nothing-here"), 404, "not_found");
    const invalid = await call(server.httpsPort, "POST", "/api/auth", { body: JSON.stringify({ Username: "admin" }), auth: false });
    expectErrorShape(invalid, 400, "bad_request");
    expect(invalid.json["field"]).toBe("Password");
    expect(invalid.json["details"]).toBeUndefined();
    expectErrorShape(await call(server.httpsPort, "GET", "/api/endpoints", { auth: false }), 401, "unauthorized");
    expectErrorShape(await call(server.httpsPort, "POST", "/api/auth", { body: "{not json", auth: false }), 400, "bad_request");
  });

  it("Docker proxy: an unknown environment, keeping `message` for the docker CLI", async () => {
    const answer = await call(server.httpsPort, "GET", "/api/endpoints/9999/docker/containers/json");
    expectErrorShape(answer, 404, "not_found");
    expect(answer.json["message"]).toBe("Environment 9999 does not exist.");
  });

  it("edge routes and static UI", async () => {
    expectErrorShape(await call(server.httpsPort, "POST", "/api/edge/v1/session", { body: "{}", auth: false }), 505, "http_version_not_supported");
    const missing = await call(server.httpsPort, "GET", "/missing.js", { auth: false });
    expectErrorShape(missing, 404, "not_found");
    expect(missing.headers["content-security-policy"]).toMatch(/default-src 'self'/);
  });

  it("an internal error answers 500 {code: internal} with no stack frame, file path or internal message", async () => {
    // A real failure inside the server: the table the route reads is gone.
    const db = new DatabaseSync(dir.file("data/pier.db"));
    try {
      db.exec("DROP TABLE api_tokens");
    } finally {
      db.close();
    }
    const answer = await call(server.httpsPort, "GET", "/api/users/1/tokens");
    expectErrorShape(answer, 500, "internal");
    expect(answer.json).toEqual({ code: "internal", message: "The server failed to handle this request; see the server log." });
    expect(answer.text).not.toMatch(/ at |\/work|\.ts\b|api_tokens|no such table|sqlite/i);
    // The precondition: the server did fail inside, and its log says how.
    await server.waitFor(/no such table: api_tokens/);
  });
});
