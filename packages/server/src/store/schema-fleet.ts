import type { Generated } from "kysely";

/**
 * Row types of the fleet tables (docs/fleet.md), one interface per concern so each part of the
 * fleet store declares its own tables. `Database` (schema.ts) extends `FleetTables`.
 */

/** `tags`: names unique case-insensitively. */
export interface TagsTable {
  id: Generated<number>;
  name: string;
}

/** `environment_tags`: the tags each environment carries. */
export interface EnvironmentTagsTable {
  environment_id: number;
  tag_id: number;
}

/** `edge_groups`: static (members in `edge_group_environments`) or dynamic (a tag rule in `edge_group_tags`). */
export interface EdgeGroupsTable {
  id: Generated<number>;
  name: string;
  /** 0/1. */
  dynamic: number;
  /** 0/1: a dynamic group matches environments carrying any of its tags rather than all. */
  partial_match: number;
  created_at: number;
}

/** `edge_group_tags`: a dynamic group's tag rule. */
export interface EdgeGroupTagsTable {
  group_id: number;
  tag_id: number;
}

/** `edge_group_environments`: a static group's members (only associated ones count). */
export interface EdgeGroupEnvironmentsTable {
  group_id: number;
  environment_id: number;
}

/** `edge_group_requests`: the groups a waiting device asked for (`EDGE_GROUPS`), JSON list of names. */
export interface EdgeGroupRequestsTable {
  environment_id: number;
  names: string;
}

/** Migration 11: tags and edge groups. */
export interface TagTables {
  tags: TagsTable;
  environment_tags: EnvironmentTagsTable;
  edge_groups: EdgeGroupsTable;
  edge_group_tags: EdgeGroupTagsTable;
  edge_group_environments: EdgeGroupEnvironmentsTable;
  edge_group_requests: EdgeGroupRequestsTable;
}

/** Migration 12: edge stacks. */
export interface EdgeStackTables {
  edge_stacks: EdgeStacksTable;
  edge_stack_versions: EdgeStackVersionsTable;
  edge_stack_groups: EdgeStackGroupsTable;
  edge_stack_registries: EdgeStackRegistriesTable;
  edge_stack_status: EdgeStackStatusTable;
  edge_stack_rollouts: EdgeStackRolloutsTable;
  edge_stack_targets: EdgeStackTargetsTable;
}

/** `edge_stacks`: one row per stack; `version` is its latest. */
export interface EdgeStacksTable {
  id: Generated<number>;
  name: string;
  version: number;
  deployment_type: number;
  created_at: number;
  updated_at: number;
}

/** `edge_stack_versions`: every version's compose file, environment variables (JSON `[{name, value}]`) and registry ids (JSON). */
export interface EdgeStackVersionsTable {
  stack_id: number;
  version: number;
  compose_file: string;
  env_vars: string;
  registry_ids: string;
  created_at: number;
}

/** `edge_stack_groups`: the edge groups a stack is deployed to. */
export interface EdgeStackGroupsTable {
  stack_id: number;
  group_id: number;
}

/** `edge_stack_registries`: the registries the latest version of a stack pulls from (for "which stacks name it"). */
export interface EdgeStackRegistriesTable {
  stack_id: number;
  registry_id: number;
}

/** `edge_stack_status`: per (stack, environment) the transitions (JSON `[{Type, Time, Error}]`) of the version reported last. */
export interface EdgeStackStatusTable {
  stack_id: number;
  environment_id: number;
  version: number;
  transitions: string;
  rolled_back_to: number | null;
  updated_at: number;
}

/** `edge_stack_rollouts`: a staged update of a stack to `version`; devices not released keep `previous_version`. */
export interface EdgeStackRolloutsTable {
  stack_id: number;
  version: number;
  previous_version: number;
  batch_size: number | null;
  batch_percent: number | null;
  wait_seconds: number;
  failure_threshold: number;
  state: "running" | "paused" | "aborted" | "completed";
  started_at: number;
  released_at: number | null;
  /** Why the rollout paused or was aborted (the rollout engine writes it). */
  reason: string | null;
  updated_at: number;
}

