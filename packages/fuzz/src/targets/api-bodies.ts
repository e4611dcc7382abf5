import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { CertificateAuthority } from "@pier/pki";
import { type RunningServer, startServer } from "@pier/server";
import { type FuzzTarget, type Verdict, describeError } from "../harness.ts";

/** An HTTP request can wait on the network and a busy machine: this long without an answer is a hang. */
const requestTimeoutMs = 5_000;
/**
 * Routes that hash a password (scrypt N=2^17, 128 MiB: about 0.3 s alone, several seconds on a
 * loaded 2-core machine, by design) get longer before their answer counts as a hang.
 */
const passwordRouteTimeoutMs = 30_000;
const passwordRoutes = new Set(["POST /api/auth", "POST /api/users/admin/init"]);
const password = "fuzz horse battery staple";

interface Operation {
  readonly method: string;
  readonly path: string;
  readonly properties: string[];
}

interface Case {
  readonly operation: number;
  readonly id: string;
  readonly body: string | Buffer;
  readonly contentType: string | null;
  readonly authenticated: boolean;
}

interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
}

function request(agent: https.Agent, port: number, ca: string, method: string, path: string, headers: Record<string, string>, body?: string | Buffer, timeoutMs = requestTimeoutMs): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: "127.0.0.1", port, method, path, ca, servername: "", agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers["content-type"] ?? ""), text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** The JSON object of an error answer, or why it is not one. */
function errorBody(answer: Answer): string | undefined {
  if (!answer.contentType.includes("application/json")) return `content-type ${answer.contentType || "(none)"}`;
  let body: unknown;
  try {
    body = JSON.parse(answer.text);
  } catch {
    return "a body that is not JSON";
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) return "a JSON body that is not an object";
  const record = body as Record<string, unknown>;
  if (typeof record["message"] !== "string" || record["message"] === "") return "no message";
  if ("code" in record && typeof record["code"] !== "string") return "a code that is not a string";
  return undefined;
}

// A stack frame or a source path: what must never reach a client.
const leak = /\n\s+at |node:internal|\/src\/[\w/-]+\.ts|\/node_modules\//;

const nonJson = fc.oneof(
  fc.string({ unit: "binary", maxLength: 200 }),
  fc.json().map((text) => text.slice(0, Math.max(0, text.length - 1))),
  fc.constantFrom("", "null", "[]", "\uFEFF{}", "{'Username':'admin'}", "1e999999", "-0", '{"__proto__":{"admin":true}}', '{"constructor":{"prototype":{}}}', `${"[".repeat(20_000)}${"]".repeat(20_000)}`, '{"a":"\\ud800"}'),
);

function shapedBody(properties: readonly string[]): fc.Arbitrary<string> {
  const value = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.string({ maxLength: 3_000 }),
    fc.constantFrom(0, -1, 1.5, 2 ** 53 + 1, 1e308, "", "https://", "host:99999", "[::1]:1", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", true, null),
  );
  return fc.dictionary(properties.length > 0 ? fc.constantFrom(...properties) : fc.string({ maxLength: 8 }), value, { maxKeys: Math.max(1, properties.length) }).map((o) => JSON.stringify(o));
}

/**
 * The HTTP API's request bodies on a real server (temporary data directory, built-in CA, an
 * admin from --admin-password-file): every route with a body, from the server's own OpenAPI
 * description, gets arbitrary JSON, schema-shaped objects with wrong values, non-JSON, odd
 * content types and the occasional oversized body, with and without a session. No answer may
 * be a 5xx or take longer than 5 s; every 4xx is a JSON object with a message and no stack
 * trace or source path.
 */
