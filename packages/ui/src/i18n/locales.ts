/** The languages the UI speaks, by BCP 47 tag, each named in itself (for the switch). */
export const locales = [
  { tag: "en", name: "English" },
  { tag: "zh-CN", name: "简体中文" },
] as const;

/** A language the UI speaks. */
export type Locale = (typeof locales)[number]["tag"];

/** Where an explicit choice is kept; without one the browser's language decides. */
export const localeStorageKey = "pier-locale";

/**
 * The UI's language for a browser language tag: any Chinese (`zh`, `zh-CN`, `zh-Hans-SG`,
 * `zh-TW`...) reads Simplified Chinese, the only Chinese there is; anything else English.
 *
 * @example
 * localeFor("zh-Hans"); // "zh-CN"
 * localeFor("de-DE"); // "en"
 */
export function localeFor(tag: string): Locale {
  return /^zh(-|$)/i.test(tag) ? "zh-CN" : "en";
}
