import { parse } from "yaml";
import { AgentError } from "../errors.ts";
import { type ComposeDeploy, parseDeploy } from "./compose-deploy.ts";

/**
 * A compose file as the stack runtime deploys it: parsed, interpolated with the stack's
 * environment variables, and normalised into one shape per key (the short and long syntaxes of
 * ports, volumes, environment and labels become the same thing), so that two files meaning the
 * same deployment give the same configuration hash. The keys are those of docs/fleet.md
 * "Supported compose keys"; the server refuses the others before a device sees them.
 */

/** A published port (`ports:`). */
export interface ComposePort {
  readonly target: number;
  readonly published?: string;
  readonly hostIp?: string;
  readonly protocol: "tcp" | "udp" | "sctp";
}

/** A mount (`volumes:` of a service): a named volume of the project, or a host path. */
export interface ComposeMount {
  readonly type: "volume" | "bind";
  /** For `volume`: the key under top-level `volumes:`; for `bind`: the absolute host path. */
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
}

/** A healthcheck, durations in nanoseconds as the Engine API wants them. */
export interface ComposeHealthcheck {
  readonly test: readonly string[];
  readonly interval?: number;
  readonly timeout?: number;
  readonly retries?: number;
  readonly startPeriod?: number;
}

/** One service, normalised. */
export interface ComposeService {
  readonly name: string;
  readonly image: string;
  readonly command?: readonly string[];
  readonly entrypoint?: readonly string[];
  readonly environment: Readonly<Record<string, string>>;
  readonly ports: readonly ComposePort[];
  readonly volumes: readonly ComposeMount[];
  /** Keys under top-level `networks:` (the project's `default` when the service names none). */
  readonly networks: readonly string[];
  readonly restart: "no" | "always" | "on-failure" | "unless-stopped";
  readonly labels: Readonly<Record<string, string>>;
  readonly healthcheck?: ComposeHealthcheck | "disabled";
  readonly dependsOn: readonly string[];
  readonly workingDir?: string;
  readonly user?: string;
  readonly hostname?: string;
  readonly privileged: boolean;
  readonly capAdd: readonly string[];
  readonly capDrop: readonly string[];
  /** `host:container[:permissions]`. */
  readonly devices: readonly string[];
  readonly logging?: { readonly driver: string; readonly options: Readonly<Record<string, string>> };
  /** `deploy:` (Swarm's keys; the swarm engine reads them, `compose-deploy.ts`). */
  readonly deploy?: ComposeDeploy;
}

/** A network or volume of the project. */
export interface ComposeResource {
  /** The key in the compose file. */
  readonly key: string;
  /** The engine's name: `<project>_<key>`, or `name:` / the key itself when external. */
  readonly name: string;
  readonly external: boolean;
  readonly driver?: string;
  readonly driverOpts: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  /** Networks only: `internal`, `attachable`, and `ipam` as the Engine API's `IPAM`. */
  readonly internal?: boolean;
  readonly attachable?: boolean;
  readonly ipam?: { readonly driver?: string; readonly config: readonly Readonly<Record<string, string>>[] };
}

/** A compose project ready to plan: services in `depends_on` order (a service after those it depends on). */
export interface ComposeProject {
  readonly name: string;
  readonly services: readonly ComposeService[];
  readonly networks: readonly ComposeResource[];
  readonly volumes: readonly ComposeResource[];
}

/** A stack's environment variables, as the desired state carries them. */
export type EnvVars = readonly { readonly name: string; readonly value: string }[];

function invalid(path: string, why: string): AgentError {
  return new AgentError("stack_invalid", `The compose file is not deployable: ${path}: ${why}. Fix the stack's file on the server (Edge Stacks).`);
}

