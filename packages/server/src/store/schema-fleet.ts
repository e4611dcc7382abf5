/**
 * Row types of the fleet tables (docs/fleet.md), one interface per concern so each part of the
 * fleet store declares its own tables. `Database` (schema.ts) extends `FleetTables`.
 */

/** Migration 11: tags and edge groups. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface TagTables {}

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
