import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { ensureUiBuilt } from "../../../scripts/build-ui.ts";
import { PierApi, openBrowser, pierOk, readSetupToken, startPierAgent, startPierServer, tempDir, until, type BrowserSession, type PierProcess, type PierServer, type TempDir } from "../src/index.ts";

/**
 * The identity screens in real Chromium against a real server and a real agent that enrolls with
 * the built-in CA (no certificate files): the Waiting Room's key fingerprint, the Certificates
 * screen's row for the certificate issued at association, the device page's identity card and
 * audit trail; then the mTLS lock-out warning. The browser uses https://localhost (a name the
 * uploaded mTLS certificate covers, so applying it would lock this browser out); the API client
 * uses 127.0.0.1. Screenshots: .tmp/ui-screenshots/identity-*.png.
 */
const password = "correct horse battery staple";
let dir: TempDir;
let server: PierServer;
let browser: BrowserSession;
let api: PierApi;
let agent: PierProcess;
let firstSerial = "";

interface Inventory {
  Items: { Serial: string; Subject: string; Status: string; Source: string }[];
  Total: number;
}

beforeAll(async () => {
  ensureUiBuilt();
  dir = tempDir("web-ui-identity");
  pierOk(["ca", "init", "--dir", "upload-ca", "--cn", "Upload mTLS CA"], { cwd: dir.path });
  pierOk(["ca", "issue", "server", "--dir", "upload-ca", "--san", "DNS:localhost", "--out", "upload-server"], { cwd: dir.path });
  server = await startPierServer({ dataDir: dir.file("data"), args: ["--device-cert-lifetime", "2h"] });
  const [, spki = ""] = await server.waitFor(/pinned by agents\): ([0-9a-f]{64})/);
  browser = await openBrowser({ baseURL: `https://localhost:${server.httpsPort}`, serverSpki: spki });
  api = new PierApi(`https://127.0.0.1:${server.httpsPort}`, { ca: readFileSync(dir.file("data/ca/ca.crt")) });
  expect((await api.initAdmin("admin", password, readSetupToken(dir.file("data")))).status).toBe(200);
  await api.login("admin", password);
}, 180_000);

afterAll(async () => {
  await agent?.stop();
  await browser?.[Symbol.asyncDispose]();
  await server?.stop();
  await dir?.[Symbol.asyncDispose]();
});

async function chooseMtlsSet(): Promise<void> {
  const { page } = browser;
  await page.getByRole("switch", { name: "Use separate mTLS cert" }).check();
  await page.getByLabel("CA certificate", { exact: true }).setInputFiles(dir.file("upload-ca/ca.crt"));
  await page.getByLabel("TLS certificate", { exact: true }).setInputFiles(dir.file("upload-server.crt"));
  await page.getByLabel("TLS key", { exact: true }).setInputFiles(dir.file("upload-server.key"));
}

