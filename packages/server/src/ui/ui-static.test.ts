import { mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import https from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestCaServer, startTestCaServer } from "../api/admin-server.testkit.ts";
import type { RunningServer } from "../server.ts";
import type { TempDir } from "../store/temp-dir.testkit.ts";
import { type TestCa, h2Get } from "../tls/tls-fixtures.testkit.ts";

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

const csp = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'";
const indexHtml = '<!doctype html><html><head><script type="module" src="/assets/index-abc123.js"></script></head><body><div id="root"></div></body></html>';

describe("the web UI on the HTTPS listener", () => {
  let started: TestCaServer;
  let ca: TestCa;
  let dir: TempDir;
  let server: RunningServer;

  function get(path: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const request = https.request({ host: "127.0.0.1", port: server.httpsAddress.port, method: options.method ?? "GET", path, ca: ca.pem, servername: "", agent: false, headers: options.headers ?? {} }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      request.on("error", reject);
      request.end();
    });
  }

  const expectSecurityHeaders = (answer: Answer) => {
    expect(answer.headers["content-security-policy"]).toBe(csp);
    expect(answer.headers["x-content-type-options"]).toBe("nosniff");
    expect(answer.headers["referrer-policy"]).toBe("no-referrer");
  };

  /** The built UI in `dir/dist`, with a dotfile and a symlink out of it the server must not serve. */
  function writeUiDist(into: TempDir): string {
    mkdirSync(into.file("dist/assets"), { recursive: true });
    writeFileSync(into.file("dist/index.html"), indexHtml);
    writeFileSync(into.file("dist/assets/index-abc123.js"), "console.log('pier');\n");
    writeFileSync(into.file("dist/assets/index-abc123.css"), "body{margin:0}\n");
    writeFileSync(into.file("dist/assets/logo.svg"), "<svg xmlns='http://www.w3.org/2000/svg'/>");
    writeFileSync(into.file("dist/favicon.ico"), Buffer.from([0, 0, 1, 0]));
    writeFileSync(into.file("dist/.env"), "SECRET=1");
    writeFileSync(into.file("secret.txt"), "outside the UI directory");
    symlinkSync(into.file("secret.txt"), into.file("dist/assets/leak.txt"));
    return into.file("dist");
  }

  beforeAll(async () => {
    started = await startTestCaServer("ui", { config: (into) => ({ uiDir: writeUiDist(into) }) });
    ({ ca, dir, server } = started);
  });
  afterAll(async () => {
    await started[Symbol.asyncDispose]();
  });

  it("answers index.html for / and for client-side routes, never cached", async () => {
    for (const path of ["/", "/login", "/environments/7", "/settings/edge?tab=mtls", "/api"]) {
      const answer = await get(path);
      expect(answer.status, path).toBe(200);
      expect(answer.body).toBe(indexHtml);
      expect(answer.headers["content-type"]).toBe("text/html; charset=utf-8");
      expect(answer.headers["cache-control"]).toBe("no-cache");
      expectSecurityHeaders(answer);
    }
  });

  it("serves assets with their content type, cached for a year, and HEAD without a body", async () => {
    const script = await get("/assets/index-abc123.js");
    expect(script).toMatchObject({ status: 200, body: "console.log('pier');\n" });
    expect(script.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(script.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expectSecurityHeaders(script);
    expect((await get("/assets/index-abc123.css")).headers["content-type"]).toBe("text/css; charset=utf-8");
    expect((await get("/assets/logo.svg")).headers["content-type"]).toBe("image/svg+xml");
    const icon = await get("/favicon.ico");
    expect(icon.headers["content-type"]).toBe("image/x-icon");
    expect(icon.headers["cache-control"]).toBe("no-cache");

    const head = await get("/assets/index-abc123.js", { method: "HEAD" });
    expect(head).toMatchObject({ status: 200, body: "" });
    expect(head.headers["content-length"]).toBe(String("console.log('pier');\n".length));
    const again = await get("/assets/index-abc123.js", { headers: { "if-none-match": String(script.headers["etag"]) } });
    expect(again).toMatchObject({ status: 304, body: "" });
  });

  it("serves HTTP/2 clients too", async () => {
    const answer = await h2Get(server.httpsAddress.port, "/assets/index-abc123.js", { ca: ca.pem });
    expect(answer).toMatchObject({ status: 200, body: "console.log('pier');\n" });
  });

  it("answers 404 for a missing file with an extension, with the security headers", async () => {
    const missing = await get("/assets/missing-0000.js");
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toEqual({ code: "not_found", message: "Not found: assets/missing-0000.js." });
    expectSecurityHeaders(missing);
  });

  it("refuses path traversal, encoded or not, NUL bytes and hidden files", async () => {
    for (const path of [
      "/../secret.txt",
      "/assets/../../secret.txt",
      "/%2e%2e/secret.txt",
      "/assets/%2E%2E/%2e%2e/secret.txt",
      "/..%2fsecret.txt",
      "/assets/..%5c..%5csecret.txt",
      "/index.html%00.js",
      "/%zz.js",
      "/.env",
    ]) {
      const answer = await get(path);
      expect(answer.status, path).toBe(400);
      expect(JSON.parse(answer.body)).toMatchObject({ code: "bad_request", message: expect.any(String) as unknown, fix: expect.any(String) as unknown });
      expect(answer.body).not.toContain("outside the UI directory");
      expectSecurityHeaders(answer);
    }
    // A symbolic link that leads out of the directory is not followed.
    const link = await get("/assets/leak.txt");
    expect(link.status).toBe(404);
    expect(link.body).not.toContain("outside the UI directory");
  });

  it("leaves /api/ to the API and other methods to whoever handles them", async () => {
    const api = await get("/api/system/status");
    expect(api.status).toBe(200);
    expect(api.headers["content-type"]).toMatch(/^application\/json/);
    expect(api.headers["content-security-policy"]).toBeUndefined();
    const unknown = await get("/api/nothing.js");
    expect(unknown.status).toBe(401);
    expect((await get("/login", { method: "POST" })).headers["content-type"]).toMatch(/^application\/json/);
  });

  it("serves the UI on the HTTPS listener only, not on the tunnel listener", async () => {
    const answer = await h2Get(server.tunnelAddress.port, "/login", { ca: ca.pem });
    expect(answer.status).toBe(404);
    expect(answer.body).not.toContain("<div id=\"root\">");
  });

  it("answers 503 with how to build the UI when index.html is missing", async () => {
    rmSync(dir.file("dist/index.html"));
    try {
      for (const path of ["/", "/login"]) {
        const answer = await get(path);
        expect(answer.status).toBe(503);
        expect(answer.headers["content-type"]).toBe("application/json");
        expect(JSON.parse(answer.body)).toEqual({ code: "unavailable", message: expect.stringContaining("The web UI is not built") as unknown, fix: expect.stringContaining("npm run build:ui") as unknown });
        expectSecurityHeaders(answer);
      }
    } finally {
      writeFileSync(dir.file("dist/index.html"), indexHtml);
    }
  });
});
