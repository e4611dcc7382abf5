import { X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import type { ClientHttp2Session } from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CertificateAuthority, createCsr, csrToPem, generateKeyPairSync, privateKeyToPem, spkiSha256 } from "@pier/pki";
import { edgePaths } from "@pier/protocol";
import { certificateGrantValidator, parseMessage } from "@pier/protocol/wire";
import { maxRenewalBodyBytes } from "../edge/edge-routes.ts";
import { EdgeService } from "../edge/edge-service.ts";
import { type EdgeListener, listenEdgeRoutes } from "../edge/edge-listener.testkit.ts";
import { connectAgent } from "../edge/test-agent.testkit.ts";
import { TunnelBroker } from "../edge/tunnel-broker.ts";
import { SqliteStore } from "../store/sqlite-store.ts";
import { type TempDir, tempDir } from "../store/temp-dir.testkit.ts";
import { loadTlsMaterial } from "../tls/tls-material.ts";
import { DeviceCa } from "./device-ca.ts";
import { CertificateRenewal } from "./renewal.ts";
import { RenewalThrottle } from "./renewal-throttle.ts";

/** A device as the test holds it: its key and the certificate the built-in CA issued for it. */
interface Device {
  readonly environmentId: number;
  readonly edgeId: string;
  readonly cert: string;
  readonly key: string;
  readonly serial: string;
}

function newCsr(commonName: string): { pem: string; keySha256: string } {
  const pair = generateKeyPairSync("ecdsa-p256");
  return { pem: csrToPem(createCsr({ privateKey: pair.privateKey, subject: { commonName } })), keySha256: spkiSha256(pair.publicKey) };
}

