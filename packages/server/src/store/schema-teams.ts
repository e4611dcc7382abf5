import type { Generated } from "kysely";

/** Row types of the team tables (migration 19, store/teams.ts). `Database` (schema.ts) extends `TeamTables`. */

/** `teams`: names unique case-insensitively. */
export interface TeamsTable {
  id: Generated<number>;
  name: string;
  created_at: number;
}

/** `team_members`: the users of each team. */
export interface TeamMembersTable {
  team_id: number;
  user_id: number;
}

/** `team_edge_groups`: the edge groups whose environments a team's members see. */
export interface TeamEdgeGroupsTable {
  team_id: number;
  edge_group_id: number;
}

/** The team tables. */
export interface TeamTables {
  teams: TeamsTable;
  team_members: TeamMembersTable;
  team_edge_groups: TeamEdgeGroupsTable;
}
