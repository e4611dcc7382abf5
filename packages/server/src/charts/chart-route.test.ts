import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, request, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { agentChartPath } from "@pier/protocol";
import { createChartRoute } from "./chart-route.ts";

const agentChartDir = join(import.meta.dirname, "../../../../deploy/helm/pier-agent");
const logged: string[] = [];
const servers: Server[] = [];

/** A server answering with the route over `dir`, and "not mine" where it declines. */
async function serve(dir: string): Promise<number> {
  const route = createChartRoute({ dir, log: (level, message) => logged.push(`${level}: ${message}`) });
  await route.prepare();
  const server = createServer((req, res) => {
    if (!route(req, res)) res.writeHead(418).end("not mine");
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

function call(port: number, method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end();
  });
}

let port: number;
beforeAll(async () => {
  port = await serve(agentChartDir);
});
afterAll(async () => {
  await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
});

describe("GET /charts/pier-agent-<version>.tgz", () => {
  it("answers the packaged chart without credentials, cacheable, with an ETag a revalidation matches", async () => {
    const got = await call(port, "GET", agentChartPath);
    expect(got.status).toBe(200);
    expect(got.headers).toMatchObject({ "content-type": "application/gzip", "cache-control": "public, max-age=3600", "x-content-type-options": "nosniff", "content-disposition": `attachment; filename="${agentChartPath.slice("/charts/".length)}"` });
    expect(got.body.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(Number(got.headers["content-length"])).toBe(got.body.length);
    const etag = String(got.headers.etag);
    expect(etag).toMatch(/^"[\w-]{32}"$/);
    const revalidated = await call(port, "GET", `${agentChartPath}?x=1`, { "if-none-match": etag });
    expect([revalidated.status, revalidated.body.length]).toEqual([304, 0]);
    const head = await call(port, "HEAD", agentChartPath);
    expect([head.status, head.headers["content-length"], head.body.length]).toEqual([200, String(got.body.length), 0]);
  });

  it("answers 404 naming the chart it serves for another version or file, and leaves other paths and methods alone", async () => {
    for (const path of ["/charts/pier-agent-9.9.9.tgz", "/charts/pier-server-0.1.0.tgz", "/charts/index.yaml", "/charts/"]) {
      const missing = await call(port, "GET", path);
      expect(missing.status, path).toBe(404);
      expect(JSON.parse(missing.body.toString()), path).toMatchObject({ code: "not_found", message: `No chart at ${path}: this server serves ${agentChartPath} (pier-agent 0.1.0).` });
    }
    expect((await call(port, "POST", agentChartPath)).status).toBe(418);
    expect((await call(port, "GET", "/chartsx/pier-agent-0.1.0.tgz")).status).toBe(418);
  });

  it("answers 503 with the fix when the server was shipped without the chart, and says so in the log at start", async () => {
    const broken = await serve(join(agentChartDir, "no-such-chart"));
    expect(logged.some((line) => /^warn: the agent's Helm chart is not served \(\/charts\/\): .*Chart\.yaml is missing/.test(line))).toBe(true);
    const answer = await call(broken, "GET", agentChartPath);
    expect(answer.status).toBe(503);
    expect(JSON.parse(answer.body.toString())).toMatchObject({ code: "unavailable", fix: expect.stringMatching(/\/opt\/pier\/charts\/pier-agent/) as string });
  });
});
