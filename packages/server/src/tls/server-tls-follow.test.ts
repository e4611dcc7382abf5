import { cpSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TempDir, tempDir } from "../store/temp-dir.testkit.ts";
import { ServerTls } from "./server-tls.ts";
import { TlsFront } from "./tls-front.ts";
import { type Credential, type TestCa, type TestPki, clientRequest, createTestPki, h1Get, openSession, sessionGet, testHandler, uiServerRequest } from "./tls-fixtures.testkit.ts";

const localhost = { profile: "server", commonName: "localhost", subjectAltNames: [{ type: "dns", value: "localhost" }] } as const;

/** One replica's TLS: its `ServerTls` over its own `--data`, and both listeners. */
interface ReplicaTls {
  readonly dataDir: string;
  readonly tls: ServerTls;
  readonly tunnel: TlsFront;
  readonly tunnelPort: number;
  readonly https: TlsFront;
}

describe("ServerTls.followUpload: the mTLS set another replica uploaded or removed", () => {
  let pki: TestPki;
  let uiCa: TestCa;
  let fleetCa: TestCa;
  let uiCert: Credential;
  let mtlsCert: Credential;
  let device: Credential;
  let dir: TempDir;
  let a: ReplicaTls;
  let b: ReplicaTls;
  const logs: string[] = [];

  const replica = async (name: string): Promise<ReplicaTls> => {
    const dataDir = dir.file(name);
    mkdirSync(dataDir, { mode: 0o700 });
    const tls = await ServerTls.load({ dataDir, bindHost: "127.0.0.1", ssl: { certPath: uiCert.certPath, keyPath: uiCert.keyPath }, log: (level, message) => logs.push(`${name} ${level}: ${message}`) });
    const material = tls.material();
    const policies = tls.policies();
    const https = new TlsFront({ material: material.https, policy: policies.https, handler: testHandler });
    const tunnel = new TlsFront({ material: material.tunnel, policy: policies.tunnel, handler: testHandler });
    await https.listen(0, "127.0.0.1");
    const { port } = await tunnel.listen(0, "127.0.0.1");
    tls.attach({ https, tunnel });
    return { dataDir, tls, tunnel, tunnelPort: port, https };
  };
  // The cluster files' materialize("mtls/"), standing in: B's DATA/mtls/ becomes A's.
  const copyFromA = () => {
    rmSync(join(b.dataDir, "mtls"), { recursive: true, force: true });
    try {
      cpSync(join(a.dataDir, "mtls"), join(b.dataDir, "mtls"), { recursive: true });
    } catch {
      // A has no uploaded set: B has none either.
    }
    return Promise.resolve();
  };
  // Without the mTLS set the listener presents the UI certificate (127.0.0.1), with it the mTLS one (localhost).
  const agentGet = (port: number, withCertificate: boolean, servername = "localhost") => h1Get(port, "/identity", { servername, ca: `${fleetCa.pem}${uiCa.pem}`, ...(withCertificate ? { cert: device.certPem, key: device.keyPem } : {}) });

  beforeAll(async () => {
    pki = createTestPki();
    [uiCa, fleetCa] = await Promise.all([pki.createCa("Pier UI CA"), pki.createCa("Pier fleet CA")]);
    uiCert = await pki.issue(uiCa, "ui", uiServerRequest());
    mtlsCert = await pki.issue(fleetCa, "mtls", localhost);
    device = await pki.issue(fleetCa, "device", clientRequest("device-1"));
    dir = tempDir("tls-follow");
    a = await replica("a");
    b = await replica("b");
  });
  afterAll(async () => {
    for (const side of [a, b]) {
      side.tls.close();
      await Promise.all([side.https.close(), side.tunnel.close()]);
    }
    await dir[Symbol.asyncDispose]();
    await pki[Symbol.asyncDispose]();
  });

  it("applies A's upload on B as A applied it: B's tunnel listener then requires a client certificate, and a connection it took without one is closed", async () => {
    // Precondition: B serves agents without a client certificate, and holds such a connection.
    expect((await agentGet(b.tunnelPort, false, "")).status).toBe(200);
    const held = openSession(b.tunnelPort, { ca: uiCa.pem });
    expect((await sessionGet(held, "/identity")).status).toBe(200);
    const heldClosed = new Promise<void>((resolve) => held.once("close", () => resolve()));

    const announced: string[] = [];
    a.tls.onUploadChange(() => Promise.resolve(void announced.push("mtls/")));
    await a.tls.upload({ caCert: fleetCa.pem, cert: mtlsCert.certPem, key: mtlsCert.keyPem });
    expect(announced).toEqual(["mtls/"]);
    expect(b.tls.source).toBe("none");

    expect(await b.tls.followUpload(copyFromA)).toBe("uploaded");
    expect(b.tls.mtls?.certificate.subjectText).toBe(a.tls.mtls?.certificate.subjectText);
    await heldClosed;
    await expect(agentGet(b.tunnelPort, false)).rejects.toThrow();
    expect((await agentGet(b.tunnelPort, true)).status).toBe(200);
    expect(logs).toContain(`b info: mTLS certificates changed on another replica: ${b.tls.describe()}`);
  });

  it("applies A's removal on B: agents connect without a client certificate again", async () => {
    await a.tls.removeUpload();
    expect(await b.tls.followUpload(copyFromA)).toBe("none");
    expect(b.tls.mtls).toBeUndefined();
    expect((await agentGet(b.tunnelPort, false, "")).status).toBe(200);
  });

  it("applies nothing when the cluster files changed nothing on disk (a resync)", async () => {
    await a.tls.upload({ caCert: fleetCa.pem, cert: mtlsCert.certPem, key: mtlsCert.keyPem });
    expect(b.tls.source).toBe("none");
    expect(await b.tls.followUpload(() => Promise.resolve(false))).toBe("none");
    expect((await agentGet(b.tunnelPort, false, "")).status).toBe(200);
    await a.tls.removeUpload();
  });

  it("changes nothing when the mTLS files come from flags", async () => {
    const flags = await ServerTls.load({ dataDir: dir.file("flags"), bindHost: "127.0.0.1", ssl: { certPath: uiCert.certPath, keyPath: uiCert.keyPath }, mtls: { caPath: fleetCa.caPath, certPath: mtlsCert.certPath, keyPath: mtlsCert.keyPath }, log: () => undefined });
    let materialized = false;
    expect(
      await flags.followUpload(() => {
        materialized = true;
        return Promise.resolve();
      }),
    ).toBe("flags");
    expect(materialized).toBe(false);
  });
});
