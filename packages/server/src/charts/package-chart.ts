import { createHash } from "node:crypto";
import { readFile, readdir, stat } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { create } from "tar";
import { parse } from "yaml";
import { ServerError } from "../errors.ts";

/** The most a chart's files may hold together: the agent's chart is ~14 KiB, and the archive is kept in memory. */
export const maxChartBytes = 1024 * 1024;

/** A chart packaged as `helm package` makes it, held in memory. */
export interface PackagedChart {
  readonly name: string;
  readonly version: string;
  /** `<name>-<version>.tgz`. */
  readonly fileName: string;
  /** A gzip'd tar whose entries are `<name>/Chart.yaml`, `<name>/values.yaml`, `<name>/templates/…`. */
  readonly archive: Buffer;
  /** A strong ETag over the archive's bytes: the same on every replica serving the same chart. */
  readonly etag: string;
}

// Chart.yaml's `name` (Helm: lower case, digits, dashes) and `version` (SemVer 2).
const chartName = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const chartVersion = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;

function invalidChart(dir: string, problem: string): ServerError {
  return new ServerError("unavailable", `The agent chart in ${dir} cannot be served: ${problem}.`, {
    fix: "Ship deploy/helm/pier-agent of the same Pier release beside the server (the image has it in /opt/pier/charts/pier-agent).",
  });
}

/** `name` and `version` of the chart's Chart.yaml, checked. */
async function chartIdentity(dir: string): Promise<{ name: string; version: string }> {
  let chart: unknown;
  try {
    chart = parse(await readFile(join(dir, "Chart.yaml"), "utf8"));
  } catch (error) {
    throw invalidChart(dir, `Chart.yaml is missing or not YAML (${(error as Error).message.split("\n", 1)[0] ?? ""})`);
  }
  const { name, version } = (chart ?? {}) as { name?: unknown; version?: unknown };
  if (typeof name !== "string" || !chartName.test(name)) throw invalidChart(dir, "Chart.yaml has no valid name");
  if (typeof version !== "string" || !chartVersion.test(version)) throw invalidChart(dir, "Chart.yaml has no SemVer version");
  return { name, version };
}

/** The `.helmignore` patterns `helm package` honours here: globs on a file's name (`*.swp`, `.DS_Store`). */
async function ignoredNames(dir: string): Promise<RegExp[]> {
  const text = await readFile(join(dir, ".helmignore"), "utf8").catch(() => "");
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((glob) => new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*").replaceAll("?", ".")}$`));
}

/** Every regular file under `dir`, relative and sorted (the same archive from the same files), without ignored names. */
async function chartFiles(dir: string): Promise<string[]> {
  const ignored = await ignoredNames(dir);
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files: string[] = [];
  let bytes = 0;
  for (const entry of entries) {
    if (!entry.isFile() || ignored.some((pattern) => pattern.test(entry.name))) continue;
    const path = join(entry.parentPath, entry.name);
    bytes += (await stat(path)).size;
    if (bytes > maxChartBytes) throw invalidChart(dir, `its files hold more than ${maxChartBytes} bytes`);
    files.push(relative(dir, path).split(sep).join("/"));
  }
  return files.sort();
}

/**
 * Packages the chart in `dir` as `helm package` would: `<name>-<version>.tgz` with every file
 * under `<name>/` (`.helmignore` honoured), from Chart.yaml's name and version. The archive is
 * the same for the same files (sorted entries, no owners, a fixed mtime), so replicas agree on
 * its ETag. Throws `unavailable` when the chart is missing, invalid or over `maxChartBytes`.
 *
 * @example
 * const chart = await packageChart("deploy/helm/pier-agent");
 * chart.fileName; // "pier-agent-0.1.0.tgz"
 */
export async function packageChart(dir: string): Promise<PackagedChart> {
  const { name, version } = await chartIdentity(dir);
  const files = await chartFiles(dir);
  const chunks: Buffer[] = [];
  const stream = create({ cwd: dir, gzip: true, portable: true, prefix: name, mtime: new Date(0) }, files);
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  const archive = Buffer.concat(chunks);
  const etag = `"${createHash("sha256").update(archive).digest("base64url").slice(0, 32)}"`;
  return { name, version, fileName: `${name}-${version}.tgz`, archive, etag };
}
