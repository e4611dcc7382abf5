import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startUiFixture, type BrowserSession, type PierApi, type UiFixture } from "../src/index.ts";

/**
 * The Home list paged by the server, in real Chromium against a real server: more environments
 * than one page (made through the API), the total from X-Total-Count, next page, page size,
 * search and sort. Screenshots: .tmp/ui-screenshots/lists-*.png.
 */
const password = "correct horse battery staple";
let fixture: UiFixture | undefined;
let browser: BrowserSession;
let api: PierApi;

const siteNames = Array.from({ length: 27 }, (_, index) => `site-${String(index + 1).padStart(2, "0")}`);
const cityNames = ["Berlin-1", "berlin-2", "Bern"];

beforeAll(async () => {
  ({ browser, api } = fixture = await startUiFixture("web-ui-lists", password));
  for (const name of [...siteNames, ...cityNames]) {
    const created = await api.call("POST", "/api/endpoints", { Name: name });
    expect(created.status).toBe(200);
  }
}, 180_000);

afterAll(async () => {
  await fixture?.[Symbol.asyncDispose]();
});

/** The names in the Environments table, in order. */
async function shownNames(): Promise<string[]> {
  const table = browser.page.getByRole("table", { name: "Environments" });
  return table.locator("tbody tr td:first-child a").allInnerTexts();
}

describe("the Home list, paged by the server", () => {
  it("shows the total, pages forward, changes the page size, searches and sorts", async () => {
    // Precondition: 30 environments exist, more than one page of 25.
    expect((await api.call<unknown[]>("GET", "/api/endpoints")).body).toHaveLength(30);
    const { page } = browser;
    await browser.logIn("admin", password);

    const total = page.getByTestId("list-total");
    await total.filter({ hasText: "30 environments · showing 1–25" }).waitFor();
    expect(await shownNames()).toEqual([...cityNames, ...siteNames.slice(0, 22)]);
    await browser.screenshot("lists-home-page-1");

    await page.getByRole("button", { name: "Next" }).click();
    await total.filter({ hasText: "showing 26–30" }).waitFor();
    expect(await shownNames()).toEqual(siteNames.slice(22));
    expect(await page.getByRole("button", { name: "Next" }).isDisabled()).toBe(true);

    await page.getByLabel("Rows per page").selectOption("10");
    await page.getByText("Page 1 of 3").waitFor();
    await total.filter({ hasText: "showing 1–10" }).waitFor();

    await page.getByLabel("Search").fill("BER");
    await total.filter({ hasText: "3 environments" }).waitFor();
    expect(await shownNames()).toEqual(cityNames);
    await page.getByLabel("Search").fill("berl");
    await total.filter({ hasText: "2 environments" }).waitFor();
    expect(await shownNames()).toEqual(["Berlin-1", "berlin-2"]);

    await page.getByRole("button", { name: "Name" }).click();
    await page.locator('th[aria-sort="descending"]').waitFor();
    await page.getByRole("table", { name: "Environments" }).locator("tbody tr").first().getByRole("link", { name: "berlin-2", exact: true }).waitFor();
    expect(await shownNames()).toEqual(["berlin-2", "Berlin-1"]);
    await browser.screenshot("lists-home-search-sorted");

    await page.getByLabel("Search").fill("no such site");
    await page.getByText("No environment matches the search and status filter.").waitFor();
    await total.filter({ hasText: "0 environments" }).waitFor();
  });

  it("logged no error in the browser console", () => {
    expect(browser.consoleErrors).toEqual([]);
  });
});
