import { mkdirSync, readFileSync } from "node:fs";
import { ensureUiBuilt } from "../../../scripts/build-ui.ts";
import { type BrowserSession, openBrowser } from "./browser.ts";
import { PierApi, readSetupToken } from "./pier-api.ts";
import { type PierServer, startPierServer } from "./pier-processes.ts";
import { type TempDir, tempDir } from "./temp-dir.ts";

/** A first-run server serving the web UI, a Chromium trusting its key, and the admin's API client. */
export interface UiFixture extends AsyncDisposable {
  readonly dir: TempDir;
  readonly server: PierServer;
  readonly browser: BrowserSession;
  /** Logged in as `admin`, created with the server's setup token. */
  readonly api: PierApi;
}

/**
 * Builds the UI when its build is stale, starts `pier server` (built-in CA, data in `dir/data` of
 * a new temporary directory named after `name`) and Chromium on `https://127.0.0.1:PORT`, and
 * creates the first admin with `password` as the README shows. Dispose it to close the browser,
 * stop the server and remove the directory. `seed`, when given, runs first, on the data
 * directory (made 0700, empty), with no server running.
 *
 * @example
 * ({ browser, api } = fixture = await startUiFixture("web-ui-lists", password));
 */
export async function startUiFixture(name: string, password: string, options: { seed?: (dataDir: string) => Promise<void> } = {}): Promise<UiFixture> {
  ensureUiBuilt();
  const dir = tempDir(name);
  const started: AsyncDisposable[] = [dir];
  const disposeAll = async () => {
    for (const resource of [...started].reverse()) await resource[Symbol.asyncDispose]();
  };
  try {
    if (options.seed) {
      mkdirSync(dir.file("data"), { mode: 0o700 });
      await options.seed(dir.file("data"));
    }
    const server = await startPierServer({ dataDir: dir.file("data") });
    started.push(server);
    const [, spki = ""] = await server.waitFor(/pinned by agents\): ([0-9a-f]{64})/);
    const browser = await openBrowser({ baseURL: `https://127.0.0.1:${server.httpsPort}`, serverSpki: spki });
    started.push(browser);
    const api = new PierApi(`https://127.0.0.1:${server.httpsPort}`, { ca: readFileSync(dir.file("data/ca/ca.crt")) });
    const admin = await api.initAdmin("admin", password, readSetupToken(dir.file("data")));
    if (admin.status !== 200) throw new Error(`creating the first admin answered ${admin.status}: ${JSON.stringify(admin.body)}`);
    await api.login("admin", password);
    return { dir, server, browser, api, [Symbol.asyncDispose]: disposeAll };
  } catch (error) {
    await disposeAll();
    throw error;
  }
}
