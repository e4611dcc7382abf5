import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SqliteStore } from "@pier/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { pier, screenSettled, startUiFixture, tourScreens, type BrowserSession, type PierApi, type UiFixture } from "../src/index.ts";

/**
 * The Home list paged by the server, in real Chromium against a real server: more environments
 * than one page (made through the API), the total from X-Total-Count, next page, page size,
 * search and sort; the counts by status; bulk tag and delete; and a Waiting Room of 300 devices
 * paged, searched and associated in bulk with a confirmation. Screenshots:
 * .tmp/ui-screenshots/lists-*.png.
 *
 * The 300 waiting devices are written into the empty data directory's pier.db before the server
 * starts, as 300 devices that each checked in once would have left them (Edge ID, name given at
 * creation, source address, check-in time): 300 agent processes are not what these screens are
 * about, and the onboarding of a real agent through the Waiting Room is web-ui.test.ts's.
 */
const password = "correct horse battery staple";
let fixture: UiFixture | undefined;
let browser: BrowserSession;
let api: PierApi;

const siteNames = Array.from({ length: 27 }, (_, index) => `site-${String(index + 1).padStart(2, "0")}`);
const cityNames = ["Berlin-1", "berlin-2", "Bern"];
const waitingCount = 300;
const waitingEdgeId = (index: number) => `dev-${String(index).padStart(3, "0")}`;

/** 300 devices in the Waiting Room, each named at creation `shelf-N`. */
async function seedWaitingRoom(dataDir: string): Promise<void> {
  await using store = await SqliteStore.open(join(dataDir, "pier.db"));
  const now = Date.now();
  for (let index = 0; index < waitingCount; index += 1) {
    const environment = await store.environments.create({ name: `shelf-${index}`, type: "edge-agent", userTrusted: false });
    await store.environments.update(environment.id, { edgeId: waitingEdgeId(index), sourceAddress: `10.0.${Math.floor(index / 250)}.${index % 250}` });
    await store.environments.recordCheckIns([{ id: environment.id, at: new Date(now - index * 1000) }]);
  }
}

