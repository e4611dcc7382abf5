/** The query parameter of /login that names the page to return to. */
const nextParameter = "next";

/** The longest page address kept for after login; a longer one returns to Home. */
const maxNextLength = 2048;

/**
 * `/login` with the page asked for, to return to after logging in.
 *
 * @example
 * loginPathFor("/environments/4?tab=images"); // "/login?next=%2Fenvironments%2F4%3Ftab%3Dimages"
 */
export function loginPathFor(path: string): string {
  return path === "/" || path.startsWith("/login") || path.startsWith("/init") ? "/login" : `/login?${new URLSearchParams({ [nextParameter]: path }).toString()}`;
}

/**
 * Where to go after logging in: the `next` of the login page's query when it is a path of this
 * site (one leading slash, no scheme, no backslash), else Home — a crafted link cannot send the
 * user to another site.
 *
 * @example
 * returnPathOf("?next=%2Fedge-stacks"); // "/edge-stacks"
 * returnPathOf("?next=%2F%2Fevil.example"); // "/"
 */
export function returnPathOf(search: string): string {
  const next = new URLSearchParams(search).get(nextParameter);
  if (next === null || next.length > maxNextLength || !next.startsWith("/") || next.startsWith("//") || next.includes("\\") || next.startsWith("/login")) return "/";
  return next;
}
