import type { ServerConfig } from "@pier/server";
import { CliError } from "../errors.ts";

/** Default of `--peer-bind`: where the other replicas reach this one (docs/architecture.md "Scale-out"). */
export const defaultPeerBind = "0.0.0.0:9445";

/** The cluster flags as `parseCommand` returns them. */
export interface ClusterFlagValues {
  readonly "database-url"?: string | undefined;
  readonly "secret-file"?: string | undefined;
  readonly "peer-bind"?: string | undefined;
  readonly "peer-address"?: string | undefined;
  readonly "replica-name"?: string | undefined;
}

function hostPort(text: string, flag: string, example: string): { host: string; port: number } {
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]]*):(\d+)$/.exec(text);
  const port = Number(match?.[2]);
  if (!match || !Number.isInteger(port) || port > 65535) throw new CliError("usage", `${flag} needs HOST:PORT (e.g. ${example}), got "${text}".`);
  return { host: match[1] ?? "", port };
}

/**
 * `--database-url` (else `PIER_DATABASE_URL`) and the flags that go with it, as
 * `ServerConfig.cluster`; `undefined` without a database URL (SQLite in `--data`). The URL's
 * password is never part of a message.
 *
 * @example
 * clusterConfig({ "database-url": "postgres://pier:pw@db:5432/pier", "secret-file": "/run/secrets/pier" }, {});
 * // { databaseUrl: "postgres://pier:pw@db:5432/pier", secretFile: "/run/secrets/pier", peerHost: "0.0.0.0", peerPort: 9445 }
 */
export function clusterConfig(values: ClusterFlagValues, env: NodeJS.ProcessEnv): ServerConfig["cluster"] {
  const databaseUrl = values["database-url"] ?? (env["PIER_DATABASE_URL"] || undefined);
  const secretFile = values["secret-file"] ?? (env["PIER_SECRET_FILE"] || undefined);
  const peerAddress = values["peer-address"] ?? (env["PIER_PEER_ADDRESS"] || undefined);
  if (databaseUrl === undefined) {
    const without = (["secret-file", "peer-bind", "peer-address", "replica-name"] as const).filter((flag) => values[flag] !== undefined);
    if (without.length > 0) throw new CliError("usage", `${without.map((flag) => `--${flag}`).join(", ")} only apply with --database-url (PIER_DATABASE_URL): several replicas on one PostgreSQL.`);
    return undefined;
  }
  const source = values["database-url"] === undefined ? "PIER_DATABASE_URL" : "--database-url";
  let url: URL | undefined;
  try {
    url = new URL(databaseUrl);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== "postgres:" && url.protocol !== "postgresql:")) {
    // Only the scheme is shown: the rest may hold the password.
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(databaseUrl)?.[1];
    throw new CliError("usage", `${source} needs a PostgreSQL URL, postgres://USER:PASSWORD@HOST:PORT/DATABASE or postgresql://…, got ${scheme === undefined ? "something else" : `a ${scheme}: URL`}.`);
  }
  if (secretFile === undefined) {
    throw new CliError("usage", `${source} needs --secret-file (or PIER_SECRET_FILE): a file of at least 32 random bytes, the same on every replica, that encrypts the cluster's private keys in the database. Create it once with: head -c 32 /dev/urandom | base64 > pier-secret && chmod 600 pier-secret`);
  }
  const peer = hostPort(values["peer-bind"] ?? defaultPeerBind, "--peer-bind", defaultPeerBind);
  if (peerAddress !== undefined) {
    const { port } = hostPort(peerAddress, values["peer-address"] === undefined ? "PIER_PEER_ADDRESS" : "--peer-address", "pier-0.pier:9445");
    if (port === 0) throw new CliError("usage", `--peer-address needs the port the other replicas connect to, not 0.`);
  }
  const replicaName = values["replica-name"];
  if (replicaName !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(replicaName)) {
    throw new CliError("usage", `--replica-name needs 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit, got "${replicaName.slice(0, 80)}".`);
  }
  return {
    databaseUrl,
    secretFile,
    peerHost: peer.host || "0.0.0.0",
    peerPort: peer.port,
    ...(peerAddress === undefined ? {} : { peerAddress }),
    ...(replicaName === undefined ? {} : { replicaName }),
  };
}

/**
 * What the start-up log may say about the database: host, port and name, never the user's password.
 *
 * @example
 * databaseLocation("postgres://pier:pw@db:5432/pier"); // "PostgreSQL db:5432/pier"
 */
export function databaseLocation(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  // As libpq (and the store) read it: no host is localhost or `?host=`, no database the user's name.
  const host = url.hostname || url.searchParams.get("host") || "localhost";
  const decode = (part: string) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return part;
    }
  };
  return `PostgreSQL ${host}:${url.port || "5432"}/${decode(url.pathname.replace(/^\//, "")) || decode(url.username) || "postgres"}`;
}
