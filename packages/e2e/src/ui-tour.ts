import type { Page } from "playwright-core";
import type { PierApi } from "./pier-api.ts";

/** A screen of the web UI: its path, and its `h1` in English. */
export interface TourScreen {
  readonly path: string;
  readonly heading: string;
  /** A file-name-safe name for its screenshots. */
  readonly slug: string;
}

/**
 * Makes one of each fleet object (an edge group of the first environment, a stack, a job, an
 * agent update) through the API, and returns every main screen of the UI with them, so that
 * each screen is visited with content. Needs at least one environment.
 *
 * @example
 * const screens = await tourScreens(api, "a11y");
 */
export async function tourScreens(api: PierApi, prefix: string): Promise<TourScreen[]> {
  const [site] = (await api.call<{ Id: number; Name: string }[]>("GET", "/api/endpoints?waitingRoom=false&limit=1")).body;
  if (!site) throw new Error("tourScreens needs an environment to show");
  const group = await api.call<{ Id: number }>("POST", "/api/edge_groups", { Name: `${prefix}-group`, Dynamic: false, TagIDs: [], Endpoints: [site.Id], PartialMatch: false });
  const stack = await api.call<{ Id: number }>("POST", "/api/edge_stacks/create/string", { name: `${prefix}-stack`, stackFileContent: "services:\n  web:\n    image: nginx:alpine\n", edgeGroups: [group.body.Id], deploymentType: 0 });
  const job = await api.call<{ Id: number }>("POST", "/api/edge_jobs/create/string", { name: `${prefix}-job`, cronExpression: "0 3 * * *", recurring: true, edgeGroups: [], endpoints: [site.Id], fileContent: "uptime" });
  const update = await api.call<{ id: number }>("POST", "/api/edge_update_schedules", { name: `${prefix}-update`, groupIDs: [group.body.Id], agentImage: "pier-agent:2", deadlineSeconds: 300, type: 1 });
  const statuses = [group.status, stack.status, job.status, update.status];
  if (statuses.some((status) => status !== 200)) throw new Error(`making the tour's fleet objects answered ${statuses.join(", ")}`);
  const screens: [path: string, heading: string, slug: string][] = [
    ["/", "Environments", "home"],
    ["/waiting-room", "Waiting Room", "waiting-room"],
    ["/environments/new", "Add environment", "add-environment"],
    [`/environments/${site.Id}`, site.Name, "environment"],
    ["/settings/edge", "Edge Compute", "edge-compute"],
    ["/certificates", "Certificates", "certificates"],
    ["/tags", "Tags", "tags"],
    ["/edge-groups", "Edge groups", "edge-groups"],
    [`/edge-groups/${group.body.Id}`, `${prefix}-group`, "edge-group"],
    ["/edge-groups/new", "New edge group", "edge-group-new"],
    ["/edge-stacks", "Edge stacks", "edge-stacks"],
    [`/edge-stacks/${stack.body.Id}`, `${prefix}-stack`, "edge-stack"],
    ["/edge-stacks/new", "New edge stack", "edge-stack-new"],
    ["/edge-jobs", "Edge jobs", "edge-jobs"],
    [`/edge-jobs/${job.body.Id}`, `${prefix}-job`, "edge-job"],
    ["/edge-jobs/new", "New edge job", "edge-job-new"],
    ["/agent-updates", "Agent updates", "agent-updates"],
    [`/agent-updates/${update.body.id}`, `${prefix}-update`, "agent-update"],
    ["/agent-updates/new", "New agent update", "agent-update-new"],
    ["/users", "Users", "users"],
    ["/teams", "Teams", "teams"],
    ["/account", "Account", "account"],
    ["/activity", "Activity", "activity"],
    ["/no-such-page", "Page not found", "not-found"],
  ];
  return screens.map(([path, heading, slug]) => ({ path, heading, slug }));
}

/** Waits until the screen's data is in: no loader and no busy region left. */
export async function screenSettled(page: Page): Promise<void> {
  await page.locator('[aria-busy="true"], .mantine-Loader-root').first().waitFor({ state: "detached" });
}

// In the page (the e2e package is compiled without the DOM's types): every visible text node and
// the attributes read out, outside what is shown as the device or Docker wrote it.
const readTexts = `(() => {
  const skip = "code, pre, kbd, samp, textarea, svg, .cm-editor, .xterm, [data-untranslated]";
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest(skip) || parent.closest("[hidden], [aria-hidden='true']")) continue;
    const style = getComputedStyle(parent);
    if (style.display === "none" || style.visibility === "hidden") continue;
    if (node.textContent.trim()) found.push(node.textContent.trim());
  }
  for (const element of document.body.querySelectorAll("[aria-label], [placeholder], [title]")) {
    if (element.closest(skip)) continue;
    for (const name of ["aria-label", "placeholder", "title"]) {
      const value = (element.getAttribute(name) || "").trim();
      if (value) found.push(value);
    }
  }
  return found;
})()`;

/**
 * The English words a user reads or hears on the page as it stands: text and the `aria-label`,
 * `placeholder` and `title` of elements, outside code, commands, editors and terminals (what a
 * device or Docker says, shown as it is), minus the words in `allowed` (product and protocol
 * names, the names of the test's own objects). Each as `word: "…its text…"`.
 *
 * @example
 * expect(await englishWords(page, ["Pier", "Docker", "site-01"])).toEqual([]);
 */
export async function englishWords(page: Page, allowed: readonly string[]): Promise<string[]> {
  const texts = await page.evaluate<string[]>(readTexts);
  // Longest first ("Edge ID" before "ID"), each as a whole word or phrase ("a11y-group").
  const escaped = [...allowed].sort((a, b) => b.length - a.length).map((token) => token.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const allowedPattern = new RegExp(`(?<![A-Za-z0-9])(${escaped.join("|")})(?![A-Za-z0-9])`, "g");
  const words: string[] = [];
  for (const text of texts) {
    const rest = allowed.length > 0 ? text.replace(allowedPattern, " ") : text;
    for (const [word] of rest.matchAll(/(?<![A-Za-z0-9])[A-Za-z][A-Za-z'’]{2,}(?![A-Za-z0-9])/g)) words.push(`${word}: "${text.slice(0, 80)}"`);
  }
  return [...new Set(words)];
}
