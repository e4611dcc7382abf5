import { english, simplifiedChinese } from "@pier/ui/messages";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { englishWords, saveScreenshot, screenSettled, startUiFixture, tourScreens, type PierApi, type TourScreen, type UiFixture } from "../src/index.ts";

/**
 * The UI in English and in Simplified Chinese, in real Chromium against a real server (no Docker:
 * the screens' words are what is looked at, with one of each fleet object so every screen has
 * content). The language comes from the browser, a switch in the header overrides it and keeps
 * the choice; every main screen is photographed in both languages (.tmp/ui-screenshots/lang-*.png)
 * and read in Chinese for English words left over; dates follow the language.
 */
const password = "correct horse battery staple";
let fixture: UiFixture | undefined;
let api: PierApi;
let screens: TourScreen[];
let chinese: Page;
const chineseErrors: string[] = [];
const environmentNames = ["site-north", "site-south"];

// What stays as it is in Chinese: names of products, protocols, formats and units; technical words
// written as a device reads them (cron, root, a compose file's `${NAME}`); example values in
// placeholders; and the names of this test's own objects, which the screens show as data.
const untranslated = [
  ...["cron", "Cron", "root", "compose", "${NAME}", "berlin", "pier/agent:2.1.0"],
  ...["Pier", "Docker", "Docker Engine", "Kubernetes", "Helm", "Swarm", "Compose", "Prometheus", "Edge ID", "Edge Key"],
  ...["mTLS", "TLS", "CA", "CRL", "PEM", "API", "URL", "JSON", "JSON lines", "CSV", "SHA-256", "SPKI", "RSA", "ECDSA", "CPU", "TTY", "UTC", "KiB", "MiB", "GiB"],
  ...["Linux", "Portainer", "HTTPS", "Webhook", "English", "admin", "nginx:alpine", "uptime", "pier-agent", "edge-agent"],
  ...environmentNames,
  ...["lang-group", "lang-stack", "lang-job", "lang-update"],
];

beforeAll(async () => {
  ({ api } = fixture = await startUiFixture("web-ui-languages", password));
  for (const name of environmentNames) expect((await api.call("POST", "/api/endpoints", { Name: name })).status).toBe(200);
  screens = await tourScreens(api, "lang");
  const context = await fixture.browser.browser.newContext({ baseURL: `https://127.0.0.1:${fixture.server.httpsPort}`, viewport: { width: 1280, height: 800 }, locale: "zh-CN" });
  chinese = await context.newPage();
  chinese.on("console", (message) => {
    if (message.type() === "error") chineseErrors.push(message.text());
  });
  chinese.on("pageerror", (error) => chineseErrors.push(error.message));
}, 180_000);

afterAll(async () => {
  await fixture?.[Symbol.asyncDispose]();
});

/** The text of the page's `h1`. */
const headingOf = (page: Page) => page.locator("h1").first().innerText();

/** Goes to `path` inside the app (as a link does) and waits for its heading and its data. */
async function visit(page: Page, path: string, heading?: string): Promise<void> {
  const before = new URL(page.url()).pathname === path ? null : await headingOf(page).catch(() => "");
  await page.evaluate(`history.pushState(null, "", ${JSON.stringify(path)}); dispatchEvent(new PopStateEvent("popstate"))`);
  if (heading !== undefined) await page.getByRole("heading", { level: 1, name: heading, exact: true }).waitFor();
  // Chinese headings are not known here: the new screen's differs from the last one's (the CSP
  // forbids waitForFunction's string evaluation).
  else if (before !== null) await expect.poll(() => headingOf(page), { timeout: 15_000 }).not.toBe(before);
  await screenSettled(page);
}

describe("the UI's language", () => {
  it("follows the browser's language, and the header's switch overrides it and keeps the choice across a reload", async () => {
    const zh = simplifiedChinese;
    await chinese.goto("/login");
    expect(await chinese.evaluate("document.documentElement.lang")).toBe("zh-CN");
    await chinese.getByRole("button", { name: zh.auth.login.submit }).waitFor();
    await saveScreenshot(chinese, "lang-zh-CN-login");
    expect(await englishWords(chinese, untranslated)).toEqual([]);
    const englishLogin = fixture?.browser.page;
    if (!englishLogin) throw new Error("no fixture");
    await englishLogin.goto("/login");
    await englishLogin.getByRole("button", { name: english.auth.login.submit }).waitFor();
    await saveScreenshot(englishLogin, "lang-en-login");
    // The switch is there before logging in too.
    await chinese.getByRole("combobox", { name: zh.common.language.label }).waitFor();
    await chinese.getByLabel(zh.auth.login.username).fill("admin");
    await chinese.getByLabel(zh.auth.login.password, { exact: true }).fill(password);
    await chinese.getByRole("button", { name: zh.auth.login.submit }).click();
    await chinese.getByRole("heading", { level: 1, name: zh.environments.home.title }).waitFor();
    await chinese.getByRole("navigation").getByRole("link", { name: zh.common.nav.waitingRoom, exact: true }).waitFor();

    await chinese.getByRole("combobox", { name: zh.common.language.label }).click();
    await chinese.getByRole("option", { name: "English" }).click();
    await chinese.getByRole("heading", { level: 1, name: english.environments.home.title }).waitFor();
    expect(await chinese.evaluate("document.documentElement.lang")).toBe("en");
    await chinese.reload();
    await chinese.getByRole("heading", { level: 1, name: english.environments.home.title }).waitFor();
    expect(await chinese.evaluate("localStorage.getItem('pier-locale')")).toBe("en");

    await chinese.getByRole("combobox", { name: english.common.language.label }).click();
    await chinese.getByRole("option", { name: "简体中文" }).click();
    await chinese.getByRole("heading", { level: 1, name: zh.environments.home.title }).waitFor();
    expect(await chinese.evaluate("document.documentElement.lang")).toBe("zh-CN");
  });

  it("shows every main screen in English and in Chinese, with no English word left in Chinese", async () => {
    const { browser } = fixture ?? {};
    if (!browser) throw new Error("no fixture");
    await browser.logIn("admin", password);
    expect(await headingOf(chinese)).toBe(simplifiedChinese.environments.home.title);
    const leftovers: Record<string, string[]> = {};
    for (const screen of screens) {
      await visit(browser.page, screen.path, screen.heading);
      await browser.screenshot(`lang-en-${screen.slug}`);
      await visit(chinese, screen.path);
      await saveScreenshot(chinese, `lang-zh-CN-${screen.slug}`);
      const words = await englishWords(chinese, untranslated);
      if (words.length > 0) leftovers[screen.path] = words;
    }
    expect(Object.keys(leftovers).length === 0 ? "none" : JSON.stringify(leftovers, null, 2)).toBe("none");
  }, 120_000);

  it("logged no error in either browser's console", () => {
    expect(fixture?.browser.consoleErrors).toEqual([]);
    expect(chineseErrors).toEqual([]);
  });
});
