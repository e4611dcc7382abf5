import type { DialectMigration } from "./migrations.ts";

/**
 * 18: roles, ended sessions, token scopes and expiry (docs/security.md "Users and roles").
 * `users.role` takes "operator" and "helpdesk" besides "admin" (the store checks the value: SQLite
 * cannot add a CHECK to an existing column). `sessions_valid_after` (ms): session tokens issued
 * before it are refused ("end all sessions", a password change). Each access token gets a scope
 * (a role) and an expiry; tokens made before this step keep the administrator scope they acted
 * with (only administrators existed) and expire one year after the upgrade.
 */
export const rolesAndTokenScopes: DialectMigration = {
  version: 18,
  name: "roles and token scopes",
  sqlite: `
    ALTER TABLE users ADD COLUMN sessions_valid_after INTEGER;
    ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'admin' CHECK (scope IN ('admin', 'operator', 'helpdesk'));
    ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;
    UPDATE api_tokens SET expires_at = CAST(unixepoch('subsec') * 1000 AS INTEGER) + 31536000000;
    CREATE INDEX users_by_role ON users (role);
  `,
  postgres: `
    ALTER TABLE users ADD COLUMN sessions_valid_after BIGINT;
    ALTER TABLE users ADD CONSTRAINT users_role CHECK (role IN ('admin', 'operator', 'helpdesk'));
    ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'admin' CHECK (scope IN ('admin', 'operator', 'helpdesk'));
    ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
    UPDATE api_tokens SET expires_at = (extract(epoch FROM now()) * 1000)::bigint + 31536000000;
    CREATE INDEX users_by_role ON users (role);
  `,
};
