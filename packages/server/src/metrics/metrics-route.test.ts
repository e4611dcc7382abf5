import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ServerError } from "../errors.ts";
import type { User } from "../store/store.ts";
import { createMetricsRoute, metricsCredentials } from "./metrics-route.ts";

const token = `pier_${"a".repeat(43)}`;
const errors: string[] = [];
let failRender = false;
let server: Server;

/** A request to the route's server: status, content type and body. */
function call(method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: (server.address() as AddressInfo).port, method, path, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: res.headers["content-type"], body }));
    });
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  const route = createMetricsRoute({
    metrics: { contentType: "text/plain; version=0.0.4; charset=utf-8", render: () => (failRender ? Promise.reject(new Error("collector broke")) : Promise.resolve("pier_agents_connected 1\n")) },
    // The real route is given authenticateRequest; here one token stands for the store.
    authenticate: ({ apiKey }) => (apiKey === token ? Promise.resolve({ id: 1 } as User) : Promise.reject(new ServerError("unauthorized", "Invalid API key."))),
    log: (_level, message) => errors.push(message),
  });
  server = createServer((req, res) => {
    if (!route(req, res)) res.writeHead(404).end("not mine");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("GET /metrics", () => {
  it("answers the metrics to an access token sent as Prometheus sends it (Bearer) or as X-API-Key", async () => {
    const ways: Record<string, string>[] = [{ authorization: `Bearer ${token}` }, { "x-api-key": token }];
    for (const headers of ways) {
      const answer = await call("GET", "/metrics", headers);
      expect(answer).toEqual({ status: 200, type: "text/plain; version=0.0.4; charset=utf-8", body: "pier_agents_connected 1\n" });
    }
    expect((await call("HEAD", "/metrics?x=1", { "x-api-key": token })).status).toBe(200);
  });

  it("refuses anyone else with 401 in the API's error shape", async () => {
    const strangers: Record<string, string>[] = [{}, { authorization: "Bearer pier_wrong" }, { authorization: "Basic YTpi" }];
    for (const headers of strangers) {
      const answer = await call("GET", "/metrics", headers);
      expect(answer.status).toBe(401);
      expect(JSON.parse(answer.body)).toMatchObject({ code: "unauthorized" });
    }
  });

  it("leaves other paths and methods to the rest of the server", async () => {
    expect((await call("POST", "/metrics", { "x-api-key": token })).body).toBe("not mine");
    expect((await call("GET", "/metrics/x", { "x-api-key": token })).body).toBe("not mine");
  });

  it("answers 500 without the cause when a collector fails, and logs the cause", async () => {
    failRender = true;
    try {
      const answer = await call("GET", "/metrics", { "x-api-key": token });
      expect(answer.status).toBe(500);
      expect(answer.body).not.toContain("collector broke");
      expect(errors.some((line) => line.includes("collector broke"))).toBe(true);
    } finally {
      failRender = false;
    }
  });
});

describe("metricsCredentials", () => {
  it("takes a bearer access token as an API key, and leaves a session (JWT) bearer as a session", () => {
    expect(metricsCredentials({ authorization: `Bearer ${token}` })).toEqual({ apiKey: token, authorization: undefined });
    expect(metricsCredentials({ authorization: "Bearer eyJhbGciOi.x.y" })).toEqual({ apiKey: undefined, authorization: "Bearer eyJhbGciOi.x.y" });
    expect(metricsCredentials({ "x-api-key": token, authorization: "Bearer eyJ.x.y" })).toEqual({ apiKey: token, authorization: "Bearer eyJ.x.y" });
  });
});
