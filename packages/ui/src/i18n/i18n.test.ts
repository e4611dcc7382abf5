import { describe, expect, it } from "vitest";
import { formatAgo, formatDateTime, formatExpiry, formatNumber } from "../format.ts";
import { i18n, localeFor } from "./index.ts";
import { english, simplifiedChinese } from "./resources.ts";

type Tree = { readonly [key: string]: string | Tree };

// "home.title" → "Environments", for every leaf of a catalog.
function leaves(tree: Tree, prefix = ""): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, value] of Object.entries(tree)) {
    if (typeof value === "string") out.set(`${prefix}${key}`, value);
    else for (const [leaf, text] of leaves(value, `${prefix}${key}.`)) out.set(leaf, text);
  }
  return out;
}

const variables = (text: string) => [...text.matchAll(/\{\{\s*(\w+)/g)].map((match) => match[1]).sort();

// Words that stay as they are in Chinese text: names of products, protocols and formats.
const untranslated = /^(Pier|Docker|Kubernetes|Helm|Swarm|Compose|Prometheus|mTLS|TLS|CA|CRL|PEM|API|URL|ID|Edge ID|JSON|CSV|JSON lines|SHA-256|CPU|stdout|stderr|TTY|English|简体中文|[\W\d_]*)$/;

describe("i18n catalogs", () => {
  const namespaces = Object.keys(english) as (keyof typeof english)[];

  it("has every English key in Simplified Chinese, with the same variables, and none left in English", () => {
    let checked = 0;
    for (const namespace of namespaces) {
      const en = leaves(english[namespace]);
      const zh = leaves(simplifiedChinese[namespace]);
      expect([...zh.keys()].sort(), namespace).toEqual([...en.keys()].sort());
      for (const [key, text] of en) {
        const chinese = zh.get(key) ?? "";
        expect(chinese.trim(), `${namespace}:${key} is empty`).not.toBe("");
        expect(variables(chinese), `${namespace}:${key} variables`).toEqual(variables(text));
        if (chinese === text && !untranslated.test(text)) throw new Error(`${namespace}:${key} is still English in zh-CN: "${text}"`);
        checked += 1;
      }
    }
    // The catalogs are not empty (the test would pass on none).
    expect(checked).toBeGreaterThan(40);
  });

  it("reads any Chinese browser language as Simplified Chinese, anything else as English", () => {
    expect(["zh", "zh-CN", "zh-Hans-SG", "zh-TW"].map(localeFor)).toEqual(["zh-CN", "zh-CN", "zh-CN", "zh-CN"]);
    expect(["en-US", "de-DE", "zhx", ""].map(localeFor)).toEqual(["en", "en", "en", "en"]);
  });

  it("translates and formats dates, numbers and times in the UI's language", async () => {
    const at = Date.UTC(2026, 2, 12, 14, 3);
    try {
      await i18n.changeLanguage("en");
      expect(i18n.t("nav.home")).toBe("Home");
      expect(formatAgo(Date.now() / 1000 - 300)).toBe("5 min. ago");
      expect(formatExpiry(new Date(Date.now() + 3 * 86_400_000 + 60_000).toISOString())).toBe("in 3 days");
      expect(formatNumber(12_345)).toBe("12,345");
      expect(formatDateTime(at)).toMatch(/^12 Mar 2026, \d\d:03$/);
      await i18n.changeLanguage("zh-CN");
      expect(i18n.t("nav.home")).toBe("主页");
      expect(formatAgo(Date.now() / 1000 - 300)).toBe("5分钟前");
      expect(formatExpiry(new Date(Date.now() + 3 * 86_400_000 + 60_000).toISOString())).toBe("3 天后");
      expect(formatDateTime(at)).toMatch(/^2026年3月12日 \d\d:03$/);
    } finally {
      await i18n.changeLanguage("en");
    }
  });
});