const variablePattern = /\$(?:\$|\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g;

/**
 * Interpolates `${VAR}`, `$VAR`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`,
 * `${VAR?message}` and `$$` (a literal `$`) the way Compose does, from `vars`. An unset variable
 * without a default is empty; `?` makes it an error naming `path`.
 *
 * @example
 * interpolate("${TAG:-1.0}", new Map(), "services.web.image"); // "1.0"
 */
export function interpolate(value: string, vars: ReadonlyMap<string, string>, path: string): string {
  return value.replace(variablePattern, (whole, braced: string | undefined, bare: string | undefined) => {
    if (whole === "$$") return "$";
    if (bare !== undefined) return vars.get(bare) ?? "";
    const expression = braced ?? "";
    const match = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])(.*))?$/s.exec(expression);
    if (!match) throw invalid(path, `invalid interpolation "${whole}"`);
    const [, name = "", colon, operator, argument = ""] = match;
    const current = vars.get(name);
    const missing = current === undefined || (colon === ":" && current === "");
    if (operator === "-") return missing ? argument : (current ?? "");
    if (operator === "?" && missing) throw invalid(path, `required variable ${name} is missing${argument ? ` (${argument})` : ""}`);
    return current ?? "";
  });
}

function interpolateTree(value: unknown, vars: ReadonlyMap<string, string>, path: string): unknown {
  if (typeof value === "string") return interpolate(value, vars, path);
  if (Array.isArray(value)) return value.map((item, index) => interpolateTree(item, vars, `${path}[${index}]`));
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, interpolateTree(item, vars, path ? `${path}.${key}` : key)]));
  }
  return value;
}

type Json = Record<string, unknown>;
const isRecord = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value);

function scalar(value: unknown, path: string): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  throw invalid(path, "expected a string");
}

function optionalScalar(value: unknown, path: string): string | undefined {
  return value === undefined || value === null ? undefined : scalar(value, path);
}

function stringList(value: unknown, path: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid(path, "expected a list");
  return value.map((item, index) => scalar(item, `${path}[${index}]`));
}

/** `command:`/`entrypoint:` as a list (a string is split the way a shell would, for simple words and quotes). */
function commandList(value: unknown, path: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) return stringList(value, path);
  const words: string[] = [];
  const pattern = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (const match of scalar(value, path).matchAll(pattern)) words.push(match[1]?.replace(/\\(.)/g, "$1") ?? match[2] ?? match[3] ?? "");
  return words;
}

/** `environment:`/`labels:`: a map, or a list of `KEY=value` (a bare `KEY` in `environment:` is left out: there is no shell to inherit from). */
function keyValues(value: unknown, path: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  const result: Record<string, string> = {};
  if (Array.isArray(value)) {
    value.forEach((item, index) => {
      const entry = scalar(item, `${path}[${index}]`);
      const equals = entry.indexOf("=");
      if (equals > 0) result[entry.slice(0, equals)] = entry.slice(equals + 1);
    });
    return result;
  }
  if (!isRecord(value)) throw invalid(path, "expected a map or a list of KEY=value");
  for (const [key, item] of Object.entries(value)) {
    if (item !== null && item !== undefined) result[key] = scalar(item, `${path}.${key}`);
  }
  return result;
}

const durationUnits: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** A Compose duration (`1m30s`, `500ms`, or a number of seconds) in nanoseconds. */
export function durationNs(value: unknown, path: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "number") return Math.round(value * 1e9);
  const text = scalar(value, path).trim();
  let total = 0;
  let rest = text;
  while (rest !== "") {
    const match = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)/.exec(rest);
    if (!match) throw invalid(path, `"${text}" is not a duration (e.g. 30s, 1m30s, 500ms)`);
    total += Number(match[1]) * (durationUnits[match[2] ?? "s"] ?? 1e9);
    rest = rest.slice(match[0].length);
  }
  return Math.round(total);
}

