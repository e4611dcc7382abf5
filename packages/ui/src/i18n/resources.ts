import * as activity from "./messages/activity.ts";
import * as auth from "./messages/auth.ts";
import * as common from "./messages/common.ts";
import * as docker from "./messages/docker.ts";
import * as environments from "./messages/environments.ts";
import * as fleet from "./messages/fleet.ts";
import * as pki from "./messages/pki.ts";
import * as teams from "./messages/teams.ts";

/**
 * Every catalog, by namespace: one namespace per area of the UI (`messages/<namespace>.ts`, its
 * English `en` and Simplified Chinese `zhCN`). A new area adds its module here.
 */
const namespaces = { common, auth, environments, docker, pki, activity, fleet, teams };

type Namespaces = typeof namespaces;

/** The English catalogs: the source of truth for keys, and the type `t()` checks keys against. */
export const english = Object.fromEntries(Object.entries(namespaces).map(([name, module]) => [name, module.en])) as { [N in keyof Namespaces]: Namespaces[N]["en"] };

/** The Simplified Chinese catalogs (each typed as its English one's `Catalog`). */
export const simplifiedChinese = Object.fromEntries(Object.entries(namespaces).map(([name, module]) => [name, module.zhCN])) as { [N in keyof Namespaces]: Namespaces[N]["zhCN"] };

/** The namespace names, for i18next's `ns`. */
export const namespaceNames = Object.keys(namespaces) as (keyof Namespaces)[];
