import { AgentError } from "../errors.ts";
import { durationNs } from "./compose-model.ts";

/**
 * A service's `deploy:` section (Compose's Swarm keys), normalised for the swarm engine
 * (`swarm-engine.ts`): replicas, mode, placement, resources, restart_policy, update_config —
 * the keys docs/fleet.md "Supported compose keys" lists under deploy. Durations are nanoseconds,
 * CPUs are nano-CPUs and memory bytes, as the Engine API wants them.
 */
export interface ComposeDeploy {
  readonly mode: "replicated" | "global";
  /** Replicated services only (default 1). */
  readonly replicas?: number;
  readonly placement?: { readonly constraints: readonly string[]; readonly preferences: readonly string[]; readonly maxReplicasPerNode?: number };
  readonly resources?: {
    readonly limits?: { readonly nanoCpus?: number; readonly memoryBytes?: number; readonly pids?: number };
    readonly reservations?: { readonly nanoCpus?: number; readonly memoryBytes?: number };
  };
  readonly restartPolicy?: { readonly condition?: "none" | "on-failure" | "any"; readonly delay?: number; readonly maxAttempts?: number; readonly window?: number };
  readonly updateConfig?: {
    readonly parallelism?: number;
    readonly delay?: number;
    readonly failureAction?: "continue" | "rollback" | "pause";
    readonly monitor?: number;
    readonly maxFailureRatio?: number;
    readonly order?: "stop-first" | "start-first";
  };
}

type Json = Record<string, unknown>;
const isRecord = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value);

function invalid(path: string, why: string): AgentError {
  return new AgentError("stack_invalid", `The compose file is not deployable: ${path}: ${why}. Fix the stack's file on the server (Edge Stacks).`);
}

/** A value as a message quotes it. */
function shown(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function whole(value: unknown, path: string, min = 0): number | undefined {
  if (value === undefined || value === null) return undefined;
  const number = typeof value === "string" ? Number(value) : value;
  if (typeof number !== "number" || !Number.isInteger(number) || number < min) throw invalid(path, `expected a whole number of at least ${min}`);
  return number;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], path: string): T | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string" && (allowed as readonly string[]).includes(value)) return value as T;
  throw invalid(path, `"${shown(value)}" (expected ${allowed.join(", ")})`);
}

const byteUnits: Record<string, number> = { b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 };

/** A Compose byte value (`512m`, `1g`, `1024`) in bytes. */
export function bytesOf(value: unknown, path: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "number" && Number.isInteger(value) && value >= 0) return value;
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(shown(value).trim());
  const unit = byteUnits[(match?.[2] ?? "").toLowerCase() || "b"];
  if (!match || unit === undefined) throw invalid(path, `"${shown(value)}" is not a size (e.g. 512m, 1g)`);
  return Math.round(Number(match[1]) * unit);
}

function nanoCpus(value: unknown, path: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const cpus = Number(value);
  if (!Number.isFinite(cpus) || cpus <= 0) throw invalid(path, `"${shown(value)}" is not a number of CPUs (e.g. 0.5)`);
  return Math.round(cpus * 1e9);
}

function defined<T extends object>(value: T): T | undefined {
  return Object.values(value).some((item) => item !== undefined) ? (Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as T) : undefined;
}

/**
 * Parses `services.<name>.deploy`; `undefined` when absent. Values the swarm cannot take (a
 * negative replica count, an unknown mode) are refused with their path.
 *
 * @example
 * parseDeploy({ replicas: 2, resources: { limits: { cpus: "0.5", memory: "64m" } } }, "services.web.deploy");
 * // { mode: "replicated", replicas: 2, resources: { limits: { nanoCpus: 500000000, memoryBytes: 67108864 } } }
 */
export function parseDeploy(value: unknown, path: string): ComposeDeploy | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) throw invalid(path, "expected a map");
  const mode = oneOf(value.mode, ["replicated", "global"] as const, `${path}.mode`) ?? "replicated";
  const replicas = whole(value.replicas, `${path}.replicas`);
  if (mode === "global" && replicas !== undefined) throw invalid(`${path}.replicas`, "a global service runs one task per node: leave replicas out");
  const placementValue = isRecord(value.placement) ? value.placement : undefined;
  const placement = placementValue
    ? {
        constraints: Array.isArray(placementValue.constraints) ? placementValue.constraints.map(String) : [],
        preferences: (Array.isArray(placementValue.preferences) ? placementValue.preferences : []).map((preference, index) => {
          const spread = isRecord(preference) ? preference.spread : undefined;
          if (typeof spread !== "string") throw invalid(`${path}.placement.preferences[${index}]`, "expected {spread: <label>}");
          return spread;
        }),
        ...(placementValue.max_replicas_per_node === undefined ? {} : { maxReplicasPerNode: whole(placementValue.max_replicas_per_node, `${path}.placement.max_replicas_per_node`, 1) }),
      }
    : undefined;
  const resourcesValue = isRecord(value.resources) ? value.resources : undefined;
  const limitsValue = isRecord(resourcesValue?.limits) ? resourcesValue.limits : undefined;
  const reservationsValue = isRecord(resourcesValue?.reservations) ? resourcesValue.reservations : undefined;
  const limits = limitsValue ? defined({ nanoCpus: nanoCpus(limitsValue.cpus, `${path}.resources.limits.cpus`), memoryBytes: bytesOf(limitsValue.memory, `${path}.resources.limits.memory`), pids: whole(limitsValue.pids, `${path}.resources.limits.pids`) }) : undefined;
  const reservations = reservationsValue ? defined({ nanoCpus: nanoCpus(reservationsValue.cpus, `${path}.resources.reservations.cpus`), memoryBytes: bytesOf(reservationsValue.memory, `${path}.resources.reservations.memory`) }) : undefined;
  const restart = isRecord(value.restart_policy) ? value.restart_policy : undefined;
  const restartPolicy = restart
    ? defined({
        condition: oneOf(restart.condition, ["none", "on-failure", "any"] as const, `${path}.restart_policy.condition`),
        delay: durationNs(restart.delay, `${path}.restart_policy.delay`),
        maxAttempts: whole(restart.max_attempts, `${path}.restart_policy.max_attempts`),
        window: durationNs(restart.window, `${path}.restart_policy.window`),
      })
    : undefined;
  const update = isRecord(value.update_config) ? value.update_config : undefined;
  const ratio = update?.max_failure_ratio === undefined ? undefined : Number(update.max_failure_ratio);
  if (ratio !== undefined && !(ratio >= 0 && ratio <= 1)) throw invalid(`${path}.update_config.max_failure_ratio`, "expected a number from 0 to 1");
  const updateConfig = update
    ? defined({
        parallelism: whole(update.parallelism, `${path}.update_config.parallelism`),
        delay: durationNs(update.delay, `${path}.update_config.delay`),
        failureAction: oneOf(update.failure_action, ["continue", "rollback", "pause"] as const, `${path}.update_config.failure_action`),
        monitor: durationNs(update.monitor, `${path}.update_config.monitor`),
        maxFailureRatio: ratio,
        order: oneOf(update.order, ["stop-first", "start-first"] as const, `${path}.update_config.order`),
      })
    : undefined;
  const resources = limits || reservations ? { ...(limits ? { limits } : {}), ...(reservations ? { reservations } : {}) } : undefined;
  return {
    mode,
    ...(replicas === undefined ? {} : { replicas }),
    ...(placement ? { placement } : {}),
    ...(resources ? { resources } : {}),
    ...(restartPolicy ? { restartPolicy } : {}),
    ...(updateConfig ? { updateConfig } : {}),
  };
}