describe("POST /api/edge/v1/certificate/renew", () => {
  let dir: TempDir;
  let store: SqliteStore;
  let deviceCa: DeviceCa;
  let listener: EdgeListener;
  let port: number;
  let caPem: string;
  let operatorCa: CertificateAuthority;
  const throttle = { renewalsPerSecond: 1000 };
  let renewal: CertificateRenewal;
  /** Each renewal's outcome as `onOutcome` reports it (the metrics' hook). */
  const outcomes: string[] = [];
  const connections: ClientHttp2Session[] = [];

  async function enroll(edgeId: string): Promise<Device> {
    const environment = await store.environments.create({ name: edgeId, type: "edge-agent", edgeId, userTrusted: true });
    const pair = generateKeyPairSync("ecdsa-p256");
    const { record, grant } = await deviceCa.issue({ environmentId: environment.id, edgeId, publicKey: pair.publicKey, reason: "enrollment" });
    return { environmentId: environment.id, edgeId, cert: grant.certificate, key: privateKeyToPem(pair.privateKey), serial: record.serial };
  }

  /** Posts a renewal on a new mTLS connection with the device's pair; answers with the Retry-After header too. */
  function renew(device: Pick<Device, "cert" | "key">, body: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; retryAfter: string | undefined }> {
    const connection = connectAgent({ port, ca: caPem, cert: device.cert, key: device.key });
    connections.push(connection);
    return new Promise((resolve, reject) => {
      const stream = connection.request({ ":method": "POST", ":path": edgePaths.renew, "content-type": "application/json", ...headers });
      let status = 0;
      let retryAfter: string | undefined;
      let text = "";
      stream.setEncoding("utf8");
      stream.on("response", (h) => {
        status = Number(h[":status"]);
        retryAfter = typeof h["retry-after"] === "string" ? h["retry-after"] : undefined;
      });
      stream.on("data", (chunk: string) => (text += chunk));
      stream.on("close", () => (status === 0 ? reject(new Error(`no response (stream code ${stream.rstCode})`)) : resolve({ status, body: text, retryAfter })));
      // The server may answer (413) and reset the stream before the whole body is sent.
      stream.on("error", () => undefined);
      stream.end(body);
    });
  }

  beforeAll(async () => {
    dir = tempDir("renewal");
    const ca = await CertificateAuthority.create(dir.file("ca"), { commonName: "Pier built-in CA" });
    operatorCa = await CertificateAuthority.create(dir.file("operator-ca"), { commonName: "Operator CA" });
    caPem = ca.certificatePem;
    const server = await ca.issueWithNewKey({ profile: "server", commonName: "127.0.0.1", subjectAltNames: [{ type: "ip", value: "127.0.0.1" }] });
    writeFileSync(dir.file("server.crt"), server.certificatePem);
    writeFileSync(dir.file("server.key"), server.privateKeyPem, { mode: 0o600 });
    // The listener accepts both CAs' client certificates; only the built-in one's are renewed.
    writeFileSync(dir.file("clients.pem"), ca.certificatePem + operatorCa.certificatePem);
    store = await SqliteStore.open(dir.file("pier.db"));
    deviceCa = await DeviceCa.open({ store, authorities: { issuing: ca, trusted: [ca] }, crlUrl: () => Promise.resolve(undefined), lifetimeSeconds: 3600 });
    const edge = new EdgeService(store, { record: () => undefined });
    renewal = new CertificateRenewal({ store, deviceCa: () => deviceCa, throttle: new RenewalThrottle(throttle), onOutcome: (outcome) => outcomes.push(outcome) });
    listener = await listenEdgeRoutes(await loadTlsMaterial({ certPath: dir.file("server.crt"), keyPath: dir.file("server.key"), caPath: dir.file("clients.pem"), role: "server" }), {
      edge,
      mtlsRequired: () => true,
      tunnels: new TunnelBroker({ push: () => false }),
      log: () => undefined,
      renewal: { renew: (caller, csr) => renewal.renew(caller, csr) },
    });
    ({ port } = listener);
  });

  afterAll(async () => {
    for (const connection of connections) connection.destroy();
    await listener[Symbol.asyncDispose]();
    await store.close();
    await dir[Symbol.asyncDispose]();
  });

  it("issues a new certificate for the CSR's key, named from the server's record of the presented certificate, and audits it", async () => {
    const device = await enroll("renewing-device");
    // The CSR asks for another name: only its key is used.
    const csr = newCsr("someone-else");
    const answer = await renew(device, JSON.stringify({ csr: csr.pem }));
    expect(answer.status).toBe(200);
    // What the agent does with the answer: the zod-free validator it uses.
    const grant = parseMessage(certificateGrantValidator, answer.body, "certificate grant");
    const issued = new X509Certificate(grant.certificate);
    expect(spkiSha256(issued.publicKey)).toBe(csr.keySha256);
    expect(issued.subject).toBe("CN=renewing-device");
    expect(issued.subjectAltName).toBe("URI:spiffe://pier.local/edge/renewing-device");
    expect(issued.serialNumber.toLowerCase()).not.toBe(device.serial);
    expect(issued.checkIssued(new X509Certificate(caPem))).toBe(true);
    expect(grant.chain).toBe(caPem);
    const rows = await store.certificates.listByEnvironment(device.environmentId);
    expect(rows.map((row) => row.reason).sort()).toEqual(["enrollment", "renewal"]);
    const audit = await store.audit.list({ environmentId: device.environmentId });
    const renewed = audit.find((event) => event.kind === "certificate_renewed");
    expect(renewed?.detail).toMatchObject({ oldSerial: device.serial, newSerial: issued.serialNumber.toLowerCase() });
    // What pier_certificate_renewals_total counts.
    expect(outcomes.at(-1)).toBe("renewed");
  });

  it("refuses a CSR whose signature does not verify (400 naming csr), audited, and issues nothing", async () => {
    const device = await enroll("altered-csr-device");
    const pem = newCsr("altered-csr-device").pem;
    // Flip one bit inside the signature (the last bytes of the DER, before the END line).
    const der = Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
    der[der.length - 3] = (der[der.length - 3] ?? 0) ^ 0x01;
    const altered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64").replace(/.{64}/g, "$&\n")}\n-----END CERTIFICATE REQUEST-----\n`;
    const answer = await renew(device, JSON.stringify({ csr: altered }));
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({ code: "bad_request", field: "csr" });
    expect((await store.certificates.listByEnvironment(device.environmentId)).map((row) => row.reason)).toEqual(["enrollment"]);
    const failed = (await store.audit.list({ environmentId: device.environmentId })).find((event) => event.kind === "certificate_renewal_failed");
    expect(failed?.detail).toMatchObject({ reason: "bad_csr", serial: device.serial });
    expect(outcomes.at(-1)).toBe("bad_csr");
    // The untouched CSR passes on the same route: the refusal was the signature's.
    expect((await renew(device, JSON.stringify({ csr: pem }))).status).toBe(200);
  });

  it("refuses a body declared over 16 KiB with 413 before reading it", async () => {
    const device = await enroll("large-body-device");
    // Refused on the header alone, with most of the declared body never sent.
    const connection = connectAgent({ port, ca: caPem, cert: device.cert, key: device.key });
    connections.push(connection);
    const declared = connection.request({ ":method": "POST", ":path": edgePaths.renew, "content-length": maxRenewalBodyBytes + 1 }, { endStream: false });
    declared.on("error", () => undefined);
    declared.resume();
    declared.write(Buffer.alloc(16));
    expect(await new Promise((resolve) => declared.once("response", (headers) => resolve(headers[":status"])))).toBe(413);
    // Sent without a length: refused once the bytes read pass the cap.
    const big = await renew(device, JSON.stringify({ csr: "A".repeat(maxRenewalBodyBytes) }));
    expect(big.status).toBe(413);
    expect((await store.certificates.listByEnvironment(device.environmentId)).map((row) => row.reason)).toEqual(["enrollment"]);
  });

  it("refuses a certificate of another CA, and one whose environment was removed", async () => {
    const operator = await operatorCa.issueWithNewKey({ profile: "client", commonName: "edge-client", subjectAltNames: [{ type: "uri", value: "spiffe://pier.local/edge/operator-device" }] });
    await store.environments.create({ name: "operator-device", type: "edge-agent", edgeId: "operator-device", userTrusted: true });
    const foreign = await renew({ cert: operator.certificatePem, key: operator.privateKeyPem }, JSON.stringify({ csr: newCsr("x").pem }));
    expect(foreign.status).toBe(403);
    expect(JSON.parse(foreign.body)).toMatchObject({ details: { reason: "not_built_in_ca" } });

    const device = await enroll("removed-device");
    await store.environments.delete(device.environmentId);
    const removed = await renew(device, JSON.stringify({ csr: newCsr("removed-device").pem }));
    expect(removed.status).toBe(403);
    expect((JSON.parse(removed.body) as { message: string }).message).toContain("No environment has EDGE_ID removed-device");
    const audit = await store.audit.list({ limit: 50 });
    expect(audit.some((event) => event.kind === "certificate_renewal_failed" && event.detail["reason"] === "unknown_device" && event.detail["serial"] === device.serial)).toBe(true);
  });

  it("refuses a revoked certificate and a device sent back to the waiting room, audited with the reason", async () => {
    const revoked = await enroll("revoked-renewer");
    // Precondition: this device renews.
    expect((await renew(revoked, JSON.stringify({ csr: newCsr("x").pem }))).status).toBe(200);
    await store.certificates.revoke([revoked.serial], { at: new Date(), reason: "keyCompromise" });
    const refused = await renew(revoked, JSON.stringify({ csr: newCsr("x").pem }));
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body)).toMatchObject({ code: "forbidden", details: { reason: "revoked" } });

    const waiting = await enroll("waiting-renewer");
    await store.environments.update(waiting.environmentId, { userTrusted: false });
    const parked = await renew(waiting, JSON.stringify({ csr: newCsr("x").pem }));
    expect(parked.status).toBe(403);
    expect(JSON.parse(parked.body)).toMatchObject({ details: { reason: "waiting" } });
    const reasons = (await store.audit.list({ limit: 100 })).filter((event) => event.kind === "certificate_renewal_failed").map((event) => event.detail["reason"]);
    expect(reasons).toEqual(expect.arrayContaining(["revoked", "waiting"]));
  });

  it("serves a burst of renewals one per event-loop turn, so other sockets are served between them", async () => {
    const devices = await Promise.all(Array.from({ length: 12 }, (_, i) => enroll(`burst-device-${i}`)));
    // Event-loop turns, counted by an immediate that re-arms itself: what a heartbeat waits for.
    let turn = 0;
    let ticking = true;
    const tick = () => {
      turn++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const finishedInTurn: number[] = [];
    const grants = await Promise.all(
      devices.map((device) =>
        renewal.renew({ authorized: true, peerCertificate: new X509Certificate(device.cert), remoteAddress: "127.0.0.1" }, newCsr(device.edgeId).pem).then((grant) => {
          finishedInTurn.push(turn);
          return grant;
        }),
      ),
    );
    ticking = false;
    // Precondition: every renewal succeeded (a refusal would be quick and prove nothing).
    expect(grants.map((grant) => new X509Certificate(grant.certificate).subject)).toEqual(devices.map((device) => `CN=${device.edgeId}`));
    // Each in a turn of its own: at most one renewal ran between two turns of the loop.
    expect(new Set(finishedInTurn).size).toBe(devices.length);
  });

  it("answers 429 with Retry-After past the fleet-wide rate, and issues again later", async () => {
    const slow = new CertificateRenewal({ store, deviceCa: () => deviceCa, throttle: new RenewalThrottle({ renewalsPerSecond: 1 }) });
    const saved = renewal;
    renewal = slow;
    try {
      const first = await enroll("storm-device-1");
      const second = await enroll("storm-device-2");
      expect((await renew(first, JSON.stringify({ csr: newCsr("a").pem }))).status).toBe(200);
      const deferred = await renew(second, JSON.stringify({ csr: newCsr("b").pem }));
      expect(deferred.status).toBe(429);
      const body = JSON.parse(deferred.body) as { message: string; details: { retryAfterSeconds: number } };
      expect(body.message).toContain("at most 1 certificates a second");
      expect(body.details.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(deferred.retryAfter).toBe(String(body.details.retryAfterSeconds));
      expect((await store.certificates.listByEnvironment(second.environmentId)).length).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      expect((await renew(second, JSON.stringify({ csr: newCsr("b").pem }))).status).toBe(200);
    } finally {
      renewal = saved;
    }
  });
});
