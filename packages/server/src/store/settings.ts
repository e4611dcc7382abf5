import { ServerError } from "../errors.ts";
import type { SqlDatabase } from "./database.ts";
import { reusableQuery } from "./reusable-query.ts";
import { isRecord, json } from "./row-readers.ts";
import { corrupt } from "./store-errors.ts";
import { type Settings, type SettingsPatch, type SettingsStore, defaultSettings } from "./store.ts";

/** The longest automatic re-issue window: 397 days, the longest device certificate lifetime. */
const maxAutoReissueWithinSeconds = 397 * 86_400;

const settingsKeys: readonly string[] = [
  "edgeComputeEnabled",
  "edgeAgentCheckinInterval",
  "trustOnFirstConnect",
  "edgePortainerUrl",
  "edgeTunnelServerAddress",
  "trustDomain",
  "bindCommonName",
  "autoReissueWithinSeconds",
  "webhookUrl",
  "webhookSecret",
  "alertExpiryDays",
] satisfies (keyof Settings)[];

/** Reads the stored settings document, keeping only known fields of the right type. */
function decodeSettings(document: Record<string, unknown>): Settings {
  const settings: Settings = { ...defaultSettings };
  for (const key of ["edgeComputeEnabled", "trustOnFirstConnect"] as const) {
    const value = document[key];
    if (typeof value === "boolean") settings[key] = value;
  }
  const interval = document["edgeAgentCheckinInterval"];
  if (typeof interval === "number") settings.edgeAgentCheckinInterval = interval;
  for (const key of ["edgePortainerUrl", "edgeTunnelServerAddress", "trustDomain", "webhookUrl", "webhookSecret"] as const) {
    const value = document[key];
    if (typeof value === "string") settings[key] = value;
  }
  if (typeof document["bindCommonName"] === "boolean") settings.bindCommonName = document["bindCommonName"];
  if (typeof document["autoReissueWithinSeconds"] === "number") settings.autoReissueWithinSeconds = document["autoReissueWithinSeconds"];
  if (typeof document["alertExpiryDays"] === "number") settings.alertExpiryDays = document["alertExpiryDays"];
  return settings;
}

