import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { request as httpsRequest } from "node:https";
import type { Duplex } from "node:stream";
import { ensureUiBuilt } from "../../../scripts/build-ui.ts";
import { PierApi, docker, readSetupToken, openBrowser, pierOk, run, startDockerRegistry, startPierAgent, startPierServer, startShellCommand, tempDir, testImage, until, type BrowserSession, type PierProcess, type PierServer, type TempDir } from "../src/index.ts";

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
const createdName = `pier-ui-created-${process.pid}`;
const renamedName = `${createdName}-renamed`;

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
  run("docker", ["rm", "-f", containerName, createdName, renamedName]);
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
    await browser.checkAccessibility("01-first-run");
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
    await browser.checkAccessibility("02-login");
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Environments" }).waitFor();
    await api.login("admin", password);
  });

  it("onboards a device: add environment, run the generated command, Waiting Room, Associate, green", async () => {
    const { page } = browser;
    await page.getByRole("link", { name: "Add environment" }).click();
    await page.getByLabel("Name").fill("edge-ui");
    await page.getByLabel("Edge ID").fill("edge-ui-1");
    await page.getByRole("button", { name: "Create" }).click();
    // Docker standalone (the default): this server's loopback URL would not reach it from a container.
    const warning = page.getByTestId("loopback-warning");
    await warning.waitFor();
    expect(await warning.textContent()).toMatch(/A container cannot reach (127\.0\.0\.1|localhost)/);
    expect(await page.getByTestId("agent-command").textContent()).toMatch(/ pier-agent:latest$/);
    // Kubernetes: Helm takes the chart this server serves (agent-chart.test.ts runs it), trusting the CA file the screen names.
    await page.getByRole("radio", { name: "Kubernetes" }).check();
    await page.getByTestId("helm-ca").waitFor();
    expect(await page.getByTestId("agent-command").textContent()).toMatch(/^helm install pier-agent https:\/\/\S+\/charts\/pier-agent-\d+\.\d+\.\d+\.tgz --ca-file \.\/pier-ca\.pem --set edge\.id=edge-ui-1 /);
    expect(await page.getByTestId("helm-ca").textContent()).toMatch(/save this server's CA certificate as pier-ca\.pem \(Certificates → Download CA certificate\)/);
    await page.getByRole("radio", { name: "Pier agent (Linux host)" }).check();
    await warning.waitFor({ state: "detached" });
    const command = (await page.getByTestId("agent-command").textContent()) ?? "";
    expect(command).toMatch(/EDGE_ID=edge-ui-1 .*EDGE_KEY=\S+ .*pier agent/s);
    // The built-in CA's flow (no operator mTLS set yet): no certificate file, and the screen says why.
    expect(command).not.toMatch(/--mtls|\.crt|\.key\b/);
    expect(await page.getByTestId("enrollment-flow").textContent()).toMatch(/^Built-in CA: .*no certificate files to copy\.$/);
    expect(await page.getByTestId("device-check-in").textContent()).toMatch(/Waiting for the device to check in/);
    await page.getByRole("button", { name: "Copy" }).click();
    await page.getByText("Copied").waitFor();
    expect(await page.evaluate("navigator.clipboard.readText()")).toBe(command);
    await browser.screenshot("03-add-environment");
    await browser.checkAccessibility("03-add-environment");

    const agent = startShellCommand(command, { cwd: dir.path });
    agents.push(agent);
    await agent.waitFor(/waiting for association in the Waiting Room/, 30_000);
    // The verify step saw it and points to where it waits.
    const checkIn = page.getByTestId("device-check-in");
    await checkIn.getByText("The device has checked in").waitFor({ timeout: 15_000 });
    await checkIn.getByRole("link", { name: "Associate it in the Waiting Room" }).waitFor();

    await page.getByRole("link", { name: "Waiting Room", exact: true }).click();
    const row = page.getByRole("row", { name: /edge-ui-1/ });
    await row.waitFor();
    await browser.screenshot("04-waiting-room");
    await browser.checkAccessibility("04-waiting-room");
    await page.getByRole("checkbox", { name: "Select edge-ui-1" }).check();
    await page.getByRole("button", { name: "Associate" }).click();
    await page.getByText("No device is waiting").waitFor();
    await agent.waitFor(/associated/, 30_000);

    await page.getByRole("link", { name: "Home" }).click();
    const home = page.getByRole("row", { name: /edge-ui/ });
    await home.getByText("online").waitFor({ timeout: 30_000 });
    await browser.screenshot("05-home");
    await browser.checkAccessibility("05-home");
  });

  it("stops and starts a real container from the environment page and shows its logs", async () => {
    const { page } = browser;
    await page.getByRole("link", { name: "edge-ui" }).click();
    await page.getByRole("heading", { name: "edge-ui" }).waitFor();
    const row = page.getByRole("row", { name: new RegExp(containerName) });
    await row.getByText("running").waitFor({ timeout: 30_000 });
    await browser.screenshot("06-environment");
    await browser.checkAccessibility("06-environment");

    await page.getByRole("button", { name: `Logs ${containerName}`, exact: true }).click();
    const log = page.getByRole("log");
    await expect.poll(async () => (await log.textContent()) ?? "", { timeout: 20_000 }).toMatch(/tick \d+/);
    const before = Number(/tick (\d+)\s*$/.exec((await log.textContent()) ?? "")?.[1]);
    // Following: new lines arrive while the drawer is open.
    await expect.poll(async () => Number(/tick (\d+)\s*$/.exec((await log.textContent()) ?? "")?.[1]), { timeout: 20_000 }).toBeGreaterThan(before);
    // Search within, timestamps (the stream restarts with them), and the download of what is shown.
    const logs = page.getByRole("dialog", { name: `Logs of ${containerName}` });
    await logs.getByLabel("Search").fill(`tick ${before}`);
    await expect.poll(async () => (await log.textContent())?.split("\n").filter(Boolean)).toEqual([`tick ${before}`]);
    await logs.getByLabel("Search").fill("");
    await logs.getByRole("switch", { name: "Timestamps" }).check();
    await expect.poll(async () => (await log.textContent()) ?? "", { timeout: 20_000 }).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z tick \d+$/m);
    const [saved] = await Promise.all([page.waitForEvent("download"), logs.getByRole("button", { name: "Download" }).click()]);
    expect(saved.suggestedFilename()).toBe(`${containerName}.log`);
    expect(readFileSync(await saved.path(), "utf8")).toMatch(/Z tick \d+\n/);
    await browser.screenshot("07-logs");
    await browser.checkAccessibility("07-logs");
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
    await browser.checkAccessibility("08-environment-networks");
  });

  it("opens a console in a real container through the tunnel: a command's output, a resize, refusals", async () => {
    const { page } = browser;
    await page.getByRole("tab", { name: "Containers" }).click();
    await page.getByRole("button", { name: `Console ${containerName}`, exact: true }).click();
    const drawer = page.getByRole("dialog", { name: `Console of ${containerName}` });
    // Refused before any shell starts: a "shell" with shell characters, its error shown whole.
    await drawer.getByLabel("Shell", { exact: true }).click();
    await page.getByRole("option", { name: "custom" }).click();
    await drawer.getByLabel("Command", { exact: true }).fill("/bin/sh;id");
    await drawer.getByRole("button", { name: "Connect" }).click();
    await expect.poll(async () => drawer.getByRole("alert").textContent()).toBe('shell "/bin/sh;id" is not an absolute path such as /bin/sh, without spaces, quotes or shell characters.');

    await drawer.getByLabel("Shell", { exact: true }).click();
    await page.getByRole("option", { name: "/bin/sh" }).click();
    await drawer.getByRole("button", { name: "Connect" }).click();
    await drawer.getByText("connected", { exact: true }).waitFor({ timeout: 20_000 });
    const screen = drawer.locator(".xterm-rows");
    await page.keyboard.type("echo pier-$((6*7))\n");
    // Only the shell's output says pier-42: the echoed command line says pier-$((6*7)).
    await expect.poll(async () => screen.innerText(), { timeout: 15_000 }).toMatch(/^pier-42$/m);
    const sizes = async () => [...(await screen.innerText()).matchAll(/^(\d+) (\d+)$/gm)].map((match) => `${match[1]}x${match[2]}`);
    await page.keyboard.type("busybox stty size\n");
    await expect.poll(sizes, { timeout: 15_000 }).toHaveLength(1);
    const [before] = await sizes();
    await browser.screenshot("08a-console");
    await browser.checkAccessibility("08a-console");
    await page.setViewportSize({ width: 1000, height: 620 });
    // The terminal refits to the smaller drawer and the shell's TTY follows.
    await expect.poll(async () => (await page.locator(".xterm").boundingBox())?.height ?? 0).toBeLessThan(500);
    await page.keyboard.type("busybox stty size\n");
    await expect.poll(sizes, { timeout: 15_000 }).toHaveLength(2);
    const [, after] = await sizes();
    expect(after).toMatch(/^\d+x\d+$/);
    expect(after).not.toBe(before);
    await page.setViewportSize({ width: 1280, height: 800 });

    await page.keyboard.type("exit 3\n");
    await drawer.getByText("The shell exited with code 3.").waitFor({ timeout: 15_000 });
    await page.getByRole("button", { name: "Close console" }).click();

    // The WebSocket itself: no ticket, a used ticket, a foreign page: each refused before any upgrade.
    const { Id } = (await api.endpoint("edge-ui-1")) ?? { Id: 0 };
    expect(Id).toBeGreaterThan(0);
    const ticket = await api.call<{ protocols: string[] }>("POST", `/api/endpoints/${Id}/console/tickets`, { container: containerName, shell: "/bin/sh" });
    expect(ticket.status).toBe(200);
    const url = `https://127.0.0.1:${server.httpsPort}/api/endpoints/${Id}/console`;
    const ca = readFileSync(dir.file("data/ca/ca.crt"));
    expect(await websocketAnswer(url, ca, { "sec-websocket-protocol": "pier.console.v1" })).toBe(401);
    expect(await websocketAnswer(url, ca, { "sec-websocket-protocol": ticket.body.protocols.join(", "), origin: "https://evil.example" })).toBe(403);
    expect(await websocketAnswer(url, ca, { "sec-websocket-protocol": ticket.body.protocols.join(", ") })).toBe(101);
    expect(await websocketAnswer(url, ca, { "sec-websocket-protocol": ticket.body.protocols.join(", ") })).toBe(401);
    // Four consoles open at once per user; the fifth ticket is refused until one closes.
    const held: Duplex[] = [];
    for (let i = 0; i < 4; i++) {
      const next = await api.call<{ protocols: string[] }>("POST", `/api/endpoints/${Id}/console/tickets`, { container: containerName });
      held.push(await websocketHeld(url, ca, next.body.protocols.join(", ")));
    }
    const fifth = await api.call<{ message: string }>("POST", `/api/endpoints/${Id}/console/tickets`, { container: containerName });
    expect([fifth.status, fifth.body.message]).toEqual([429, "You have 4 consoles open, the most one user may."]);
    for (const socket of held) socket.destroy();
    await expect.poll(async () => (await api.call("POST", `/api/endpoints/${Id}/console/tickets`, { container: containerName })).status).toBe(200);
  });

  it("creates a container from the UI, shows its details and live stats, pauses, renames and kills it", async () => {
    const { page } = browser;
    await page.getByRole("button", { name: "Create container" }).click();
    const modal = page.getByRole("dialog", { name: "Create container" });
    // The device's refusal, whole.
    await modal.getByLabel("Image").fill("pier-test/absent:1");
    await modal.getByRole("button", { name: "Create and start" }).click();
    await expect.poll(async () => modal.getByRole("alert").textContent()).toBe("No such image: pier-test/absent:1");

    await modal.getByLabel("Image").fill(testImage);
    await modal.getByLabel("Name").fill(createdName);
    // A little CPU work every second, so the stats have something to show.
    await modal.getByLabel("Command").fill(`sh -c "while true; do i=0; while [ \\$i -lt 20000 ]; do i=\\$((i+1)); done; sleep 1; done"`);
    await modal.getByLabel("Environment").fill("PLAIN=visible\nDB_PASSWORD=hunter2");
    // No network, as the ticker: a new veth makes Chromium drop its requests (ERR_NETWORK_CHANGED).
    await modal.getByLabel("Network").fill("none");
    await modal.getByLabel("Restart policy").click();
    await page.getByRole("option", { name: "unless-stopped" }).click();
    await modal.getByRole("button", { name: "Create and start" }).click();
    await modal.waitFor({ state: "detached" });
    expect(docker(["ps", "--filter", `name=^/${createdName}$`, "--format", "{{.Names}} {{.State}}"])).toBe(`${createdName} running`);
    expect(docker(["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", createdName])).toBe("unless-stopped");

    await page.getByRole("button", { name: `Details ${createdName}`, exact: true }).click();
    const drawer = page.getByRole("dialog", { name: `Container ${createdName}` });
    const env = drawer.getByRole("table", { name: "Environment variables" });
    await env.getByText("visible", { exact: true }).waitFor();
    expect(await env.getByText("hunter2").count()).toBe(0);
    await env.getByRole("button", { name: "Reveal DB_PASSWORD" }).click();
    await env.getByText("hunter2", { exact: true }).waitFor();
    const read = drawer.getByTestId("stats-read");
    await expect.poll(async () => read.textContent(), { timeout: 15_000 }).toMatch(/^sampled at \d\d:\d\d:\d\d$/);
    const first = await read.textContent();
    expect(await drawer.locator('[data-stat="CPU"]').textContent()).toMatch(/^\d+\.\d\d %$/);
    expect(await drawer.locator('[data-stat="Memory"]').textContent()).toMatch(/^[\d.]+ (B|KiB|MiB) of /);
    await expect.poll(async () => read.textContent(), { timeout: 15_000 }).not.toBe(first);
    await expect.poll(async () => Number.parseFloat((await drawer.locator('[data-stat="CPU"]').textContent()) ?? ""), { timeout: 15_000 }).toBeGreaterThan(0);
    await browser.screenshot("08b-container-details");
    await browser.checkAccessibility("08b-container-details");

    await drawer.getByRole("button", { name: "Pause" }).click();
    await drawer.getByTestId("details-state").getByText("paused").waitFor();
    expect(docker(["inspect", "-f", "{{.State.Paused}}", createdName])).toBe("true");
    await drawer.getByRole("button", { name: "Unpause" }).click();
    await drawer.getByTestId("details-state").getByText("running").waitFor();
    await drawer.getByLabel("Name").fill(renamedName);
    await drawer.getByRole("button", { name: "Rename" }).click();
    await expect.poll(() => docker(["ps", "--filter", `name=^/${renamedName}$`, "--format", "{{.Names}}"])).toBe(renamedName);
    await drawer.getByRole("button", { name: "Kill" }).click();
    await page.getByRole("button", { name: "Kill container" }).click();
    await drawer.getByTestId("details-state").getByText("exited").waitFor();
    expect(docker(["inspect", "-f", "{{.State.Status}}", renamedName])).toBe("exited");
    await page.keyboard.press("Escape");
  });

  it("shows a device whose Docker Engine is unreachable as such: the agent's reason whole, no empty list under it", async () => {
    const { page } = browser;
    // Back to edge-ui's page afterwards: the next tests go on from there.
    const back = page.url();
    const key = await api.call<{ edgeKey: string }>("POST", "/api/endpoints/edge/generate-key");
    const dockerless = startPierAgent({ edgeId: "edge-no-docker", edgeKey: key.body.edgeKey, dataDir: dir.file("agent-no-docker"), env: { DOCKER_HOST: `unix://${dir.file("no-docker.sock")}` } });
    agents.push(dockerless);
    const [, id] = await dockerless.waitFor(/as environment (\d+)/);
    expect((await api.call("POST", `/api/endpoints/${id}/edge/trust`)).status).toBe(204);
    await dockerless.waitFor(/associated/);
    await page.goto(`/environments/${id}`);
    // The agent's reason to its last word (it was cut at 300 characters, mid-word).
    await expect.poll(async () => page.getByTestId("docker-problem").textContent(), { timeout: 20_000 }).toMatch(/could not reach its Docker Engine: Cannot reach Docker at .* or set DOCKER_HOST\.$/);
    await page.getByText("unreachable", { exact: true }).waitFor();
    await page.getByRole("table", { name: "Containers" }).getByText("Not loaded: see the error above.").waitFor();
    expect(await page.getByText("No container on this device.").count()).toBe(0);
    // Online, and not healthy: "Docker down" beside the heartbeat, here and on Home.
    await page.getByText("Docker down", { exact: true }).waitFor();
    await browser.screenshot("08c-docker-unreachable");
    await browser.checkAccessibility("08c-docker-unreachable");
    await page.goto("/");
    const row = page.getByRole("row").filter({ hasText: "edge-no-docker" });
    await row.getByText("online", { exact: true }).waitFor();
    await row.getByText("Docker down", { exact: true }).hover();
    await expect.poll(async () => page.getByRole("tooltip").textContent()).toMatch(/Docker Engine does not answer: Cannot reach Docker at .*no-docker\.sock/);
    await dockerless.stop();
    await page.goto(back);
    await page.getByRole("heading", { name: "edge-ui" }).waitFor();
  });

  it("lets a helpdesk user read a container but not stop it (API through the tunnel and UI); an operator can", async () => {
    const { page } = browser;
    const base = `https://127.0.0.1:${server.httpsPort}`;
    const ca = readFileSync(dir.file("data/ca/ca.crt"));
    const userIds: number[] = [];
    for (const [Username, Role] of [["hugo", "helpdesk"], ["olga", "operator"]]) {
      const created = await api.call<{ Id: number }>("POST", "/api/users", { Username, Password: `${Username} ${password}`, Role });
      expect(created.status).toBe(200);
      userIds.push(created.body.Id);
    }
    const helpdesk = new PierApi(base, { ca });
    await helpdesk.login("hugo", `hugo ${password}`);
    const operator = new PierApi(base, { ca });
    await operator.login("olga", `olga ${password}`);
    const { Id } = (await api.endpoint("edge-ui-1")) ?? { Id: 0 };
    expect(Id).toBeGreaterThan(0);
    // Non-administrators see only their teams' edge groups (docs/security.md "Teams and scope").
    const group = await api.call<{ Id: number }>("POST", "/api/edge_groups", { Name: "support-and-ops", Dynamic: false, Endpoints: [Id] });
    expect(group.status).toBe(200);
    expect((await api.call("POST", "/api/teams", { Name: "Support and ops", UserIds: userIds, EdgeGroupIds: [group.body.Id] })).status).toBe(200);
    const running = () => docker(["inspect", "-f", "{{.State.Running}}", containerName]);
    expect(running()).toBe("true");

    // Helpdesk: reads through the tunnel, refused the stop, and the container runs on.
    expect((await helpdesk.call("GET", `/api/endpoints/${Id}/docker/containers/${containerName}/json`)).status).toBe(200);
    const refused = await helpdesk.call<{ code: string; message: string }>("POST", `/api/endpoints/${Id}/docker/containers/${containerName}/stop`);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: "forbidden", message: expect.stringContaining("needs the Operator role") as unknown });
    expect(running()).toBe("true");
    // Operator: stops it for real, and starts it again.
    expect((await operator.call("POST", `/api/endpoints/${Id}/docker/containers/${containerName}/stop?t=1`)).status).toBe(204);
    expect(running()).toBe("false");
    expect((await operator.call("POST", `/api/endpoints/${Id}/docker/containers/${containerName}/start`)).status).toBe(204);
    expect(running()).toBe("true");

    // The administrator's Users screen lists them with their roles.
    await page.getByRole("link", { name: "Users" }).click();
    await expect.poll(async () => page.getByRole("combobox", { name: "Role of hugo" }).inputValue()).toMatch(/^Helpdesk/);
    await browser.screenshot("08b-users");
    await browser.checkAccessibility("08b-users");

    const signInAs = async (username: string, userPassword: string) => {
      await page.getByRole("button", { name: "Log out" }).click();
      await page.waitForURL("**/login");
      await page.getByLabel("Username").fill(username);
      await page.getByLabel("Password", { exact: true }).fill(userPassword);
      await page.getByRole("button", { name: "Log in" }).click();
      // Logging in may return to the page left; Home is one click from anywhere.
      await page.getByRole("link", { name: "Home" }).click();
      await page.getByRole("heading", { name: "Environments" }).waitFor();
      await page.getByRole("link", { name: "edge-ui" }).click();
      await page.getByRole("row", { name: new RegExp(containerName) }).getByText("running").waitFor({ timeout: 30_000 });
    };
    await signInAs("hugo", `hugo ${password}`);
    await expect.poll(async () => page.getByRole("button", { name: `Stop ${containerName}`, exact: true }).isDisabled()).toBe(true);
    expect(await page.getByRole("button", { name: `Logs ${containerName}`, exact: true }).isEnabled()).toBe(true);
    const nav = page.getByRole("navigation", { name: "Main" });
    for (const hidden of ["Certificates", "Edge Compute", "Users", "Add environment"]) expect(await nav.getByRole("link", { name: hidden }).count(), hidden).toBe(0);
    expect(await page.getByRole("button", { name: "Rename", exact: true }).count()).toBe(0);
    // The environment's tags are shown, not changed: no new tag, the picker disabled.
    expect(await page.getByRole("button", { name: "Create and add" }).count()).toBe(0);
    expect(await page.getByLabel("Environment tags", { exact: true }).and(page.locator("input")).isDisabled()).toBe(true);
    await browser.screenshot("08c-helpdesk-environment");
    await browser.checkAccessibility("08c-helpdesk-environment");
    // Account: an access token with helpdesk scope (the most a helpdesk user may give), shown once.
    await page.getByRole("link", { name: /^hugo/ }).click();
    await page.getByLabel("Description").fill("wallboard");
    await page.getByRole("button", { name: "Create token" }).click();
    expect(await page.getByTestId("new-token").textContent()).toMatch(/^pier_[A-Za-z0-9_-]{43}$/);
    await page.getByRole("table", { name: "Access tokens" }).getByRole("row", { name: /wallboard.*Helpdesk.*never/ }).waitFor();
    await browser.screenshot("08d-account");
    await browser.checkAccessibility("08d-account");

    await signInAs("olga", `olga ${password}`);
    await expect.poll(async () => page.getByRole("button", { name: `Stop ${containerName}`, exact: true }).isEnabled()).toBe(true);
    expect(await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Certificates" }).count()).toBe(0);

    await signInAs("admin", password);
    await page.getByRole("tab", { name: "Containers" }).click();
  });

  it("pulls an image with progress and removes it, creates and removes a volume, each error from the device whole", async () => {
    const { page } = browser;
    await using registry = await startDockerRegistry(dir.file("registry"));
    const image = registry.push(`pier-ui/pulled-${process.pid}:1`);
    const volume = `pier-ui-volume-${process.pid}`;
    try {
      expect(run("docker", ["image", "inspect", image]).status).not.toBe(0);
      await page.getByRole("link", { name: "Home" }).click();
      // A device whose Docker answers its ping is not shown as unreachable (Docker's "OK" is not JSON).
      const pinged = page.waitForResponse((response) => response.url().endsWith("/docker/_ping"));
      await page.getByRole("link", { name: "edge-ui", exact: true }).click();
      expect((await pinged).status()).toBe(200);
      await page.getByRole("heading", { level: 1, name: "edge-ui" }).waitFor();
      expect(await page.getByTestId("docker-problem").count()).toBe(0);
      await page.getByRole("tab", { name: "Images" }).click();
      await page.getByRole("button", { name: "Pull image" }).click();
      const pull = page.getByRole("dialog", { name: "Pull an image" });
      // A registry that does not exist: Docker's reason, whole, and the reference kept.
      const reference = pull.getByRole("textbox", { name: "Image" });
      await reference.fill("127.0.0.1:9/nothing/here:1");
      await pull.getByRole("button", { name: "Pull" }).click();
      await pull.getByRole("alert").filter({ hasText: "127.0.0.1:9" }).waitFor({ timeout: 30_000 });
      expect(await pull.getByRole("alert").textContent()).toMatch(/connection refused/);
      expect(await reference.inputValue()).toBe("127.0.0.1:9/nothing/here:1");
      await reference.fill(image);
      await pull.getByRole("button", { name: "Pull" }).click();
      await page.getByText(`Pulled ${image}.`).waitFor({ timeout: 60_000 });
      expect(docker(["image", "inspect", "-f", "{{.Id}}", image])).toMatch(/^sha256:/);
      // One row per tag: the pulled tag shares its layers with pier-test/busybox, which stays.
      const row = page.getByRole("table", { name: "Images" }).getByRole("row", { name: new RegExp(`^${image.replaceAll(".", "\\.")} `) });
      await row.waitFor();
      await row.getByRole("button", { name: `Remove ${image}` }).click();
      await page.getByRole("dialog", { name: `Remove the image ${image}?` }).getByRole("button", { name: "Remove image" }).click();
      await row.waitFor({ state: "detached", timeout: 30_000 });
      expect(run("docker", ["image", "inspect", image]).status).not.toBe(0);
      expect(docker(["image", "inspect", "-f", "{{.Id}}", testImage])).toMatch(/^sha256:/);

      await page.getByRole("tab", { name: "Volumes" }).click();
      await page.getByRole("button", { name: "Create volume" }).click();
      const create = page.getByRole("dialog", { name: "Create a volume" });
      await create.getByLabel("Name").fill("-bad name");
      expect(await create.getByRole("button", { name: "Create" }).isDisabled()).toBe(true);
      await create.getByLabel("Name").fill(volume);
      await create.getByRole("button", { name: "Create" }).click();
      await page.getByRole("table", { name: "Volumes" }).getByRole("row", { name: new RegExp(volume) }).waitFor();
      expect(docker(["volume", "inspect", "-f", "{{.Name}}", volume])).toBe(volume);
      await page.getByRole("button", { name: `Remove ${volume}` }).click();
      await page.getByRole("dialog", { name: `Remove the volume ${volume}?` }).getByRole("button", { name: "Remove volume" }).click();
      await page.getByRole("table", { name: "Volumes" }).getByRole("row", { name: new RegExp(volume) }).waitFor({ state: "detached", timeout: 30_000 });
      expect(run("docker", ["volume", "inspect", volume]).status).not.toBe(0);

      // Networks share the form and the Remove of volumes; creating a bridge network here would add
      // an interface to the host, which makes Chromium drop requests in flight (ERR_NETWORK_CHANGED).
      await page.getByRole("tab", { name: "Networks" }).click();
      await page.getByRole("table", { name: "Networks" }).getByRole("row", { name: /^bridge / }).waitFor();
      expect(await page.getByRole("button", { name: "Remove bridge" }).count()).toBe(0);
      await page.getByRole("button", { name: "Create network" }).waitFor();
      await browser.screenshot("08e-networks");
    } finally {
      run("docker", ["image", "rm", "-f", image]);
      run("docker", ["volume", "rm", "-f", volume]);
    }
    await page.getByRole("tab", { name: "Containers" }).click();
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
    await browser.checkAccessibility("09-mtls-wrong-eku");
    expect((await api.call<{ Source: string }>("GET", "/api/settings/edge/mtls")).body.Source).toBe("none");

    await page.getByLabel("TLS certificate", { exact: true }).setInputFiles(dir.file("upload-server.crt"));
    await page.getByLabel("TLS key", { exact: true }).setInputFiles(dir.file("upload-server.key"));
    await page.getByRole("button", { name: "Apply mTLS certificates" }).click();
    await page.getByRole("button", { name: "Apply anyway" }).click();
    await page.getByText("mTLS certificates applied").waitFor();
    await browser.screenshot("10-edge-compute");
    await browser.checkAccessibility("10-edge-compute");

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
    await browser.checkAccessibility("11-certificates");
  });

  it("logged no error in the browser console", () => {
    // Chromium logs every 4xx answer; those the tests provoked (the wrong setup token, the
    // wrong-EKU upload, the console's refused shell, the absent image, the dockerless device) are
    // expected.
    const provoked = /status of 403 .*\/api\/users\/admin\/init\)$|status of 422 .*\/api\/settings\/edge\/mtls\)$|status of 400 .*\/console\/tickets\)$|status of 404 .*\/docker\/containers\/create\)$|status of 500 .*\/docker\/images\/create\?fromImage=127\.0\.0\.1%3A9%2F.*\)$|status of 503 .*\/docker\/(_ping|containers\/json\?all=1)\)$/;
    expect(browser.consoleErrors.filter((error) => !provoked.test(error))).toEqual([]);
  });
});

/** A console WebSocket opened with `protocols`, held open (its raw socket) until destroyed. */
function websocketHeld(url: string, ca: Buffer, protocols: string): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, headers: { connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": randomBytes(16).toString("base64"), "sec-websocket-protocol": protocols } });
    req.on("upgrade", (_response, socket) => resolve(socket));
    req.on("response", (response) => reject(new Error(`the console answered ${response.statusCode}`)));
    req.on("error", reject);
    req.end();
  });
}

/** The status a WebSocket upgrade request to `url` gets: 101 when taken (the socket is closed at once). */
function websocketAnswer(url: string, ca: Buffer, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, headers: { connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": randomBytes(16).toString("base64"), ...headers } });
    req.on("upgrade", (response, socket) => {
      socket.destroy();
      resolve(response.statusCode ?? 0);
    });
    req.on("response", (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}
