import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import { ensureUiBuilt } from "../../../scripts/build-ui.ts";
import { PierApi, docker, readSetupToken, openBrowser, pierOk, run, startPierAgent, startPierServer, startShellCommand, tempDir, testImage, until, type BrowserSession, type PierProcess, type PierServer, type TempDir } from "../src/index.ts";

/**
 * The web UI in real Chromium against a real server, real agents and the real Docker Engine:
 * the onboarding story by clicking, the mTLS upload applied live, and a container driven from
 * its environment page. One browser and one server for the file; the tests run in order, each
 * going on from where the previous one left the UI. Screenshots: .tmp/ui-screenshots/.
 */
const password = "correct horse battery staple";
let dir: TempDir;
let server: PierServer;
let browser: BrowserSession;
let api: PierApi;
const agents: PierProcess[] = [];
const containerName = `pier-ui-ticker-${process.pid}`;

const must = (args: string[]) => pierOk(args, { cwd: dir.path });

beforeAll(async () => {
  ensureUiBuilt();
  dir = tempDir("web-ui");
  // The set the operator uploads in Settings → Edge Compute, a client certificate of that CA for
  // an agent, and a certificate with the wrong extended key usage (clientAuth, no serverAuth).
  must(["ca", "init", "--dir", "upload-ca", "--cn", "Upload mTLS CA"]);
  must(["ca", "issue", "server", "--dir", "upload-ca", "--san", "DNS:localhost", "--out", "upload-server"]);
  must(["ca", "issue", "client", "--dir", "upload-ca", "--cn", "edge-mtls", "--out", "edge-mtls"]);
  must(["ca", "issue", "client", "--dir", "upload-ca", "--cn", "wrong-eku", "--out", "wrong-eku"]);
  server = await startPierServer({ dataDir: dir.file("data") });
  const [, spki = ""] = await server.waitFor(/pinned by agents\): ([0-9a-f]{64})/);
  browser = await openBrowser({ baseURL: `https://127.0.0.1:${server.httpsPort}`, serverSpki: spki });
  api = new PierApi(`https://127.0.0.1:${server.httpsPort}`, { ca: readFileSync(dir.file("data/ca/ca.crt")) });
  run("docker", ["rm", "-f", containerName]);
  // No network: a container's veth going away makes Chromium drop its requests (ERR_NETWORK_CHANGED).
  docker(["run", "-d", "--name", containerName, "--network", "none", testImage, "sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 1; done"]);
}, 180_000);

afterAll(async () => {
  run("docker", ["rm", "-f", containerName]);
  await Promise.all(agents.map((agent) => agent.stop()));
  await browser?.[Symbol.asyncDispose]();
  await server?.stop();
  await dir?.[Symbol.asyncDispose]();
});