/** Checks the merged document before it is written; values are unknown because they come from a patch or the file. */
function checkSettings(settings: Record<string, unknown>): void {
  const bad = (field: string, rule: string) => new ServerError("bad_request", `Setting ${field} ${rule}.`, { field });
  if (typeof settings["edgeComputeEnabled"] !== "boolean") throw bad("edgeComputeEnabled", "must be true or false");
  if (typeof settings["trustOnFirstConnect"] !== "boolean") throw bad("trustOnFirstConnect", "must be true or false");
  const interval = settings["edgeAgentCheckinInterval"];
  if (typeof interval !== "number" || !Number.isSafeInteger(interval) || interval < 1 || interval > 86_400) throw bad("edgeAgentCheckinInterval", "must be a whole number of seconds from 1 to 86400");
  const url = settings["edgePortainerUrl"];
  if (url !== undefined && !(typeof url === "string" && /^https?:\/\//i.test(url) && URL.canParse(url))) throw bad("edgePortainerUrl", "must be an absolute http(s) URL");
  const tunnel = settings["edgeTunnelServerAddress"];
  if (tunnel !== undefined && !(typeof tunnel === "string" && /^[^\s/]+:\d{1,5}$/.test(tunnel))) throw bad("edgeTunnelServerAddress", 'must be "host:port"');
  // A SPIFFE trust domain is a DNS-like name: lowercase letters, digits, dots, dashes, underscores (SPIFFE ID spec §2.1).
  const domain = settings["trustDomain"];
  if (domain !== undefined && !(typeof domain === "string" && /^[a-z0-9._-]{1,253}$/.test(domain))) throw bad("trustDomain", "must be 1 to 253 characters of lowercase letters, digits, '.', '-' or '_'");
  if (settings["bindCommonName"] !== undefined && typeof settings["bindCommonName"] !== "boolean") throw bad("bindCommonName", "must be true or false");
  // The longest certificate lifetime (397 days): a window past it would re-issue any certificate ever expired.
  const reissue = settings["autoReissueWithinSeconds"];
  if (reissue !== undefined && !(typeof reissue === "number" && Number.isSafeInteger(reissue) && reissue >= 0 && reissue <= maxAutoReissueWithinSeconds)) {
    throw bad("autoReissueWithinSeconds", `must be a whole number of seconds from 0 (off) to ${maxAutoReissueWithinSeconds}`);
  }
  // The webhook (alerts): https only, so alerts and their signature never cross the network in clear.
  const webhook = settings["webhookUrl"];
  if (webhook !== undefined && !(typeof webhook === "string" && webhook.length <= 2048 && /^https:\/\//i.test(webhook) && URL.canParse(webhook))) throw bad("webhookUrl", "must be an https:// URL of at most 2048 characters");
  const secret = settings["webhookSecret"];
  if (secret !== undefined && !(typeof secret === "string" && secret.length >= 16 && secret.length <= 256)) throw bad("webhookSecret", "must be 16 to 256 characters");
  const expiryDays = settings["alertExpiryDays"];
  if (expiryDays !== undefined && !(typeof expiryDays === "number" && Number.isSafeInteger(expiryDays) && expiryDays >= 1 && expiryDays <= 397)) throw bad("alertExpiryDays", "must be a whole number of days from 1 to 397");
}

function parseDocument(row: { document: string } | undefined): Record<string, unknown> {
  if (row === undefined) return {};
  const document = json(row, "document");
  if (!isRecord(document)) throw corrupt("settings document");
  return document;
}

/**
 * `SettingsStore` on kysely: one JSON document in row 1. An update is read-modify-write in one
 * transaction; on PostgreSQL the row is created if missing and locked (`FOR UPDATE`), so two
 * replicas patching different settings at once both keep their change.
 *
 * @example
 * const settings = new SqlSettings(database);
 * await settings.update({ trustOnFirstConnect: true });
 */
export class SqlSettings implements SettingsStore {
  readonly #database: SqlDatabase;
  // Read by every hello, compiled once.
  readonly #document;

  constructor(database: SqlDatabase) {
    this.#database = database;
    this.#document = reusableQuery(database.db.selectFrom("settings").select("document").where("id", "=", 1));
  }

  get(): Promise<Settings> {
    return this.#database.run(async (db) => decodeSettings(parseDocument((await db.executeQuery(this.#document([1]))).rows[0])));
  }

  update(patch: SettingsPatch): Promise<Settings> {
    const postgres = this.#database.dialect === "postgres";
    return this.#database.run((db) =>
      db.transaction().execute(async (trx) => {
        if (postgres) await trx.insertInto("settings").values({ id: 1, document: "{}" }).onConflict((conflict) => conflict.column("id").doNothing()).execute();
        const row = await trx
          .selectFrom("settings")
          .select("document")
          .where("id", "=", 1)
          .$if(postgres, (query) => query.forUpdate())
          .executeTakeFirst();
        // Unknown keys in the stored document are kept, so nothing written by other code is lost.
        const document = parseDocument(row);
        for (const [key, value] of Object.entries(patch)) {
          if (value === undefined) continue;
          if (!settingsKeys.includes(key)) throw new ServerError("bad_request", `Unknown setting "${key}".`, { field: key });
          if (value === null) delete document[key];
          else document[key] = value;
        }
        checkSettings({ ...defaultSettings, ...document });
        const text = JSON.stringify(document);
        await trx
          .insertInto("settings")
          .values({ id: 1, document: text })
          .onConflict((conflict) => conflict.column("id").doUpdateSet({ document: text }))
          .execute();
        return decodeSettings(document);
      }),
    );
  }
}
