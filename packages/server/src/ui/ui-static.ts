import { createReadStream } from "node:fs";
import { realpath, stat } from "node:fs/promises";
import type { OutgoingHttpHeaders } from "node:http";
import { extname, join, resolve, sep } from "node:path";
import type { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ServerError } from "../errors.ts";
import { sendError } from "../http/error-response.ts";
import type { TlsRequest, TlsResponse } from "../tls/index.ts";

/** Headers every UI response carries (docs/ui.md): Mantine injects inline styles, hence `style-src 'unsafe-inline'`. */
export const uiSecurityHeaders: Readonly<Record<string, string>> = {
  "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

const contentTypes: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".woff2": "font/woff2",
  ".json": "application/json",
  ".ico": "image/x-icon",
  ".map": "application/json",
};

const immutable = "public, max-age=31536000, immutable";

const notBuilt = () =>
  new ServerError("unavailable", "The web UI is not built; the API under /api/ works without it.", {
    fix: "Run `npm run build:ui` in the Pier checkout, or start the server with --ui-dir pointing at a built UI.",
  });

/** The response methods both Node response types share (TypeScript cannot unify their overloads). */
type UiResponse = Writable & { writeHead(status: number, headers: OutgoingHttpHeaders): unknown; end(chunk?: string): unknown; readonly headersSent: boolean };

/** Serves one request, or returns `undefined` when it is not the UI's (not GET/HEAD, or under `/api/`). */
export type UiStaticHandler = (req: TlsRequest, res: TlsResponse) => Promise<void> | undefined;

/** Where a request path leads inside the UI directory, or why it leads nowhere. */
type Target = { readonly kind: "file"; readonly path: string; readonly relative: string } | { readonly kind: "index" } | { readonly kind: "refused" };

/**
 * Maps a request path to a file under `root`. Refuses (never serves) `..` segments, encoded
 * or not, NUL bytes, malformed escapes and hidden (`.`-prefixed) names; paths whose last
 * segment has no extension are client-side routes and get `index.html`.
 */
function targetOf(root: string, url: string): Target {
  const rawPath = url.split("?", 1)[0] ?? "/";
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    return { kind: "refused" };
  }
  if (path.includes("\0") || path.includes("\\")) return { kind: "refused" };
  const segments = path.split("/").filter((segment) => segment !== "");
  if (segments.some((segment) => segment.startsWith("."))) return { kind: "refused" };
  const last = segments.at(-1);
  if (last === undefined || extname(last) === "") return { kind: "index" };
  const relative = segments.join("/");
  const file = resolve(root, relative);
  // Belt and braces after the segment check: whatever the decoding did, stay inside root.
  if (!file.startsWith(root + sep)) return { kind: "refused" };
  return { kind: "file", path: file, relative };
}

/** Answers an error in the one error shape (http/error-response.ts), with the UI's headers. */
function fail(res: UiResponse, error: ServerError, head: boolean): void {
  sendError(res, error, uiSecurityHeaders, head);
}

/**
 * Creates the handler that serves the built web UI (`packages/ui/dist`) from `dir` on the HTTPS
 * listener: every `GET`/`HEAD` outside `/api/` answers a file from the directory, or
 * `index.html` for client-side routes (history API). Files under `assets/` carry content
 * hashes and are cached for a year; `index.html` is revalidated every time. Every answer has
 * the UI's Content-Security-Policy, `nosniff` and `no-referrer`. Without `index.html` the
 * answer is a 503 page saying how to build the UI. These routes need no session: they are
 * static code, and the data behind them is under `/api/`.
 *
 * @example
 * const ui = createUiStatic("packages/ui/dist");
 * const handler = (req, res) => ui(req, res) ?? api(req, res);
 */
export function createUiStatic(dir: string): UiStaticHandler {
  const root = resolve(dir);
  // The real path of the root, found once it exists, so a symbolic link inside it cannot lead out.
  let realRoot: string | undefined;

  const inside = async (path: string): Promise<boolean> => {
    realRoot ??= await realpath(root);
    const real = await realpath(path);
    return real.startsWith(realRoot + sep);
  };

  const serveFile = async (req: TlsRequest, res: UiResponse, path: string, cacheControl: string): Promise<boolean> => {
    let info;
    try {
      info = await stat(path);
      if (!info.isFile() || !(await inside(path))) return false;
    } catch {
      return false;
    }
    const etag = `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
    const headers: OutgoingHttpHeaders = {
      ...uiSecurityHeaders,
      "content-type": contentTypes[extname(path).toLowerCase()] ?? "application/octet-stream",
      "cache-control": cacheControl,
      etag,
      "last-modified": info.mtime.toUTCString(),
    };
    if (req.headers["if-none-match"] === etag) {
      res.writeHead(304, headers);
      res.end();
      return true;
    }
    res.writeHead(200, { ...headers, "content-length": info.size });
    if (req.method === "HEAD") res.end();
    // A failure here is the client going away or the file vanishing mid-read; pipeline has
    // already destroyed the response, and there is nobody left to answer.
    else await pipeline(createReadStream(path), res).catch(() => undefined);
    return true;
  };

  return (req, res) => {
    const method = req.method ?? "GET";
    const url = req.url ?? "/";
    if ((method !== "GET" && method !== "HEAD") || url.startsWith("/api/")) return undefined;
    const out = res as unknown as UiResponse;
    const head = method === "HEAD";
    return (async () => {
      const target = targetOf(root, url);
      switch (target.kind) {
        case "refused":
          fail(out, new ServerError("bad_request", "This path is not allowed.", { fix: "Request the UI's files by their plain path: no `..`, hidden names, backslashes or NUL." }), head);
          return;
        case "file": {
          const cache = target.relative.startsWith("assets/") ? immutable : "no-cache";
          if (!(await serveFile(req, out, target.path, cache))) fail(out, new ServerError("not_found", `Not found: ${target.relative}.`), head);
          return;
        }
        case "index":
          if (!(await serveFile(req, out, join(root, "index.html"), "no-cache"))) fail(out, notBuilt(), head);
          return;
      }
    })();
  };
}