beforeAll(async () => {
  ({ browser, api } = fixture = await startUiFixture("web-ui-lists", password, { seed: seedWaitingRoom }));
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
  return table.locator("tbody tr td:nth-child(2) a").allInnerTexts();
}

describe("the Home list, paged by the server", () => {
  it("shows the total, pages forward, changes the page size, searches and sorts", async () => {
    // Precondition: 30 environments exist, more than one page of 25.
    expect((await api.call<unknown[]>("GET", "/api/endpoints?waitingRoom=false")).body).toHaveLength(30);
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

  it("counts by status at the top, and filters by a count", async () => {
    const { page } = browser;
    await page.goto("/");
    const counts = page.getByTestId("status-counts");
    await counts.getByRole("button", { name: "30 environments" }).waitFor();
    await counts.getByRole("button", { name: "0 online" }).waitFor();
    await counts.getByRole("link", { name: `${waitingCount} waiting in the Waiting Room` }).waitFor();
    await counts.getByRole("button", { name: "30 offline" }).click();
    expect(await page.getByLabel("Status", { exact: true }).inputValue()).toBe("offline");
    await page.getByTestId("list-total").filter({ hasText: "30 environments" }).waitFor();
    await counts.getByRole("button", { name: "0 online" }).click();
    await page.getByText("No environment matches the search and status filter.").waitFor();
    await counts.getByRole("button", { name: "30 environments" }).click();
    expect(await page.getByLabel("Status", { exact: true }).inputValue()).toBe("all");
  });

  it("tags, then deletes, the environments selected, with a confirmation whose Cancel has the focus", async () => {
    const tag = await api.call<{ ID: number }>("POST", "/api/tags", { Name: "bulk-city" });
    expect(tag.status).toBe(200);
    const { page } = browser;
    await page.getByLabel("Search").fill("ber");
    await page.getByTestId("list-total").filter({ hasText: "3 environments" }).waitFor();
    await page.getByRole("checkbox", { name: "Select all on this page" }).check();
    const bar = page.getByRole("region", { name: "Selection" });
    await bar.getByText("3 selected").waitFor();
    await bar.getByRole("button", { name: "Add tag" }).click();
    await page.getByRole("dialog").getByRole("combobox", { name: "Tag", exact: true }).click();
    await page.getByRole("option", { name: "bulk-city" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Add tag" }).click();
    await page.getByText("Tagged 3 environments.").waitFor();
    const tagged = await api.call<{ Name: string; TagIds: number[] }[]>("GET", `/api/endpoints?tagIds=${tag.body.ID}`);
    expect(tagged.body.map((environment) => environment.Name).sort()).toEqual([...cityNames].sort());
    await bar.waitFor({ state: "detached" });

    await page.getByRole("checkbox", { name: "Select Bern" }).check();
    await page.getByRole("checkbox", { name: "Select berlin-2" }).check();
    await bar.getByRole("button", { name: "Delete" }).click();
    const dialog = page.getByRole("dialog", { name: "Delete 2 environments?" });
    await dialog.waitFor();
    // The destructive button never has the initial focus.
    expect(await page.evaluate("document.activeElement?.textContent")).toBe("Cancel");
    await browser.screenshot("lists-home-bulk-delete");
    await dialog.getByRole("button", { name: "Delete 2 environments" }).click();
    await page.getByText("Deleted 2 environments.").waitFor();
    await page.getByTestId("list-total").filter({ hasText: "1 environment" }).waitFor();
    expect(await shownNames()).toEqual(["Berlin-1"]);
    expect((await api.call<unknown[]>("GET", "/api/endpoints?waitingRoom=false")).body).toHaveLength(28);
    await page.getByLabel("Search").fill("");
  });

  it("renames and deletes an environment from its page, whose tab is in the URL", async () => {
    const { page } = browser;
    await page.getByRole("link", { name: "site-01", exact: true }).click();
    await page.getByRole("heading", { level: 1, name: "site-01" }).waitFor();
    await page.getByRole("tab", { name: "Images" }).click();
    await page.waitForURL(/\?tab=images$/);
    await page.reload();
    await page.getByRole("tab", { name: "Images", selected: true }).waitFor();

    await page.getByRole("button", { name: "Rename" }).click();
    const rename = page.getByRole("dialog", { name: "Rename site-01" });
    await rename.getByLabel("Name").fill("x".repeat(129));
    expect(await rename.getByLabel("Name").inputValue()).toHaveLength(128);
    await rename.getByLabel("Name").fill("site-01-renamed");
    await rename.getByRole("button", { name: "Rename" }).click();
    await page.getByRole("heading", { level: 1, name: "site-01-renamed" }).waitFor();
    await expect.poll(() => page.title()).toBe("site-01-renamed · Pier");

    await page.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("dialog", { name: "Delete site-01-renamed?" }).getByRole("button", { name: "Delete environment" }).click();
    await page.getByRole("heading", { level: 1, name: "Environments" }).waitFor();
    const left = await api.call<{ Name: string }[]>("GET", "/api/endpoints?waitingRoom=false");
    expect(left.body).toHaveLength(27);
    expect(left.body.map((environment) => environment.Name)).not.toContain("site-01-renamed");
  });
});

/** How many devices wait, as the server counts them. */
async function waitingNow(): Promise<number> {
  return (await api.call<{ Waiting: number }>("GET", "/api/endpoints/counts")).body.Waiting;
}

describe("the Waiting Room at 300 devices", () => {
  it("pages and searches on the server, shows the name given at creation, and associates all 300 after a confirmation", async () => {
    expect(await waitingNow()).toBe(waitingCount);
    const { page } = browser;
    await page.getByRole("link", { name: "Waiting Room", exact: true }).click();
    const total = page.getByTestId("list-total");
    await total.filter({ hasText: `${waitingCount} waiting devices · showing 1–25` }).waitFor();
    await page.getByRole("row", { name: /dev-000/ }).getByTestId("waiting-name").filter({ hasText: "shelf-0" }).waitFor();

    await page.getByLabel("Search").fill("dev-01");
    await total.filter({ hasText: "10 waiting devices" }).waitFor();
    await page.getByLabel("Search").fill("");
    await total.filter({ hasText: `${waitingCount} waiting devices · showing 1–25` }).waitFor();

    await page.getByRole("checkbox", { name: "Select all" }).check();
    const bar = page.getByRole("region", { name: "Selection" });
    await bar.getByText("25 selected").waitFor();
    await bar.getByRole("button", { name: `Select all ${waitingCount} matching` }).click();
    await bar.getByText(`${waitingCount} selected`).waitFor();
    await bar.getByRole("button", { name: "Associate" }).click();
    const dialog = page.getByRole("dialog", { name: `Associate ${waitingCount} devices?` });
    await dialog.getByText(/dev-000, dev-001, dev-002, dev-003, dev-004 and 295 more/).waitFor();
    await browser.screenshot("lists-waiting-room-bulk-associate");
    // Cancel first: nothing changes.
    await dialog.getByRole("button", { name: "Cancel" }).click();
    expect(await waitingNow()).toBe(waitingCount);
    await bar.getByRole("button", { name: "Associate" }).click();
    await dialog.getByRole("button", { name: `Associate ${waitingCount} devices` }).click();
    await page.getByText(`Associated ${waitingCount} devices.`).waitFor({ timeout: 60_000 });
    await page.getByText("No device is waiting").waitFor();
    expect(await waitingNow()).toBe(0);
    expect((await api.call("GET", "/api/endpoints/counts")).body).toMatchObject({ Environments: 27 + waitingCount, Waiting: 0 });
  });
});

/** An export's lines, parsed (the fields these tests read). */
const exportLines = (text: string) => text.trimEnd().split("\n").map((line) => JSON.parse(line) as { id: number; kind: string; actor: string | null; hash: string });

describe("the activity log", () => {
  it("filters by kind on the server, and exports what the filters show as JSON lines", async () => {
    // Precondition: the deletes above left a few "removed" entries among 300 newer associations.
    const removed = await api.call<{ Kind: string; Actor: string }[]>("GET", "/api/audit?kind=removed");
    const count = removed.body.length;
    expect(count).toBeGreaterThanOrEqual(2);
    expect(removed.body.every((entry) => entry.Kind === "removed" && entry.Actor === "admin")).toBe(true);
    const { page } = browser;
    await page.getByRole("link", { name: "Activity", exact: true }).click();
    await page.getByRole("heading", { name: "Activity" }).waitFor();
    expect(await page.title()).toBe("Activity · Pier");
    const kindCells = page.getByRole("table", { name: "Activity" }).locator("tbody tr td:nth-child(2)");
    await kindCells.first().waitFor();
    expect(await kindCells.allTextContents()).not.toContain("removed");

    await page.getByLabel("Kind").selectOption("removed");
    await page.getByText(`${count} entries`, { exact: true }).waitFor();
    expect(await kindCells.allTextContents()).toEqual(Array(count).fill("removed"));
    await browser.screenshot("activity-filtered");

    const download = page.waitForEvent("download");
    await page.getByRole("button", { name: "Export JSON lines" }).click();
    const file = await download;
    expect(file.suggestedFilename()).toMatch(/^pier-activity-\d{8}T\d{6}Z\.jsonl$/);
    const saved = join(fixture?.dir.path ?? "", "activity-removed.jsonl");
    await file.saveAs(saved);
    expect(exportLines(readFileSync(saved, "utf8")).map((line) => [line.kind, line.actor])).toEqual(Array(count).fill(["removed", "admin"]));
  });

  it("exports the whole log over HTTPS, which `pier audit verify` accepts, as it accepts the store; an altered entry is named", async () => {
    const answer = await api.call<string>("GET", "/api/audit/export?format=jsonl");
    expect(answer.status).toBe(200);
    const lines = answer.body.trimEnd().split("\n");
    const entries = exportLines(answer.body);
    // 300 associations, tags, removals: far more than one page.
    expect(entries.length).toBeGreaterThan(300);
    const dir = fixture?.dir.path ?? "";
    writeFileSync(join(dir, "activity.jsonl"), answer.body);
    const head = entries.at(-1)?.hash ?? "";

    const fromFile = pier(["audit", "verify", "--file", join(dir, "activity.jsonl")]);
    expect(fromFile.status, fromFile.output).toBe(0);
    expect(fromFile.stdout).toContain(`Entries checked: ${entries.length}\nHead hash: ${head}`);
    expect(fromFile.stdout).toContain(`First entry's prevHash (taken as given): ${"0".repeat(64)}`);
    const fromStore = pier(["audit", "verify", "--data", join(dir, "data")]);
    expect(fromStore.status, fromStore.output).toBe(0);
    expect(fromStore.stdout).toContain(`Entries checked: ${entries.length}\nHead hash: ${head}`);

    const middle = Math.floor(entries.length / 2);
    const altered = lines.map((line, index) => (index === middle ? line.replace('"by":"admin"', '"by":"mallory"').replace('"actor":"admin"', '"actor":"mallory"') : line));
    expect(altered[middle]).not.toBe(lines[middle]);
    writeFileSync(join(dir, "altered.jsonl"), altered.join("\n"));
    const alteredCheck = pier(["audit", "verify", "--file", join(dir, "altered.jsonl")]);
    expect(alteredCheck.status).toBe(1);
    expect(alteredCheck.stdout).toContain(`entry ${entries[middle]?.id} was altered`);
    // A missing line (a broken link) is api/routes/audit.test.ts's, on the same code in-process:
    // each pier run costs ~3 s of the serial group.
  });
});

describe("the browser session", () => {
  it("survives opening a link in a new tab, keeps its token from script, and returns to the page asked for after login", async () => {
    const { page, context } = browser;
    await page.goto("/");
    await page.getByRole("heading", { level: 1, name: "Environments" }).waitFor();
    // The session token is an HttpOnly cookie: the page's script sees only the CSRF token.
    const visible = String(await page.evaluate("document.cookie"));
    expect(visible).toMatch(/^__Host-pier_csrf=[\w-]{43}$/);
    expect(String(await page.evaluate("JSON.stringify(sessionStorage)"))).toBe("{}");

    const tab = await context.newPage();
    try {
      await tab.goto("/edge-stacks");
      await tab.getByRole("heading", { level: 1, name: "Edge stacks" }).waitFor();
      expect(tab.url()).toMatch(/\/edge-stacks$/);
    } finally {
      await tab.close();
    }

    await page.getByRole("button", { name: "Log out" }).click();
    await page.waitForURL("**/login");
    expect(String(await page.evaluate("document.cookie"))).toBe("");
    await page.goto("/tags?x=1");
    await page.waitForURL(/\/login\?next=%2Ftags%3Fx%3D1$/);
    await browser.checkAccessibility("login");
    await page.getByLabel("Username").fill("admin");
    await page.getByLabel("Password", { exact: true }).fill(password);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL(/\/tags\?x=1$/);
    await page.getByRole("heading", { level: 1, name: "Tags" }).waitFor();
  });
});

/** `data-mantine-color-scheme` on `<html>`: the scheme the page is drawn in. */
const shownScheme = (page: Page) => page.evaluate("document.documentElement.dataset.mantineColorScheme");
/** The body's computed background colour (Mantine's `--mantine-color-body`). */
const bodyBackground = (page: Page) => page.evaluate("getComputedStyle(document.body).backgroundColor");
const darkBody = "rgb(36, 36, 36)";
const lightBody = "rgb(255, 255, 255)";

describe("accessibility and the colour scheme", () => {
  it("axe-core reports no violation on any screen, in the light and the dark scheme of the system", async () => {
    const screens = await tourScreens(api, "a11y");
    const shotInDark = new Set(["home", "environment", "certificates", "edge-stack"]);
    const { page } = browser;
    // No choice stored: the UI follows the system's scheme, emulated by Chromium.
    expect(await page.evaluate("localStorage.getItem('pier-color-scheme')")).toBeNull();
    for (const scheme of ["light", "dark"] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.goto("/");
      for (const { path, heading, slug } of screens) {
        // In the app, as a link would (a full load per screen would double the time).
        await page.evaluate(`history.pushState(null, "", ${JSON.stringify(path)}); dispatchEvent(new PopStateEvent("popstate"))`);
        await page.getByRole("heading", { level: 1, name: heading, exact: true }).waitFor();
        await screenSettled(page);
        expect(await shownScheme(page)).toBe(scheme);
        await browser.checkAccessibility(`${path} (${scheme})`);
        if (scheme === "dark" && shotInDark.has(slug)) await browser.screenshot(`dark-${slug}`);
      }
      expect(await bodyBackground(page)).toBe(scheme === "dark" ? darkBody : lightBody);
    }
    await page.emulateMedia({ colorScheme: "light" });
  }, 90_000);

  it("switches the scheme with the header's toggle, keeps the choice across a reload, and follows the system again on Auto", async () => {
    const { page } = browser;
    await page.emulateMedia({ colorScheme: "light" });
    await page.goto("/");
    const toggle = page.getByRole("radiogroup", { name: "Colour scheme" });
    expect(await toggle.getByRole("radio", { name: "Auto" }).isChecked()).toBe(true);
    expect(await shownScheme(page)).toBe("light");

    await toggle.locator("label", { hasText: "Dark" }).click();
    await expect.poll(() => shownScheme(page)).toBe("dark");
    expect(await bodyBackground(page)).toBe(darkBody);
    await page.reload();
    await page.getByRole("heading", { level: 1, name: "Environments" }).waitFor();
    expect(await shownScheme(page)).toBe("dark");
    expect(await toggle.getByRole("radio", { name: "Dark" }).isChecked()).toBe(true);

    // A choice overrides the system's scheme; Auto follows it again, as it changes.
    await page.emulateMedia({ colorScheme: "dark" });
    await toggle.locator("label", { hasText: "Light" }).click();
    await expect.poll(() => shownScheme(page)).toBe("light");
    expect(await bodyBackground(page)).toBe(lightBody);
    await toggle.locator("label", { hasText: "Auto" }).click();
    await expect.poll(() => shownScheme(page)).toBe("dark");
    await page.emulateMedia({ colorScheme: "light" });
    await expect.poll(() => shownScheme(page)).toBe("light");
    expect(await page.evaluate("localStorage.getItem('pier-color-scheme')")).toBe("auto");
  });

  it("draws the system's dark scheme before the app's script runs (no flash of light)", async () => {
    const tab = await browser.context.newPage();
    try {
      await tab.emulateMedia({ colorScheme: "dark" });
      // Only public/color-scheme.js and the stylesheet: the app's own script never starts.
      await tab.route("**/assets/*.js", (route) => route.abort());
      await tab.goto("/");
      await tab.evaluate("localStorage.removeItem('pier-color-scheme')");
      await tab.reload();
      expect(await shownScheme(tab)).toBe("dark");
      expect(await bodyBackground(tab)).toBe(darkBody);
    } finally {
      await tab.close();
    }
  });
});

describe("teams (docs/ui.md \"Teams\")", () => {
  it("creates, edits and deletes teams; a member sees only the team's environments, and a user in no team is told why", async () => {
    const { page } = browser;
    // Preconditions: an operator and an edge group holding one environment of the 30.
    const site = await api.call<{ Id: number }>("POST", "/api/endpoints", { Name: "team-site" });
    const olga = await api.call<{ Id: number }>("POST", "/api/users", { Username: "olga", Password: `olga ${password}`, Role: "operator" });
    const group = await api.call<{ Id: number }>("POST", "/api/edge_groups", { Name: "berlin-shops", Dynamic: false, Endpoints: [site.body.Id] });
    const scratch = await api.call<{ Id: number }>("POST", "/api/teams", { Name: "Scratch" });
    expect([site.status, olga.status, group.status, scratch.status]).toEqual([200, 200, 200, 200]);

    await page.goto("/");
    // Signed in by the tests before (run alone, this one signs in).
    await page.getByRole("heading", { level: 1 }).first().waitFor();
    if (new URL(page.url()).pathname === "/login") await browser.logIn("admin", password);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Teams" }).click();
    await page.getByRole("heading", { level: 1, name: "Teams" }).waitFor();
    const form = page.getByRole("form", { name: "New team" });
    await form.getByLabel("Name").fill("Berlin ops");
    for (const [label, option] of [["Members", "olga"], ["Edge groups", "berlin-shops"]] as const) {
      await form.locator("input").and(page.getByLabel(label, { exact: true })).click();
      await page.getByRole("option", { name: option }).click();
      await page.keyboard.press("Escape");
    }
    await form.getByRole("button", { name: "Create team" }).click();
    const table = page.getByRole("table", { name: "Teams" });
    await table.getByRole("row", { name: /Berlin ops\s*olga\s*berlin-shops/ }).waitFor();

    await page.getByRole("button", { name: "Edit Berlin ops" }).click();
    const dialog = page.getByRole("dialog", { name: "Edit Berlin ops" });
    await dialog.getByLabel("Name").fill("Berlin operations");
    await dialog.getByRole("button", { name: "Save" }).click();
    await table.getByRole("row", { name: /Berlin operations\s*olga\s*berlin-shops/ }).waitFor();
    // The dialog's closing transition over, so the screenshot shows the screen itself.
    await page.locator(".mantine-Modal-content").waitFor({ state: "detached" });
    await screenSettled(page);
    await browser.screenshot("lists-teams");
    await browser.checkAccessibility("teams");

    await page.getByRole("button", { name: "Delete Scratch" }).click();
    const confirm = page.getByRole("dialog", { name: "Delete team Scratch?" });
    // The destructive button never has the initial focus.
    await confirm.getByRole("button", { name: "Delete team" }).waitFor();
    await expect.poll(() => page.evaluate("document.activeElement?.textContent")).toBe("Cancel");
    await confirm.getByRole("button", { name: "Delete team" }).click();
    await table.getByRole("row", { name: /Scratch/ }).waitFor({ state: "detached" });
    const teams = (await api.call<{ Id: number; Name: string; UserIds: number[]; EdgeGroupIds: number[] }[]>("GET", "/api/teams")).body;
    expect(teams).toEqual([expect.objectContaining({ Name: "Berlin operations", UserIds: [olga.body.Id], EdgeGroupIds: [group.body.Id] })]);

    // The member sees the team's environment and nothing else.
    await page.getByRole("button", { name: "Log out" }).click();
    await page.waitForURL("**/login");
    await browser.logIn("olga", `olga ${password}`);
    await page.getByTestId("list-total").filter({ hasText: "1 environment" }).waitFor();
    expect(await shownNames()).toEqual(["team-site"]);
    // Out of every team: nothing, and Home says why and whom to ask.
    expect((await api.call("PUT", `/api/teams/${teams[0]?.Id ?? 0}`, { UserIds: [] })).status).toBe(200);
    await page.reload();
    await page.getByRole("alert").filter({ hasText: "You are in no team" }).waitFor();
    await page.getByText("Ask an administrator to add you to a team").waitFor();
    expect(await shownNames()).toEqual([]);
    await browser.screenshot("lists-home-no-team");
    // Left signed in as olga: the tests after this one only read the browser's console.
  });
});

describe("the lists' console", () => {
  it("logged no error in the browser console", () => {
    expect(browser.consoleErrors).toEqual([]);
  });
});
