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
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface EdgeStackTables {}

/** Migration 13: registries. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface RegistryTables {}

/** Migration 14: edge jobs. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface EdgeJobTables {}

/** Migration 15: agent updates. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface AgentUpdateTables {}

/** Migration 16: desired-state versions (tables or columns of the desired-state service). */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface DesiredStateTables {}

/** Every fleet table. */
export interface FleetTables extends TagTables, EdgeStackTables, RegistryTables, EdgeJobTables, AgentUpdateTables, DesiredStateTables {}