function parsePort(value: unknown, path: string): ComposePort[] {
  if (isRecord(value)) {
    const target = Number(value.target);
    if (!Number.isInteger(target) || target < 1 || target > 65535) throw invalid(`${path}.target`, "expected a port number");
    const published = optionalScalar(value.published, `${path}.published`);
    const hostIp = optionalScalar(value.host_ip, `${path}.host_ip`);
    return [{ target, ...(published ? { published } : {}), ...(hostIp ? { hostIp } : {}), protocol: protocolOf(optionalScalar(value.protocol, `${path}.protocol`) ?? "tcp", path) }];
  }
  const text = scalar(value, path);
  const [spec = "", protocolText = "tcp"] = text.split("/");
  const protocol = protocolOf(protocolText, path);
  // [host_ip:][published:]target, where host_ip may be an IPv6 address in brackets.
  const match = /^(?:(\[[^\]]+\]|[0-9.]+):)?(?:([0-9-]*):)?([0-9-]+)$/.exec(spec);
  if (!match) throw invalid(path, `"${text}" is not a port mapping ([ip:][published:]target[/protocol])`);
  const [, ip, publishedRange, targetRange = ""] = match;
  const targets = portRange(targetRange, path);
  const publishedPorts = publishedRange ? portRange(publishedRange, path) : [];
  if (publishedPorts.length > 1 && publishedPorts.length !== targets.length) throw invalid(path, "published and target ranges differ in length");
  return targets.map((target, index) => {
    const published = publishedPorts.length > 1 ? String(publishedPorts[index]) : publishedRange || undefined;
    const hostIp = ip?.replace(/^\[(.*)\]$/, "$1");
    return { target, ...(published ? { published } : {}), ...(hostIp ? { hostIp } : {}), protocol };
  });
}

function portRange(text: string, path: string): number[] {
  const [low = "", high] = text.split("-");
  const from = Number(low);
  const to = high === undefined ? from : Number(high);
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 1 || to > 65535 || to < from || to - from > 1000) throw invalid(path, `"${text}" is not a port or port range`);
  return Array.from({ length: to - from + 1 }, (_, index) => from + index);
}

function protocolOf(text: string, path: string): ComposePort["protocol"] {
  if (text === "tcp" || text === "udp" || text === "sctp") return text;
  throw invalid(path, `protocol "${text}" (expected tcp, udp or sctp)`);
}

function parseMount(value: unknown, path: string, workingDir: string, volumeKeys: ReadonlySet<string>): ComposeMount {
  let source: string;
  let target: string;
  let readOnly: boolean;
  let type: "volume" | "bind" | undefined;
  if (isRecord(value)) {
    type = value.type === "bind" ? "bind" : value.type === "volume" || value.type === undefined ? "volume" : undefined;
    if (!type) throw invalid(`${path}.type`, `"${String(value.type)}" (Pier mounts volume and bind)`);
    source = optionalScalar(value.source, `${path}.source`) ?? "";
    target = scalar(value.target, `${path}.target`);
    readOnly = value.read_only === true;
  } else {
    const parts = scalar(value, path).split(":");
    if (parts.length === 1) throw invalid(path, "anonymous volumes are not supported: name the volume (name:/path)");
    const mode = parts.length >= 3 ? (parts.pop() ?? "") : "";
    target = parts.pop() ?? "";
    source = parts.join(":");
    readOnly = mode.split(",").includes("ro");
  }
  if (!target.startsWith("/")) throw invalid(path, `the container path "${target}" must be absolute`);
  if (source === "") throw invalid(path, "anonymous volumes are not supported: name the volume (name:/path)");
  const isPath = source.startsWith("/") || source.startsWith(".") || source.startsWith("~");
  if (type === "bind" || isPath) {
    if (source.startsWith("~")) throw invalid(path, "a host path starting with ~ has no home directory to expand to on a device");
    const absolute = source.startsWith("/") ? source : `${workingDir}/${source.replace(/^\.\/?/, "")}`.replace(/\/+$/, "");
    return { type: "bind", source: absolute, target, readOnly };
  }
  if (!volumeKeys.has(source)) throw invalid(path, `volume "${source}" is not declared under the top-level volumes`);
  return { type: "volume", source, target, readOnly };
}

function parseHealthcheck(value: unknown, path: string): ComposeHealthcheck | "disabled" | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) throw invalid(path, "expected a map");
  if (value.disable === true) return "disabled";
  const test = typeof value.test === "string" ? ["CMD-SHELL", value.test] : stringList(value.test, `${path}.test`);
  if (test[0] === "NONE") return "disabled";
  const interval = durationNs(value.interval, `${path}.interval`);
  const timeout = durationNs(value.timeout, `${path}.timeout`);
  const startPeriod = durationNs(value.start_period, `${path}.start_period`);
  const retries = value.retries === undefined ? undefined : Number(value.retries);
  if (retries !== undefined && (!Number.isInteger(retries) || retries < 0)) throw invalid(`${path}.retries`, "expected a whole number");
  return { test, ...(interval !== undefined ? { interval } : {}), ...(timeout !== undefined ? { timeout } : {}), ...(retries !== undefined ? { retries } : {}), ...(startPeriod !== undefined ? { startPeriod } : {}) };
}

