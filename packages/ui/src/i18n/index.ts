import i18next from "i18next";
import LanguageDetector from "i18next-browser-languagedetector";
import { initReactI18next } from "react-i18next";
import { type Locale, localeFor, localeStorageKey, locales } from "./locales.ts";
import { english, namespaceNames, simplifiedChinese } from "./resources.ts";

export { type Locale, localeFor, localeStorageKey, locales } from "./locales.ts";

/**
 * The UI's one i18n layer: i18next with every catalog bundled (no request for a language file),
 * the language from an explicit choice kept in localStorage, else the browser's
 * (`navigator.languages`), else English. `<html lang>` follows the language (screen readers,
 * CJK fonts). Components call `useTranslation("<namespace>")`; code outside React calls
 * `i18n.t` at the time it renders.
 */
export const i18n = i18next.createInstance();

void i18n
  .use(LanguageDetector)
  .use(initReactI18next)
  .init({
    resources: { en: english, "zh-CN": simplifiedChinese },
    ns: namespaceNames,
    defaultNS: "common",
    supportedLngs: locales.map((locale) => locale.tag),
    fallbackLng: "en",
    // Bundled: ready before the first render.
    initAsync: false,
    // React escapes what it renders.
    interpolation: { escapeValue: false },
    detection: {
      order: ["localStorage", "navigator"],
      lookupLocalStorage: localeStorageKey,
      // Only an explicit choice is kept (`setLocale`): a detected one follows the browser.
      caches: [],
      convertDetectedLanguage: localeFor,
    },
    returnNull: false,
  });

// The unit tests of modules that translate run in Node (and the e2e package, compiled without
// the DOM's types, imports some of them): no document there, and English.
const page = (globalThis as { document?: { documentElement: { lang: string } } }).document;
if (page) {
  page.documentElement.lang = currentLocale();
  i18n.on("languageChanged", () => {
    page.documentElement.lang = currentLocale();
  });
}

/** The language the UI shows now. */
export function currentLocale(): Locale {
  return localeFor(i18n.resolvedLanguage ?? i18n.language);
}

/** Switches the UI to `locale` and keeps the choice for the next visit. */
export async function setLocale(locale: Locale): Promise<void> {
  localStorage.setItem(localeStorageKey, locale);
  await i18n.changeLanguage(locale);
}