describe("the identity screens", () => {
  it("shows a zero-touch device's key fingerprint in the Waiting Room, then its issued certificate on the Certificates screen and its page", async () => {
    const { page } = browser;
    await page.goto("/login");
    await page.getByLabel("Username").fill("admin");
    await page.getByLabel("Password", { exact: true }).fill(password);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Environments" }).waitFor();

    agent = startPierAgent({ edgeId: "edge-zero-touch", edgeKey: server.edgeKey, dataDir: dir.file("agent") });
    const [, fingerprint = ""] = await agent.waitFor(/key fingerprint \(SPKI SHA-256\) is ([0-9a-f]{64})/, 60_000);
    await agent.waitFor(/Waiting Room/, 60_000);
    // Before association the built-in CA has issued nothing.
    expect((await api.call<Inventory>("GET", "/api/pki/device-certificates")).body.Total).toBe(0);

    await page.getByRole("link", { name: "Waiting Room", exact: true }).click();
    const row = page.getByRole("row", { name: /edge-zero-touch/ });
    await row.getByTestId("enrollment-key-fingerprint").waitFor({ timeout: 30_000 });
    expect(await row.getByTestId("enrollment-key-fingerprint").textContent()).toBe(fingerprint);
    await row.getByText("built-in CA").waitFor();
    await browser.screenshot("identity-01-waiting-room");
    await browser.checkAccessibility("identity-01-waiting-room");
    await page.getByRole("checkbox", { name: "Select edge-zero-touch" }).check();
    await page.getByRole("button", { name: "Associate" }).click();
    const [, serial = ""] = await agent.waitFor(/the server issued this device's certificate: .*serial ([0-9a-f]+)/, 60_000);
    firstSerial = serial;

    await page.getByRole("link", { name: "Certificates" }).click();
    const certificates = page.getByRole("table", { name: "Device certificates" });
    const issued = certificates.getByRole("row", { name: new RegExp(`CN=edge-zero-touch.*${serial.slice(0, 12)}`) });
    await issued.getByText("active").waitFor({ timeout: 30_000 });
    await issued.getByText(serial.slice(0, 12)).waitFor();
    // A 2 h certificate sits in the "< 1 day" window, apart from the CA's years.
    await page.getByRole("listitem", { name: "< 1 day: 1" }).waitFor();
    await browser.screenshot("identity-02-certificates");
    await browser.checkAccessibility("identity-02-certificates");

    // The environment is named after the device's hostname.
    await issued.getByRole("link").first().click();
    const identity = page.getByRole("region", { name: "Identity" });
    await identity.getByText(serial).waitFor({ timeout: 30_000 });
    await identity.getByText("built-in CA", { exact: true }).waitFor();
    await page.getByRole("table", { name: "Audit trail" }).getByText("certificate_issued").waitFor({ timeout: 30_000 });
    await browser.screenshot("identity-03-environment");
    await browser.checkAccessibility("identity-03-environment");
  }, 240_000);

  it("warns before an mTLS set that covers the browser's host is applied, naming an address that keeps working and the agents it disconnects; Cancel changes nothing", async () => {
    const { page } = browser;
    await page.getByRole("link", { name: "Edge Compute" }).click();
    await chooseMtlsSet();
    await page.getByRole("button", { name: "Apply mTLS certificates" }).click();
    const dialog = page.getByRole("dialog", { name: "This would lock you out of this address" });
    await dialog.waitFor();
    const warning = (await dialog.textContent()) ?? "";
    expect(warning).toContain("covers localhost, the address you are using");
    expect(warning).toContain(`https://127.0.0.1:${server.httpsPort} (on the server itself)`);
    expect(warning).toContain("1 connected agent of 1 will be disconnected");
    await browser.screenshot("identity-04-lockout-warning");
    await browser.checkAccessibility("identity-04-lockout-warning");

    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "hidden" });
    expect((await api.call<{ Source: string }>("GET", "/api/settings/edge/mtls")).body.Source).toBe("none");
    await page.reload();
    await page.getByRole("heading", { name: "Edge Compute" }).waitFor();
    expect(browser.consoleErrors).toEqual([]);
  }, 120_000);

  it("renews and revokes the device from the Certificates screen: a new certificate supersedes the old, then both are revoked and the agent is told", async () => {
    const { page } = browser;
    await page.getByRole("link", { name: "Certificates" }).click();
    const table = page.getByRole("table", { name: "Device certificates" });
    const first = table.getByRole("row", { name: new RegExp(firstSerial.slice(0, 12)) });
    await first.getByText("active").waitFor({ timeout: 30_000 });
    await first.getByRole("button", { name: /^Renew/ }).click();
    const [, renewed = ""] = await agent.waitFor(/certificate renewed: .*serial ([0-9a-f]+)/, 60_000);
    const current = table.getByRole("row", { name: new RegExp(renewed.slice(0, 12)) });
    await current.getByText("active").waitFor({ timeout: 30_000 });
    await first.getByText("superseded").waitFor();
    await browser.screenshot("identity-05-renewed");
    await browser.checkAccessibility("identity-05-renewed");

    await current.getByRole("button", { name: /^Revoke/ }).click();
    const dialog = page.getByRole("dialog", { name: /^Revoke the certificates of/ });
    await dialog.getByRole("button", { name: "Revoke" }).click();
    const rows = table.getByRole("row", { name: /CN=edge-zero-touch/ });
    await until("every certificate of the device revoked", async () => ((await table.getByText("revoked", { exact: true }).count()) === (await rows.count()) ? true : undefined));
    await agent.waitFor(/an administrator revoked this device's/, 30_000);
    const revoked = await api.call<Inventory>("GET", "/api/pki/device-certificates?status=revoked");
    expect(revoked.body.Items.map((item) => item.Serial)).toEqual(expect.arrayContaining([firstSerial, renewed]));
    expect((await api.call<Inventory>("GET", "/api/pki/device-certificates?search=edge-zero-touch")).body.Items.every((item) => item.Status === "revoked")).toBe(true);
    await browser.screenshot("identity-06-revoked");
    await browser.checkAccessibility("identity-06-revoked");
  }, 180_000);

  it("Settings → Edge Compute shows and saves AutoReissueWithinSeconds", async () => {
    const { page } = browser;
    // Precondition: off (the default), as the API says and the field shows.
    expect((await api.call<{ AutoReissueWithinSeconds: number }>("GET", "/api/settings")).body.AutoReissueWithinSeconds).toBe(0);
    await page.getByRole("link", { name: "Edge Compute" }).click();
    const field = page.getByLabel("Re-issue expired certificates within (seconds)");
    expect(await field.inputValue()).toBe("0");
    await field.fill("3600");
    await page.getByRole("button", { name: "Save settings" }).click();
    await page.getByText("Settings saved").waitFor();
    expect((await api.call<{ AutoReissueWithinSeconds: number }>("GET", "/api/settings")).body.AutoReissueWithinSeconds).toBe(3600);
    await page.reload();
    await page.getByRole("heading", { name: "Edge Compute" }).waitFor();
    expect(await page.getByLabel("Re-issue expired certificates within (seconds)").inputValue()).toBe("3600");
    expect(browser.consoleErrors).toEqual([]);
  }, 60_000);

  it("after Apply anyway, the warning proves true: localhost refuses the browser, 127.0.0.1 still serves the UI", async () => {
    const { page } = browser;
    const port = server.httpsPort;
    await page.getByRole("link", { name: "Edge Compute" }).click();
    await chooseMtlsSet();
    await page.getByRole("button", { name: "Apply mTLS certificates" }).click();
    const dialog = page.getByRole("dialog", { name: "This would lock you out of this address" });
    // The revoked agent is no longer connected.
    await dialog.getByText(/No connected agent will be disconnected/).waitFor();
    await dialog.getByRole("button", { name: "Apply anyway" }).click();
    await until("the mTLS set applied", async () => ((await api.call<{ Source: string }>("GET", "/api/settings/edge/mtls")).body.Source === "uploaded" ? true : undefined));
    const refused = await browser.context.newPage();
    await expect(refused.goto(`https://localhost:${port}/login`)).rejects.toThrow(/ERR_/);
    await refused.close();
    const kept = await browser.context.newPage();
    await kept.goto(`https://127.0.0.1:${port}/login`);
    await kept.getByRole("button", { name: "Log in" }).waitFor();
    await kept.close();
  }, 120_000);
});