function parseRestart(value: unknown, path: string): ComposeService["restart"] {
  const text = optionalScalar(value, path) ?? "no";
  const policy = text.split(":")[0];
  if (policy === "no" || policy === "always" || policy === "on-failure" || policy === "unless-stopped") return policy;
  throw invalid(path, `"${text}" (expected no, always, on-failure or unless-stopped)`);
}

function resources(value: unknown, path: string, project: string): ComposeResource[] {
  if (value === undefined || value === null) return [];
  if (!isRecord(value)) throw invalid(path, "expected a map");
  return Object.entries(value).map(([key, item]) => {
    const spec = isRecord(item) ? item : {};
    const external = spec.external === true || (isRecord(spec.external) && true);
    const name = optionalScalar(spec.name, `${path}.${key}.name`) ?? (external ? key : `${project}_${key}`);
    const driver = optionalScalar(spec.driver, `${path}.${key}.driver`);
    const ipam = isRecord(spec.ipam) ? parseIpam(spec.ipam, `${path}.${key}.ipam`) : undefined;
    return {
      key,
      name,
      external,
      ...(driver ? { driver } : {}),
      driverOpts: keyValues(spec.driver_opts, `${path}.${key}.driver_opts`),
      labels: keyValues(spec.labels, `${path}.${key}.labels`),
      ...(spec.internal === true ? { internal: true } : {}),
      ...(spec.attachable === true ? { attachable: true } : {}),
      ...(ipam ? { ipam } : {}),
    };
  });
}

const ipamKeys: Record<string, string> = { subnet: "Subnet", ip_range: "IPRange", gateway: "Gateway" };

/** A network's `ipam:` (`driver`, `config: [{subnet, ip_range, gateway}]`) in the Engine API's names. */
function parseIpam(value: Json, path: string): NonNullable<ComposeResource["ipam"]> {
  const driver = optionalScalar(value.driver, `${path}.driver`);
  const config = (Array.isArray(value.config) ? value.config : []).map((entry, index) => {
    const pool: Record<string, string> = {};
    for (const [key, item] of Object.entries(isRecord(entry) ? entry : {})) {
      const apiKey = ipamKeys[key];
      if (apiKey) pool[apiKey] = scalar(item, `${path}.config[${index}].${key}`);
    }
    return pool;
  });
  return { ...(driver ? { driver } : {}), config };
}

