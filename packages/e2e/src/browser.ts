import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { axeViolations, describeViolations } from "./accessibility.ts";

/** Debian's chromium, installed by scripts/ensure-tools.sh. */
export const chromiumPath = process.env.PIER_CHROMIUM ?? "/usr/bin/chromium";

/** Where the UI tests save a screenshot of every main screen (kept by the suite as artifacts). */
export const screenshotDir = join(import.meta.dirname, "..", "..", "..", ".tmp", "ui-screenshots");

// Headless, and nothing that phones home or needs a GPU.
const chromiumArgs = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** Saves a full-page `.tmp/ui-screenshots/<name>.png` of `page` and returns its path. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  const path = join(screenshotDir, `${name}.png`);
  mkdirSync(screenshotDir, { recursive: true });
  // From the top: a full-page shot of a scrolled page draws the fixed header mid-page.
  await page.evaluate("window.scrollTo(0, 0)");
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** A page of a real Chromium, with what its console said. */
export interface BrowserSession extends AsyncDisposable {
  readonly browser: Browser;
  readonly context: BrowserContext;
  readonly page: Page;
  /** Console errors and uncaught page errors so far (a test ends by expecting none). */
  readonly consoleErrors: string[];
  /** Saves `.tmp/ui-screenshots/<name>.png` and returns its path. */
  screenshot(name: string): Promise<string>;
  /**
   * Runs axe-core (WCAG 2.1 A/AA and best practices) on the page as it stands and throws, naming
   * `screen`, each rule broken and the elements that break it, when it reports any violation.
   */
  checkAccessibility(screen: string): Promise<void>;
  /** Logs in on `/login` with the "Log in" button and waits for Home (the Environments heading). */
  logIn(username: string, password: string): Promise<void>;
}

/**
 * Starts Chromium on a laptop-sized window that trusts only the server key whose SPKI SHA-256
 * (hex, as the server logs it) is given: the built-in CA is not in the browser's store, and
 * pinning that key is narrower than ignoring certificate errors. The browser's language is
 * `locale` (default `en-US`: the tests read the English UI).
 *
 * @example
 * await using session = await openBrowser({ baseURL: `https://127.0.0.1:${port}`, serverSpki: fingerprint });
 * await session.page.goto("/");
 */
export async function openBrowser(options: { baseURL: string; serverSpki: string; locale?: string }): Promise<BrowserSession> {
  const spki = Buffer.from(options.serverSpki, "hex").toString("base64");
  const browser = await chromium.launch({ executablePath: chromiumPath, args: [...chromiumArgs, `--ignore-certificate-errors-spki-list=${spki}`] });
  const context = await browser.newContext({ baseURL: options.baseURL, viewport: { width: 1280, height: 800 }, locale: options.locale ?? "en-US", permissions: ["clipboard-read", "clipboard-write"] });
  const page = await context.newPage();
  const consoleErrors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(`console: ${message.text()} (${message.location().url})`);
  });
  page.on("pageerror", (error) => consoleErrors.push(`page error: ${error.message}`));
  return {
    browser,
    context,
    page,
    consoleErrors,
    screenshot: (name) => saveScreenshot(page, name),
    async checkAccessibility(screen) {
      const violations = await axeViolations(page);
      if (violations.length > 0) throw new Error(describeViolations(screen, violations));
    },
    async logIn(username, password) {
      await page.goto("/login");
      await page.getByLabel("Username").fill(username);
      await page.getByLabel("Password", { exact: true }).fill(password);
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByRole("heading", { name: "Environments" }).waitFor();
    },
    async [Symbol.asyncDispose]() {
      await browser.close();
    },
  };
}
