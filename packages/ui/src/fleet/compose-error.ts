/**
 * Where in the compose file the server's validation error points. The server names the place
 * by its path (`services.web.build: not supported …`, docs/fleet.md "Edge stacks") or, for YAML
 * that does not parse, by line; the editor marks that line and shows the message beside it.
 */

/** What the editor marks: the path the server named, and its line (1-based) when found in the text. */
export interface ComposeErrorLocation {
  path: string | undefined;
  line: number | undefined;
}

const pathPrefix = /^((?:[A-Za-z0-9_$-]+|\[\d+\])(?:(?:\.|\/)[^\s:/.[\]]+|\[\d+\])*|\/[^\s:]*):\s/;

/** What the server puts before the path (`Invalid stackFileContent: services.web.build: …`). */
const fieldPrefix = /^Invalid [A-Za-z]+: /;

/** A path as segments (`services.web.ports[0]`, `services.web.ports.0` or `/services/web`). */
function segmentsOf(path: string): string[] {
  return (path.startsWith("/") ? path.slice(1).split("/") : path.replace(/\[(\d+)\]/g, ".$1").split(".")).filter((segment) => segment !== "");
}

/** The path at the start of a message (`services.web.ports[0]: …` or `/services/web: …`), as segments. */
function pathOf(message: string): { path: string; segments: string[] } | undefined {
  const match = pathPrefix.exec(message.replace(fieldPrefix, ""));
  if (!match?.[1]) return undefined;
  const path = match[1];
  const segments = segmentsOf(path);
  // A single word before a colon is a sentence ("Error: …"), not a place in the file.
  return segments.length > 1 || path.startsWith("services") ? { path, segments } : undefined;
}

const indentOf = (line: string) => line.length - line.trimStart().length;
const isContent = (line: string) => line.trim() !== "" && !line.trimStart().startsWith("#");
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * The line (0-based) of a path in block-style YAML: each segment is a key (or, when numeric, the
 * n-th `-` item) directly under the previous one. Returns the deepest segment found, so a path
 * into a flow sequence (`ports: ["80:80"]`) still points at its key.
 */
function lineOfPath(text: string, segments: readonly string[]): number | undefined {
  const lines = text.split(/\r?\n/);
  let start = 0;
  let parentIndent = -1;
  let found: number | undefined;
  for (const segment of segments) {
    let childIndent: number | undefined;
    let hit: number | undefined;
    let items = 0;
    for (let index = start; index < lines.length; index += 1) {
      const line = lines[index] ?? "";
      if (!isContent(line)) continue;
      const indent = indentOf(line);
      if (indent <= parentIndent) break;
      childIndent ??= indent;
      if (indent !== childIndent) continue;
      const content = line.slice(indent);
      if (/^\d+$/.test(segment)) {
        if (content.startsWith("- ") || content === "-") {
          if (items === Number(segment)) hit = index;
          items += 1;
        }
      } else if (new RegExp(`^(["']?)${escape(segment)}\\1\\s*:(\\s|$)`).test(content)) hit = index;
      if (hit !== undefined) break;
    }
    if (hit === undefined || childIndent === undefined) return found;
    found = hit;
    const line = lines[hit] ?? "";
    if (line.slice(childIndent).startsWith("-")) {
      // An item's mapping starts on the dash's line: read it as if the dash were a space.
      lines[hit] = `${line.slice(0, childIndent)} ${line.slice(childIndent + 1)}`;
      start = hit;
    } else start = hit + 1;
    parentIndent = childIndent;
  }
  return found;
}

/**
 * Finds the line a validation message points at in the compose text: by the path the server
 * gave in its `details.path` when it did, else by the path the message starts with, else by the
 * line a YAML error names.
 *
 * @example
 * composeErrorLocation("Invalid stackFileContent: services.web.build: not supported", "services:\n  web:\n    build: .\n");
 * // { path: "services.web.build", line: 3 }
 */
export function composeErrorLocation(message: string, text: string, detailsPath?: unknown): ComposeErrorLocation {
  const lineMatch = /\bline (\d+)\b/i.exec(message);
  const named = typeof detailsPath === "string" && detailsPath !== "" ? { path: detailsPath, segments: segmentsOf(detailsPath) } : pathOf(message);
  if (named) {
    const line = lineOfPath(text, named.segments);
    if (line !== undefined) return { path: named.path, line: line + 1 };
  }
  if (lineMatch?.[1]) return { path: named?.path, line: Number(lineMatch[1]) };
  return { path: named?.path, line: undefined };
}