/** Orders services so each comes after those it depends on (ties by name); a cycle is refused. */
function dependencyOrder(services: ComposeService[]): ComposeService[] {
  const byName = new Map(services.map((service) => [service.name, service]));
  const ordered: ComposeService[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (service: ComposeService, chain: string[]) => {
    const seen = state.get(service.name);
    if (seen === "done") return;
    if (seen === "visiting") throw invalid(`services.${service.name}.depends_on`, `a dependency cycle (${[...chain, service.name].join(" → ")})`);
    state.set(service.name, "visiting");
    for (const dependency of [...service.dependsOn].sort()) {
      const target = byName.get(dependency);
      if (!target) throw invalid(`services.${service.name}.depends_on`, `service "${dependency}" does not exist`);
      visit(target, [...chain, service.name]);
    }
    state.set(service.name, "done");
    ordered.push(service);
  };
  for (const service of [...services].sort((a, b) => a.name.localeCompare(b.name))) visit(service, []);
  return ordered;
}

/**
 * Parses a stack's compose file into a `ComposeProject` named `project`, with `${VAR}`
 * interpolated from `envVars`, relative bind paths resolved against `workingDir`. Rejects what
 * the runtime cannot deploy with `AgentError("stack_invalid")` naming the path.
 *
 * @example
 * const project = parseComposeProject("shop", "services:\n  web:\n    image: nginx:${TAG}\n", [{ name: "TAG", value: "1.27" }], "/data/fleet/stacks/3");
 * project.services[0]?.image; // "nginx:1.27"
 */
export function parseComposeProject(project: string, content: string, envVars: EnvVars, workingDir: string): ComposeProject {
  let document: unknown;
  try {
    document = parse(content, { maxAliasCount: 100 });
  } catch (error) {
    throw invalid("(file)", `not valid YAML (${error instanceof Error ? error.message.split("\n")[0] : String(error)})`);
  }
  const vars = new Map(envVars.map((entry) => [entry.name, entry.value]));
  const root = interpolateTree(document, vars, "");
  if (!isRecord(root) || !isRecord(root.services) || Object.keys(root.services).length === 0) throw invalid("services", "a compose file needs at least one service");
  const networks = resources(root.networks, "networks", project);
  const volumes = resources(root.volumes, "volumes", project);
  const volumeKeys = new Set(volumes.map((volume) => volume.key));
  const networkKeys = new Set(networks.map((network) => network.key));
  let usesDefault = false;
  const services = Object.entries(root.services).map(([name, value]): ComposeService => {
    const path = `services.${name}`;
    if (!isRecord(value)) throw invalid(path, "expected a map");
    const image = optionalScalar(value.image, `${path}.image`);
    if (!image) throw invalid(`${path}.image`, "every service needs an image (build is not supported on a device)");
    const serviceNetworks = Array.isArray(value.networks) ? stringList(value.networks, `${path}.networks`) : isRecord(value.networks) ? Object.keys(value.networks) : [];
    for (const network of serviceNetworks) if (!networkKeys.has(network) && network !== "default") throw invalid(`${path}.networks`, `network "${network}" is not declared under the top-level networks`);
    if (serviceNetworks.length === 0 || serviceNetworks.includes("default")) usesDefault = true;
    const dependsOn = Array.isArray(value.depends_on) ? stringList(value.depends_on, `${path}.depends_on`) : isRecord(value.depends_on) ? Object.keys(value.depends_on) : [];
    const command = commandList(value.command, `${path}.command`);
    const entrypoint = commandList(value.entrypoint, `${path}.entrypoint`);
    const healthcheck = parseHealthcheck(value.healthcheck, `${path}.healthcheck`);
    const workingDirValue = optionalScalar(value.working_dir, `${path}.working_dir`);
    const user = optionalScalar(value.user, `${path}.user`);
    const hostname = optionalScalar(value.hostname, `${path}.hostname`);
    const deploy = parseDeploy(value.deploy, `${path}.deploy`);
    const logging = isRecord(value.logging) ? { driver: optionalScalar(value.logging.driver, `${path}.logging.driver`) ?? "json-file", options: keyValues(value.logging.options, `${path}.logging.options`) } : undefined;
    return {
      name,
      image,
      ...(command ? { command } : {}),
      ...(entrypoint ? { entrypoint } : {}),
      environment: keyValues(value.environment, `${path}.environment`),
      ports: (Array.isArray(value.ports) ? value.ports : []).flatMap((port, index) => parsePort(port, `${path}.ports[${index}]`)),
      volumes: (Array.isArray(value.volumes) ? value.volumes : []).map((mount, index) => parseMount(mount, `${path}.volumes[${index}]`, workingDir, volumeKeys)),
      networks: serviceNetworks.length === 0 ? ["default"] : serviceNetworks,
      restart: parseRestart(value.restart, `${path}.restart`),
      labels: keyValues(value.labels, `${path}.labels`),
      ...(healthcheck ? { healthcheck } : {}),
      dependsOn,
      ...(workingDirValue ? { workingDir: workingDirValue } : {}),
      ...(user ? { user } : {}),
      ...(hostname ? { hostname } : {}),
      privileged: value.privileged === true,
      capAdd: stringList(value.cap_add, `${path}.cap_add`),
      capDrop: stringList(value.cap_drop, `${path}.cap_drop`),
      devices: stringList(value.devices, `${path}.devices`),
      ...(logging ? { logging } : {}),
      ...(deploy ? { deploy } : {}),
    };
  });
  if (usesDefault && !networkKeys.has("default")) networks.push({ key: "default", name: `${project}_default`, external: false, driverOpts: {}, labels: {} });
  return { name: project, services: dependencyOrder(services), networks, volumes };
}