/** `edge_stack_targets`: environments released to `version` of a stack by its rollout. */
export interface EdgeStackTargetsTable {
  stack_id: number;
  environment_id: number;
  version: number;
  released_at: number;
}

/** `registries`: where stacks pull images from; the password sealed (docs/security.md "Registry credentials"). */
export interface RegistriesTable {
  id: Generated<number>;
  name: string;
  /** `host[:port]`, as in an image reference. */
  url: string;
  /** 0/1. */
  authentication: number;
  username: string;
  /** `SecretBox.seal("registries/<id>/password", …)` output; null without authentication. */
  password_sealed: Buffer | null;
  created_at: number;
  updated_at: number;
}

/** Migration 13: registries. */
export interface RegistryTables {
  registries: RegistriesTable;
}

/** `edge_jobs`: a script run on schedule on the devices of some environments and groups. */
export interface EdgeJobsTable {
  id: Generated<number>;
  name: string;
  cron_expression: string;
  /** 0/1. */
  recurring: number;
  script: string;
  /** Grows by one when the script, schedule or recurrence changes (a device runs a one-off job once per version). */
  version: number;
  created_at: number;
  updated_at: number;
}

/** `edge_job_groups`: the edge groups a job targets. */
export interface EdgeJobGroupsTable {
  job_id: number;
  group_id: number;
}

/** `edge_job_environments`: the environments a job targets explicitly (Portainer's `Endpoints`). */
export interface EdgeJobEnvironmentsTable {
  job_id: number;
  environment_id: number;
}

/** `edge_job_tasks`: what happened for one (job, environment); no row: idle, never ran. */
export interface EdgeJobTasksTable {
  job_id: number;
  environment_id: number;
  /** Portainer's `LogsStatus`: 1 idle, 2 pending (asked of the device), 3 collected. */
  logs_status: number;
  logs: string | null;
  logs_collected_at: number | null;
  /** JSON `{startedAt, finishedAt, exitCode?, error?, version}` (ms) of the last run reported. */
  last_run: string | null;
}

/** Migration 14: edge jobs. */
export interface EdgeJobTables {
  edge_jobs: EdgeJobsTable;
  edge_job_groups: EdgeJobGroupsTable;
  edge_job_environments: EdgeJobEnvironmentsTable;
  edge_job_tasks: EdgeJobTasksTable;
}

/** `agent_update_schedules`: an agent image to run on the devices of some edge groups. */
export interface AgentUpdateSchedulesTable {
  id: Generated<number>;
  name: string;
  image: string;
  /** JSON array of edge group ids. */
  group_ids: string;
  deadline_seconds: number;
  created_at: number;
}

/** `agent_update_progress`: what a device reported for a schedule (no row: not done yet). */
export interface AgentUpdateProgressTable {
  schedule_id: number;
  environment_id: number;
  status: "updated" | "rolled_back" | "failed";
  agent_version: string;
  error: string | null;
  updated_at: number;
}

/** Migration 15: agent updates. */
export interface AgentUpdateTables {
  agent_update_schedules: AgentUpdateSchedulesTable;
  agent_update_progress: AgentUpdateProgressTable;
}

/**
 * Migration 16: desired-state versions. Two columns of `environments` (declared in
 * `EnvironmentsTable`, schema.ts, as `DesiredStateColumns`), no table of their own.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface DesiredStateTables {}

/** The `environments` columns of migration 16, written only by `store/desired-state-versions.ts`. */
export interface DesiredStateColumns {
  /** Hex SHA-256 of the environment's desired state; `NULL` until first computed. */
  desired_state_version: string | null;
  /** Why the last computed desired state was not stored (too large); `NULL` when it was. */
  desired_state_error: string | null;
}

/** Every fleet table. */
export interface FleetTables extends TagTables, EdgeStackTables, RegistryTables, EdgeJobTables, AgentUpdateTables, DesiredStateTables {}
