import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ServerTls } from "./server-tls.ts";
import { type TestCa, type TestPki, clientRequest, createTestPki, h2Get, openSession, sessionGet, testHandler, uiServerRequest } from "./tls-fixtures.testkit.ts";
import { TlsFront } from "./tls-front.ts";
import { loadTlsMaterial } from "./tls-material.ts";

/**
 * The tunnel listener in the built-in flow (docs/identity.md, docs/architecture.md "Listener
 * modes"): every client is asked for a certificate from the device CAs, none must present one;
 * the handler learns whether it was verified, and why not.
 */
const body = (answer: { body: string }) => JSON.parse(answer.body) as Record<string, unknown>;

let pki: TestPki;
let devices: TestCa;
let stranger: TestCa;

beforeAll(async () => {
  pki = createTestPki();
  devices = await pki.createCa("devices");
  stranger = await pki.createCa("stranger");
});

afterAll(async () => {
  await pki[Symbol.asyncDispose]();
});

describe("TlsFront optional mode", () => {
  it("admits a client without a certificate, verifies a device CA's certificate, and hands an unverified one to the handler with its error", async () => {
    const server = await pki.issue(devices, "server", uiServerRequest());
    const material = { server: { ...(await loadTlsMaterial({ ...server, role: "server" })), ca: Buffer.from(devices.pem) } };
    await using front = new TlsFront({ material, policy: { mode: "optional" }, handler: testHandler });
    const { port } = await front.listen(0, "127.0.0.1");
    const device = await pki.issue(devices, "device", clientRequest("edge-1"));
    const foreign = await pki.issue(stranger, "foreign", clientRequest("edge-2"));

    expect(body(await h2Get(port, "/", { ca: devices.pem }))).toMatchObject({ mtls: false, authorized: false });
    expect(body(await h2Get(port, "/", { ca: devices.pem }))).not.toHaveProperty("peer");
    expect(body(await h2Get(port, "/", { ca: devices.pem, cert: device.certPem, key: device.keyPem }))).toMatchObject({ mtls: true, authorized: true, peer: "CN=edge-1" });
    const refused = body(await h2Get(port, "/", { ca: devices.pem, cert: foreign.certPem, key: foreign.keyPem }));
    expect(refused).toMatchObject({ mtls: false, authorized: false, peer: "CN=edge-2" });
    expect(refused["authorizationError"]).toMatch(/^UNABLE_TO_(GET_ISSUER_CERT_LOCALLY|VERIFY_LEAF_SIGNATURE)$/);
  });
});

describe("ServerTls device trust", () => {
  it("puts the tunnel listener in optional mode with the device CAs, follows a change of them at once, and leaves the HTTPS listener asking for nothing", async () => {
    const tls = await ServerTls.load({ dataDir: pki.file("data"), bindHost: "127.0.0.1", log: () => undefined });
    // Without device CAs (a server without the built-in flow) nobody is asked for a certificate.
    expect(tls.policies().tunnel).toEqual({ mode: "none" });
    tls.setDeviceTrust(devices.pem);
    expect(tls.builtInFlow).toBe(true);
    expect(tls.policies()).toEqual({ https: { mode: "none" }, tunnel: { mode: "optional" } });
    const material = tls.material();
    await using https = new TlsFront({ material: material.https, policy: tls.policies().https, handler: testHandler });
    await using tunnel = new TlsFront({ material: material.tunnel, policy: tls.policies().tunnel, handler: testHandler });
    tls.attach({ https, tunnel });
    try {
      const { port } = await tunnel.listen(0, "127.0.0.1");
      const { port: httpsPort } = await https.listen(0, "127.0.0.1");
      const device = await pki.issue(devices, "device-a", clientRequest("edge-a"));
      const next = await pki.issue(stranger, "device-b", clientRequest("edge-b"));
      // The built-in CA made by ServerTls.load issued the server certificate.
      const ca = readFileSync(join(pki.file("data"), "ca", "ca.crt"), "utf8");
      const deviceSession = openSession(port, { ca, servername: "localhost", cert: device.certPem, key: device.keyPem });
      expect(body(await sessionGet(deviceSession, "/"))).toMatchObject({ mtls: true, peer: "CN=edge-a" });
      expect(body(await h2Get(port, "/", { ca, servername: "localhost", cert: next.certPem, key: next.keyPem }))).toMatchObject({ mtls: false, authorizationError: expect.any(String) as unknown });
      // The HTTPS listener never verifies a client certificate (browsers must not be asked).
      expect(body(await h2Get(httpsPort, "/", { ca, servername: "localhost", cert: device.certPem, key: device.keyPem }))).toMatchObject({ mtls: false });
      expect(body(await h2Get(httpsPort, "/", { ca, servername: "localhost", cert: device.certPem, key: device.keyPem }))).not.toHaveProperty("peer");

      // A rotation trusts both CAs: the second device is verified at once, the first keeps its session.
      tls.setDeviceTrust(devices.pem + stranger.pem);
      expect(body(await h2Get(port, "/", { ca, servername: "localhost", cert: next.certPem, key: next.keyPem }))).toMatchObject({ mtls: true, peer: "CN=edge-b" });
      expect(body(await sessionGet(deviceSession, "/"))).toMatchObject({ mtls: true });
      // Dropping the first CA closes the connections it verified.
      const closed = new Promise((resolve) => deviceSession.once("close", resolve));
      tls.setDeviceTrust(stranger.pem);
      await closed;
      expect(body(await h2Get(port, "/", { ca, servername: "localhost", cert: device.certPem, key: device.keyPem }))).toMatchObject({ mtls: false, authorizationError: expect.any(String) as unknown });
    } finally {
      tls.close();
    }
  });
});
