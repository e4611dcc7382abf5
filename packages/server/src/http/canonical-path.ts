import { ServerError } from "../errors.ts";

/** The longest request path (before `?`) the server routes, in bytes. */
export const maxPathBytes = 8192;

/** A request target reduced to the one path every dispatcher routes on. */
export interface CanonicalTarget {
  /** The canonical path: origin-form, percent-encoded unreserved characters decoded, other escapes in upper case. */
  readonly path: string;
  /** The query as received, with its `?` (empty without one): it passes through untouched. */
  readonly query: string;
  /** `path + query`: what the request's URL becomes. */
  readonly url: string;
}

const unreserved = /^[A-Za-z0-9\-._~]$/;
/** Characters allowed raw in a path (RFC 3986 pchar and "/"), `%` checked separately. */
const pathCharacter = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]$/;

const fix = "Send the path as it is meant to be routed: no `.` or `..` segments (encoded or not), no encoded `/` or `\\`, no `//`, no backslashes or control characters.";

function refuse(message: string): ServerError {
  return new ServerError("bad_request", message, { fix });
}

/**
 * Computes the one path the server routes a request on, or throws `bad_request` (400) naming
 * what is wrong. Made once at the entry of both listeners: the edge routes, the Docker proxy,
 * the static UI and the API all see this path, so none of them can resolve a path another
 * one saw differently (`/api/endpoints/1/dockerX/../../../users` used to reach `/api/users…`
 * through the API's URL normalisation while the Docker proxy's matcher saw something else).
 *
 * Refused: anything but origin-form (`http://host/…`, `host:443`, `*`), dot segments (`.`,
 * `..`, also as `%2e`), encoded slashes (`%2f`, `%5c`), backslashes, NUL and other control
 * characters, `#`, empty segments (`//`), malformed escapes, and paths over `maxPathBytes`.
 * Percent-encoded unreserved characters (`%61` → `a`) are decoded and other escapes
 * upper-cased, as RFC 3986 §6.2.2 normalises. The query passes through untouched.
 *
 * @example
 * canonicalPath("/api/%65ndpoints?all=1") // { path: "/api/endpoints", query: "?all=1", url: "/api/endpoints?all=1" }
 * canonicalPath("/api/endpoints/1/docker/../../users") // throws ServerError bad_request
 */
export function canonicalPath(target: string | undefined): CanonicalTarget {
  const raw = target ?? "";
  if (!raw.startsWith("/")) {
    throw refuse(raw === "*" ? "The request target `*` is not served here." : "The request target must be a path starting with `/` (origin-form), not an absolute URL or an authority.");
  }
  const queryAt = raw.indexOf("?");
  const rawPath = queryAt === -1 ? raw : raw.slice(0, queryAt);
  const query = queryAt === -1 ? "" : raw.slice(queryAt);
  if (rawPath.length > maxPathBytes) throw refuse(`The request path is longer than ${maxPathBytes} bytes.`);
  let path = "";
  for (let i = 0; i < rawPath.length; i++) {
    const char = rawPath[i] ?? "";
    if (char === "%") {
      const hex = rawPath.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw refuse(`The request path has a malformed percent-escape at byte ${i}.`);
      const decoded = String.fromCharCode(parseInt(hex, 16));
      if (decoded === "/" || decoded === "\\") throw refuse("The request path contains an encoded slash (`%2f` or `%5c`).");
      if (decoded === "\0") throw refuse("The request path contains an encoded NUL (`%00`).");
      path += unreserved.test(decoded) ? decoded : `%${hex.toUpperCase()}`;
      i += 2;
    } else if (char === "\\") {
      throw refuse("The request path contains a backslash.");
    } else if (!pathCharacter.test(char)) {
      throw refuse(`The request path contains a character that is not allowed in a path (code ${char.codePointAt(0) ?? 0}).`);
    } else {
      path += char;
    }
  }
  const segments = path.split("/").slice(1);
  segments.forEach((segment, index) => {
    if (segment === "." || segment === "..") throw refuse("The request path contains a dot segment (`.` or `..`, encoded or not).");
    // One trailing empty segment is a trailing slash; any other is `//`.
    if (segment === "" && index !== segments.length - 1) throw refuse("The request path contains an empty segment (`//`).");
  });
  return { path, query, url: path + query };
}
