/**
 * Roles and what each may do, shared by the server (which enforces them: the route table in
 * `packages/server/src/api/route-permissions.ts`) and the UI (which hides what would be refused).
 */

/** Every role, from most to least powerful. */
export const roles = ["admin", "operator", "helpdesk"] as const;

/** A user's role, or an access token's scope. */
export type Role = (typeof roles)[number];

/**
 * What a route needs, beyond being signed in:
 * - `view`: read devices, containers (lists, inspect, logs, stats), stacks, jobs, groups, tags;
 * - `operate`: change them (associate, edge keys, stacks, jobs, container actions, exec);
 * - `administer`: settings, users, PKI (certificates, CA rotation), the mTLS upload.
 */
export type Permission = "view" | "operate" | "administer";

const granted: Readonly<Record<Role, readonly Permission[]>> = {
  admin: ["view", "operate", "administer"],
  operator: ["view", "operate"],
  helpdesk: ["view"],
};

const rank: Readonly<Record<Role, number>> = { admin: 3, operator: 2, helpdesk: 1 };

/** Human names, as the UI and error messages show them. */
export const roleLabels: Readonly<Record<Role, string>> = { admin: "Administrator", operator: "Operator", helpdesk: "Helpdesk" };

/**
 * Whether `role` holds `permission`.
 *
 * @example
 * can("helpdesk", "operate"); // false
 */
export function can(role: Role, permission: Permission): boolean {
  return granted[role].includes(permission);
}

/** The least powerful role that holds `permission`. */
export function minimumRole(permission: Permission): Role {
  return [...roles].reverse().find((role) => can(role, permission)) ?? "admin";
}

/** Whether `value` names a role. */
export function isRole(value: unknown): value is Role {
  return typeof value === "string" && (roles as readonly string[]).includes(value);
}

/**
 * The less powerful of two roles: an access token acts with the lesser of its scope and its
 * owner's current role.
 *
 * @example
 * lesserRole("admin", "helpdesk"); // "helpdesk"
 */
export function lesserRole(a: Role, b: Role): Role {
  return rank[a] <= rank[b] ? a : b;
}

/** Whether `role` is at most `limit` (a token's scope may not exceed its owner's role). */
export function roleWithin(role: Role, limit: Role): boolean {
  return rank[role] <= rank[limit];
}
