import { currentLocale, i18n } from "./i18n/index.ts";

// English as Pier writes it, without the serial comma ("a, b and c"); other languages as theirs do.
function listFormat(type: "conjunction" | "disjunction"): Intl.ListFormat {
  const locale = currentLocale();
  return new Intl.ListFormat(locale === "en" ? "en-GB" : locale, { type });
}

/**
 * Items as one list in the UI's language: "a, b and c" ("a、b和c"), or with "or".
 *
 * @example
 * joinList(["localhost", "127.0.0.1"]); // "localhost and 127.0.0.1"
 */
export function joinList(items: readonly string[], type: "conjunction" | "disjunction" = "conjunction"): string {
  return listFormat(type).format(items);
}

/**
 * The pieces of `joinList`'s text, for a list whose items are marked up (each address in `<Code>`).
 *
 * @example
 * listParts(["a", "b"]); // [{ type: "element", value: "a" }, { type: "literal", value: " and " }, { type: "element", value: "b" }]
 */
export function listParts(items: readonly string[]): { type: "element" | "literal"; value: string }[] {
  return listFormat("conjunction").formatToParts(items);
}

/**
 * A few names for a confirmation: the first `max`, then how many more.
 *
 * @example
 * namesList(["a", "b", "c"], 2); // "a, b and 1 more"
 */
export function namesList(names: readonly string[], max = 5): string {
  const shown = names.slice(0, max).join(i18n.t("environments:lists.separator"));
  return names.length > max ? i18n.t("environments:lists.andMore", { names: shown, count: names.length - max }) : shown;
}