export const apiBodiesTarget: FuzzTarget = {
  name: "api-bodies",
  defaultRuns: 100_000,
  async prepare() {
    const dir = mkdtempSync(join(tmpdir(), "pier-fuzz-api-"));
    writeFileSync(join(dir, "admin-password"), password, { mode: 0o600 });
    const errors: string[] = [];
    let server: RunningServer | undefined;
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      server = await startServer({
        bindHost: "127.0.0.1",
        bindPort: 0,
        tunnelPort: 0,
        dataDir: join(dir, "data"),
        adminPasswordFile: join(dir, "admin-password"),
        log: (level, message) => {
          if (level === "error") errors.push(message);
        },
      });
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
    const port = server.httpsAddress.port;
    const ca = CertificateAuthority.open(join(dir, "data", "ca")).certificatePem;
    const json = { "content-type": "application/json" };
    // Set-up requests wait longer: the login hashes a password on a machine that may be busy.
    const login = await request(agent, port, ca, "POST", "/api/auth", json, JSON.stringify({ Username: "admin", Password: password }), 60_000);
    const jwt = String((JSON.parse(login.text) as Record<string, unknown>)["jwt"]);
    const doc = JSON.parse((await request(agent, port, ca, "GET", "/api/openapi.json", {}, undefined, 60_000)).text) as { paths: Record<string, Record<string, { requestBody?: { content?: Record<string, { schema?: { properties?: Record<string, unknown> } }> } }>> };
    const operations: Operation[] = [];
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const schema = operation.requestBody?.content?.["application/json"]?.schema;
        if (operation.requestBody) operations.push({ method: method.toUpperCase(), path, properties: Object.keys(schema?.properties ?? {}) });
      }
    }
    if (operations.length === 0) throw new Error("the server's OpenAPI description lists no route with a request body");
    const counts = { answered: 0, status4xx: 0, status2xx: 0, oversized: 0, retried: 0 };
    const timing = new Map<string, { n: number; ms: number }>();
    const oversized = Buffer.alloc(1024 * 1024 + 4096, 0x20);
    const arbitrary: fc.Arbitrary<Case> = fc.record({
      operation: fc.nat({ max: operations.length - 1 }),
      id: fc.constantFrom("1", "2", "999999", "0", "-1", "abc", "1.5", "%2e%2e", "1e3"),
      body: fc.oneof(
        { weight: 4, arbitrary: fc.json({ maxDepth: 3 }) },
        { weight: 6, arbitrary: fc.nat({ max: operations.length - 1 }).chain((i) => shapedBody(operations[i]!.properties)) },
        { weight: 2, arbitrary: nonJson },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)) },
        { weight: 1, arbitrary: fc.nat({ max: 2_000 }).map((n) => (n === 0 ? oversized : "{}")) },
      ),
      contentType: fc.oneof(
        { weight: 8, arbitrary: fc.constant("application/json") },
        { weight: 1, arbitrary: fc.constantFrom("application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json; charset=utf-16", "application/merge-patch+json") },
        { weight: 1, arbitrary: fc.constant(null) },
      ),
      authenticated: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    });
    const check = async (input: Case): Promise<Verdict> => {
      const operation = operations[input.operation]!;
      const path = operation.path.replace(/\{[^}]+\}/g, input.id);
      const headers: Record<string, string> = { ...(input.contentType ? { "content-type": input.contentType } : {}), ...(input.authenticated ? { authorization: `Bearer ${jwt}` } : {}) };
      if (input.body === oversized) counts.oversized++;
      const started = performance.now();
      const timeoutMs = passwordRoutes.has(`${operation.method} ${operation.path}`) ? passwordRouteTimeoutMs : requestTimeoutMs;
      let answer: Answer;
      try {
        try {
          answer = await request(agent, port, ca, operation.method, path, headers, input.body, timeoutMs);
        } catch (error) {
          // A kept-alive socket the server closed (after a 413 it stops reading) fails the next
          // request on it: retried once on a new connection, and counted.
          if (!/socket hang up|ECONNRESET|EPIPE/.test(describeError(error))) throw error;
          counts.retried++;
          answer = await request(agent, port, ca, operation.method, path, headers, input.body, timeoutMs);
        }
      } catch (error) {
        const message = describeError(error);
        return { kind: /no answer within/.test(message) ? "hang" : "crash", detail: `${operation.method} ${path}: ${message}` };
      }
      counts.answered++;
      const key = `${operation.method} ${operation.path}`;
      const spent = (timing.get(key) ?? { n: 0, ms: 0 });
      timing.set(key, { n: spent.n + 1, ms: spent.ms + performance.now() - started });
      const where = `${operation.method} ${path} → ${answer.status}`;
      if (performance.now() - started > timeoutMs) return { kind: "hang", detail: `${where} after ${Math.round(performance.now() - started)} ms` };
      if (answer.status >= 500 || answer.status < 200) return { kind: "crash", detail: `${where}: ${answer.text.slice(0, 200)}` };
      if (leak.test(answer.text)) return { kind: "crash", detail: `${where}: the answer leaks a stack trace or a source path` };
      if (answer.status >= 400) {
        counts.status4xx++;
        const wrong = errorBody(answer);
        return wrong ? { kind: "mismatch", detail: `${where}: the error answer has ${wrong}: ${answer.text.slice(0, 200)}` } : { kind: "ok" };
      }
      counts.status2xx++;
      return { kind: "ok" };
    };
    return {
      arbitrary,
      check,
      async: true,
      notes: () => [
        `real server on loopback (HTTPS, keep-alive), ${operations.length} routes with a body from /api/openapi.json: ${operations.map((o) => `${o.method} ${o.path}`).join(", ")}`,
        `answers: ${counts.status4xx} 4xx, ${counts.status2xx} 2xx (valid by chance), ${counts.oversized} oversized bodies, ${counts.retried} retried after the server closed a kept-alive socket; server error log lines: ${errors.length}${errors[0] ? ` (first: ${errors[0].slice(0, 160)})` : ""}`,
        `mean ms per request: ${[...timing].map(([k, v]) => `${k} ${(v.ms / v.n).toFixed(1)}`).join(", ")}`,
      ],
      show: (input: Case) => JSON.stringify({ ...input, operation: operations[input.operation], body: typeof input.body === "string" ? input.body.slice(0, 2_000) : `<${input.body.length} bytes>` }),
      async close() {
        agent.destroy();
        await server?.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};
