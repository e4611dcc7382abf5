import type { DialectMigration } from "./migrations.ts";

/**
 * The fleet-deployment steps (docs/fleet.md), one per concern, for both engines. Each engineer's
 * step lives in its own constant; `migrations.ts` appends them in version order.
 */

/** 11: tags, environment tags, edge groups (static members and dynamic tag rules), requested groups. */
export const tagsAndEdgeGroups: DialectMigration = {
  version: 11,
  name: "tags and edge groups",
  sqlite: "SELECT 1;",
  postgres: "SELECT 1;",
};

/** 12: edge stacks, their versions, groups, per-device targets and status, rollouts. */
export const edgeStacks: DialectMigration = {
  version: 12,
  name: "edge stacks",
  sqlite: "SELECT 1;",
  postgres: "SELECT 1;",
};

/** 13: registries (credentials sealed with the cluster secret). */
export const registries: DialectMigration = {
  version: 13,
  name: "registries",
  sqlite: "SELECT 1;",
  postgres: "SELECT 1;",
};

/** 14: edge jobs, their groups and environments, per-device tasks and collected logs. */
export const edgeJobs: DialectMigration = {
  version: 14,
  name: "edge jobs",
  sqlite: "SELECT 1;",
  postgres: "SELECT 1;",
};

/** 15: agent updates (schedules and per-device progress). */
export const agentUpdates: DialectMigration = {
  version: 15,
  name: "agent updates",
  sqlite: "SELECT 1;",
  postgres: "SELECT 1;",
};

/** 16: each environment's desired-state version (SHA-256 of its desired state, pushed in welcome and status). */
export const desiredStateVersions: DialectMigration = {
  version: 16,
  name: "desired state versions",
  sqlite: "SELECT 1;",
  postgres: "SELECT 1;",
};

/** The fleet steps in version order. */
export const fleetMigrations: readonly DialectMigration[] = [tagsAndEdgeGroups, edgeStacks, registries, edgeJobs, agentUpdates, desiredStateVersions];