describe("the web UI", () => {
  it("creates the administrator on first run with the setup token, logs out and in again", async () => {
    const { page } = browser;
    expect((await api.call<{ AdminExists: boolean; SetupTokenRequired: boolean }>("GET", "/api/system/status")).body).toMatchObject({ AdminExists: false, SetupTokenRequired: true });
    const setupToken = readSetupToken(dir.file("data"));
    await page.goto("/");
    await page.waitForURL("**/init");
    await page.getByText(/admin-setup-token in its data directory/).waitFor();
    // A wrong token: the server's 403 appears under the field, and nothing is created.
    await page.getByLabel("Setup token").fill(`${setupToken.slice(0, -1)}x`);
    await page.getByLabel("Username").fill("admin");
    await page.getByLabel("Password", { exact: true }).fill(password);
    await page.getByLabel("Confirm password").fill(password);
    await page.getByRole("button", { name: "Create administrator" }).click();
    await page.getByText(/The setup token is not the one in admin-setup-token/).waitFor();
    expect((await api.call<{ AdminExists: boolean }>("GET", "/api/system/status")).body.AdminExists).toBe(false);
    await page.getByLabel("Setup token").fill(setupToken);
    await browser.screenshot("01-first-run");
    await page.getByRole("button", { name: "Create administrator" }).click();
    await page.getByRole("heading", { name: "Environments" }).waitFor();
    expect((await api.call<{ AdminExists: boolean }>("GET", "/api/system/status")).body.AdminExists).toBe(true);
    expect(existsSync(dir.file("data/admin-setup-token"))).toBe(false);
    await page.getByRole("button", { name: "Log out" }).click();
    await page.waitForURL("**/login");
    // By keyboard alone: Tab from the user name to the password, Enter submits.
    await page.getByLabel("Username").fill("admin");
    await page.keyboard.press("Tab");
    await page.keyboard.type(password);
    expect(await page.getByLabel("Password", { exact: true }).inputValue()).toBe(password);
    await browser.screenshot("02-login");
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Environments" }).waitFor();
    await api.login("admin", password);
  });

  it("onboards a device: add environment, run the generated command, Waiting Room, Associate, green", async () => {
    const { page } = browser;
    await page.getByRole("link", { name: "Add environment" }).click();
    await page.getByLabel("Name").fill("edge-ui");
    await page.getByLabel("Edge ID").fill("edge-ui-1");
    await page.getByRole("radio", { name: "Pier agent (Linux host)" }).check();
    await page.getByRole("button", { name: "Create" }).click();
    const command = (await page.getByTestId("agent-command").textContent()) ?? "";
    expect(command).toMatch(/EDGE_ID=edge-ui-1 .*EDGE_KEY=\S+ .*pier agent/s);
    // The built-in CA's flow (no operator mTLS set yet): no certificate file, and the screen says why.
    expect(command).not.toMatch(/--mtls|\.crt|\.key\b/);
    expect(await page.getByTestId("enrollment-flow").textContent()).toMatch(/^Built-in CA: .*no certificate files to copy\.$/);
    await page.getByRole("button", { name: "Copy" }).click();
    await page.getByText("Copied").waitFor();
    expect(await page.evaluate("navigator.clipboard.readText()")).toBe(command);
    await browser.screenshot("03-add-environment");

    const agent = startShellCommand(command, { cwd: dir.path });
    agents.push(agent);
    await agent.waitFor(/waiting for association in the Waiting Room/, 30_000);

    await page.getByRole("link", { name: "Waiting Room" }).click();
    const row = page.getByRole("row", { name: /edge-ui-1/ });
    await row.waitFor();
    await browser.screenshot("04-waiting-room");
    await page.getByRole("checkbox", { name: "Select edge-ui-1" }).check();
    await page.getByRole("button", { name: "Associate" }).click();
    await page.getByText("No device is waiting").waitFor();
    await agent.waitFor(/associated/, 30_000);

    await page.getByRole("link", { name: "Home" }).click();
    const home = page.getByRole("row", { name: /edge-ui/ });
    await home.getByText("online").waitFor({ timeout: 30_000 });
    await browser.screenshot("05-home");
  });

  it("stops and starts a real container from the environment page and shows its logs", async () => {
    const { page } = browser;
    await page.getByRole("link", { name: "edge-ui" }).click();
    await page.getByRole("heading", { name: "edge-ui" }).waitFor();
    const row = page.getByRole("row", { name: new RegExp(containerName) });
    await row.getByText("running").waitFor({ timeout: 30_000 });
    await browser.screenshot("06-environment");

    await page.getByRole("button", { name: `Logs ${containerName}`, exact: true }).click();
    const log = page.getByRole("log");
    await expect.poll(async () => (await log.textContent()) ?? "", { timeout: 20_000 }).toMatch(/tick \d+/);
    const before = Number(/tick (\d+)\s*$/.exec((await log.textContent()) ?? "")?.[1]);
    // Following: new lines arrive while the drawer is open.
    await expect.poll(async () => Number(/tick (\d+)\s*$/.exec((await log.textContent()) ?? "")?.[1]), { timeout: 20_000 }).toBeGreaterThan(before);
    await browser.screenshot("07-logs");
    await page.keyboard.press("Escape");

    await page.getByRole("button", { name: `Stop ${containerName}`, exact: true }).click();
    await row.getByText("exited").waitFor({ timeout: 30_000 });
    expect(docker(["inspect", "-f", "{{.State.Running}}", containerName])).toBe("false");
    await page.getByRole("button", { name: `Start ${containerName}`, exact: true }).click();
    await row.getByText("running").waitFor({ timeout: 30_000 });
    expect(docker(["inspect", "-f", "{{.State.Running}}", containerName])).toBe("true");

    for (const tab of ["Images", "Volumes", "Networks"]) {
      await page.getByRole("tab", { name: tab }).click();
      await page.getByRole("tabpanel", { name: tab }).getByRole("row").nth(1).waitFor();
    }
    await browser.screenshot("08-environment-networks");
  });

  it("refuses an mTLS certificate with the wrong EKU next to its field, then applies a valid set live", async () => {
    const { page } = browser;
    await page.getByRole("link", { name: "Edge Compute" }).click();
    await page.getByRole("switch", { name: "Use separate mTLS cert" }).check();
    await page.getByLabel("CA certificate", { exact: true }).setInputFiles(dir.file("upload-ca/ca.crt"));
    await page.getByLabel("TLS certificate", { exact: true }).setInputFiles(dir.file("wrong-eku.crt"));
    await page.getByLabel("TLS key", { exact: true }).setInputFiles(dir.file("wrong-eku.key"));
    await page.getByRole("button", { name: "Apply mTLS certificates" }).click();
    // edge-ui holds no certificate of the uploaded CA: the UI says it will be disconnected and asks first.
    await page.getByRole("dialog").getByText(/1 connected agent of 1 will be disconnected/).waitFor();
    await page.getByRole("button", { name: "Apply anyway" }).click();
    const error = page.getByText(/serverAuth/);
    await error.waitFor();
    await browser.screenshot("09-mtls-wrong-eku");
    expect((await api.call<{ Source: string }>("GET", "/api/settings/edge/mtls")).body.Source).toBe("none");

    await page.getByLabel("TLS certificate", { exact: true }).setInputFiles(dir.file("upload-server.crt"));
    await page.getByLabel("TLS key", { exact: true }).setInputFiles(dir.file("upload-server.key"));
    await page.getByRole("button", { name: "Apply mTLS certificates" }).click();
    await page.getByRole("button", { name: "Apply anyway" }).click();
    await page.getByText("mTLS certificates applied").waitFor();
    await browser.screenshot("10-edge-compute");

    // No restart: an agent holding a client certificate of the new CA connects now, to the
    // mTLS domain (localhost) with the key the server hands out for it.
    const key = await api.call<{ edgeKey: string }>("POST", "/api/endpoints/edge/generate-key");
    const agent = startPierAgent({
      edgeId: "edge-mtls",
      edgeKey: key.body.edgeKey,
      dataDir: dir.file("agent-mtls"),
      args: ["--mtlscacert", dir.file("upload-ca/ca.crt"), "--mtlscert", dir.file("edge-mtls.crt"), "--mtlskey", dir.file("edge-mtls.key")],
    });
    agents.push(agent);
    await agent.waitFor(/waiting for association in the Waiting Room/, 30_000);
    await page.getByRole("link", { name: "Waiting Room" }).click();
    await page.getByRole("row", { name: /edge-mtls/ }).getByText(/CN=edge-mtls/).waitFor();
  });

  it("shows the certificates and their expiry timeline", async () => {
    const { page } = browser;
    await page.getByRole("link", { name: "Certificates" }).click();
    await page.getByRole("heading", { name: "Expiry" }).waitFor();
    await until("the client certificate of edge-mtls on the page", async () => ((await page.getByText(/CN=edge-mtls/).count()) > 0 ? true : undefined));
    await browser.screenshot("11-certificates");
  });

  it("logged no error in the browser console", () => {
    // Chromium logs every 4xx answer; those the tests provoked (the wrong setup token, the
    // wrong-EKU upload) are expected.
    const provoked = /status of 403 .*\/api\/users\/admin\/init\)$|status of 422 .*\/api\/settings\/edge\/mtls\)$/;
    expect(browser.consoleErrors.filter((error) => !provoked.test(error))).toEqual([]);
  });
});
