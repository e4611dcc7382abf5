import { X509Certificate } from "node:crypto";
import { CertificateAuthority, createCsr, csrToPem, generateKeyPair, spkiSha256, type KeyPair } from "@pier/pki";
import { type Hello, type ServerMessage, identityLimits } from "@pier/protocol";
import { describe, expect, it } from "vitest";
import { EdgeService } from "../edge/edge-service.ts";
import { SqliteStore } from "../store/sqlite-store.ts";
import { tempDir } from "../store/temp-dir.testkit.ts";
import { DeviceCa } from "./device-ca.ts";
import { Enrollment, readEnrollmentCsr } from "./enrollment.ts";

interface Context {
  store: SqliteStore;
  edge: EdgeService;
  deviceCa: DeviceCa;
  file: (name: string) => string;
}

async function withEnrollment(test: (context: Context) => Promise<void>, options: { trustOnFirstConnect?: boolean } = {}): Promise<void> {
  await using dir = tempDir("enrollment");
  await using store = await SqliteStore.open(dir.file("pier.db"));
  await store.settings.update({ trustOnFirstConnect: options.trustOnFirstConnect ?? false });
  const ca = await CertificateAuthority.create(dir.file("ca"), { commonName: "Pier built-in CA (test)" });
  const deviceCa = await DeviceCa.open({ store, authorities: { issuing: ca, trusted: [ca] }, crlUrl: () => Promise.resolve(undefined) });
  const edge = new EdgeService(store, { record: () => undefined }, { identity: new Enrollment({ store, deviceCa: () => deviceCa }) });
  try {
    await test({ store, edge, deviceCa, file: (name) => dir.file(name) });
  } finally {
    edge.closeAll();
  }
}

const hello = (edgeId: string, extra: Partial<Hello> = {}): Hello => ({
  type: "hello",
  protocol: 1,
  environmentId: 0,
  agent: { edgeId, agentVersion: "1.0.0", platform: "docker", hostname: "pi", os: "linux", arch: "arm64" },
  ...extra,
});

function csrOf(keys: KeyPair, commonName = "whatever-the-device-says"): string {
  return csrToPem(createCsr({ privateKey: keys.privateKey, subject: { commonName } }));
}

// Asymmetric matchers are typed `any`; this keeps the assertions readable and the linter content.
const containing = (text: string): unknown => expect.stringContaining(text);

/** What `work` throws (the test fails when it throws nothing). */
function thrown(work: () => unknown): unknown {
  try {
    work();
  } catch (error) {
    return error;
  }
  throw new Error("expected a refusal");
}

/** One end of a session as the edge routes register it. */
function session(sourceAddress = "192.0.2.1") {
  const frames: ServerMessage[] = [];
  return { frames, sourceAddress, push: (message: ServerMessage) => frames.push(message), close: () => undefined, healthy: () => true };
}

describe("hello.csr", () => {
  it("is read for its key only after its signature verifies; an altered, oversized or mislabelled one is refused naming the field csr", async () => {
    const keys = await generateKeyPair("ecdsa-p256");
    const pem = csrOf(keys, "edge-1");
    expect(readEnrollmentCsr(pem).keySha256).toBe(spkiSha256(keys.publicKey));
    // The same CSR with one byte of its subject changed ("edge-1" → "edge-2"): the signature no longer covers it.
    const der = Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s/g, ""), "base64");
    const at = der.indexOf(Buffer.from("edge-1"));
    expect(at).toBeGreaterThan(0);
    der[at + 5] = "2".charCodeAt(0);
    const altered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`;
    expect(thrown(() => readEnrollmentCsr(altered))).toMatchObject({ code: "bad_request", field: "csr", message: containing("does not verify with its own key") });
    expect(thrown(() => readEnrollmentCsr(pem + " ".repeat(identityLimits.csrPem)))).toMatchObject({ code: "bad_request", field: "csr", message: containing(`exceeds ${identityLimits.csrPem} bytes`) });
    expect(thrown(() => readEnrollmentCsr(pem + pem))).toMatchObject({ field: "csr" });
    expect(thrown(() => readEnrollmentCsr(pem.replaceAll("CERTIFICATE REQUEST", "CERTIFICATE")))).toMatchObject({ field: "csr" });
    expect(thrown(() => readEnrollmentCsr("-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n"))).toMatchObject({ field: "csr" });
  });

  it("an altered CSR in a hello enrolls nothing; the genuine one waits with its key fingerprint", () =>
    withEnrollment(async ({ store, edge }) => {
      const keys = await generateKeyPair("ecdsa-p256");
      const pem = csrOf(keys);
      const der = Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s/g, ""), "base64");
      der[der.length - 3] = (der[der.length - 3] ?? 0) ^ 0xff;
      const altered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`;
      await expect(edge.hello(hello("edge-1", { csr: altered }), { sourceAddress: "192.0.2.1" })).rejects.toMatchObject({ code: "bad_request", field: "csr" });
      expect(await store.environments.list()).toEqual([]);
      const { welcome, environment } = await edge.hello(hello("edge-1", { csr: pem }), { sourceAddress: "192.0.2.1" });
      expect(welcome).toMatchObject({ status: "waiting" });
      expect(welcome.certificate).toBeUndefined();
      expect(environment.enrollmentKeySha256).toBe(spkiSha256(keys.publicKey));
      expect((await store.environments.get(environment.id))?.enrollmentCsr?.length).toBeGreaterThan(0);
      expect((await store.audit.list({ environmentId: environment.id })).map((e) => e.kind)).toEqual(["enrollment_requested", "enrolled"]);
    }));
});

describe("issuance at association and delivery", () => {
  it("issues for the CSR's key when an administrator associates; pushes it on the open session; the token no longer admits the device; the same key gets the same certificate again", () =>
    withEnrollment(async ({ store, edge }) => {
      const keys = await generateKeyPair("ecdsa-p256");
      const csr = csrOf(keys);
      const first = await edge.hello(hello("edge-1", { csr }), { sourceAddress: "192.0.2.1" });
      const deviceToken = first.welcome.deviceToken ?? "";
      const id = first.environment.id;
      const open = session();
      edge.attachSession(id, open);
      // Waiting: a reconnect with the token is admitted and issues nothing.
      await edge.hello(hello("edge-1", { deviceToken, csr }), { sourceAddress: "192.0.2.1" });
      expect(await store.certificates.listByEnvironment(id)).toEqual([]);

      await store.environments.update(id, { userTrusted: true });
      await edge.notifyChanged(id);
      const frames = open.frames.map((frame) => frame.type);
      expect(frames).toEqual(["status", "certificate"]);
      const pushed = open.frames[1];
      if (pushed?.type !== "certificate") throw new Error("no certificate frame");
      const certificate = new X509Certificate(pushed.grant.certificate);
      expect(spkiSha256(certificate.publicKey)).toBe(spkiSha256(keys.publicKey));
      expect(certificate.subject).toBe("CN=edge-1");
      const [record] = await store.certificates.listByEnvironment(id);
      expect(record?.serial).toBe(certificate.serialNumber.toLowerCase());
      const environment = await store.environments.get(id);
      expect(environment).toMatchObject({ enrollmentCsr: null, enrollmentKeySha256: spkiSha256(keys.publicKey), identity: { kind: "certificate", value: spkiSha256(keys.publicKey) } });
      // Associating again issues nothing more.
      await edge.notifyChanged(id);
      expect(await store.certificates.listByEnvironment(id)).toHaveLength(1);

      // The token alone no longer admits it…
      await expect(edge.hello(hello("edge-1", { deviceToken }), { sourceAddress: "192.0.2.1" })).rejects.toMatchObject({ code: "conflict" });
      // …nor with another key's CSR…
      const other = await generateKeyPair("ecdsa-p256");
      await expect(edge.hello(hello("edge-1", { deviceToken, csr: csrOf(other) }), { sourceAddress: "192.0.2.1" })).rejects.toMatchObject({ code: "conflict" });
      // …but the same key is given the same certificate again (its welcome was lost), without a session.
      const again = await edge.hello(hello("edge-1", { deviceToken, csr }), { sourceAddress: "192.0.2.1" });
      expect(again.deliverOnly).toBe(true);
      expect(again.welcome.certificate?.certificate).toBe(pushed.grant.certificate);
      expect(await store.certificates.listByEnvironment(id)).toHaveLength(1);

      // With its certificate the device is admitted; a renewed certificate (new key, same name) too.
      const admitted = await edge.hello(hello("edge-1"), { sourceAddress: "192.0.2.1", peerCertificate: certificate });
      expect(admitted.welcome.status).toBe("associated");
      expect(admitted.deliverOnly).toBeUndefined();
    }));

  it("associated on another replica (which issued), the session held here without a certificate is still sent it; one opened with a certificate only its status", () =>
    withEnrollment(async ({ store, edge, deviceCa }) => {
      // Replica B: the same store and CA, no session; it makes the association and issues.
      const replicaB = new EdgeService(store, { record: () => undefined }, { identity: new Enrollment({ store, deviceCa: () => deviceCa }) });
      const keys = await generateKeyPair("ecdsa-p256");
      const first = await edge.hello(hello("edge-b", { csr: csrOf(keys) }), { sourceAddress: "192.0.2.4" });
      const id = first.environment.id;
      const open = { ...session("192.0.2.4"), presentedCertificate: false };
      edge.attachSession(id, open);
      await store.environments.update(id, { userTrusted: true });
      await replicaB.notifyChanged(id);
      expect(await store.certificates.listByEnvironment(id)).toHaveLength(1);

      await edge.notifyChanged(id);
      expect(open.frames.map((frame) => frame.type)).toEqual(["status", "certificate"]);
      const pushed = open.frames[1];
      if (pushed?.type !== "certificate") throw new Error("no certificate frame");
      expect(spkiSha256(new X509Certificate(pushed.grant.certificate).publicKey)).toBe(spkiSha256(keys.publicKey));
      expect(await store.certificates.listByEnvironment(id)).toHaveLength(1);

      // A session that presented a certificate is not sent one again.
      const withCertificate = { ...session("192.0.2.4"), presentedCertificate: true };
      edge.attachSession(id, withCertificate);
      await edge.notifyChanged(id);
      expect(withCertificate.frames.map((frame) => frame.type)).toEqual(["status"]);
    }));

  it("a device associated while offline gets its certificate in its next welcome", () =>
    withEnrollment(async ({ store, edge }) => {
      const keys = await generateKeyPair("ecdsa-p256");
      const csr = csrOf(keys);
      const first = await edge.hello(hello("edge-2", { csr }), { sourceAddress: "192.0.2.2" });
      await store.environments.update(first.environment.id, { userTrusted: true });
      await edge.notifyChanged(first.environment.id);
      const next = await edge.hello(hello("edge-2", { csr, deviceToken: first.welcome.deviceToken ?? "" }), { sourceAddress: "192.0.2.2" });
      expect(next.welcome.status).toBe("associated");
      expect(spkiSha256(new X509Certificate(next.welcome.certificate?.certificate ?? "").publicKey)).toBe(spkiSha256(keys.publicKey));
    }));

  it("with trustOnFirstConnect the first welcome carries the certificate", () =>
    withEnrollment(
      async ({ store, edge }) => {
        const keys = await generateKeyPair("ecdsa-p256");
        const { welcome, environment } = await edge.hello(hello("edge-3", { csr: csrOf(keys) }), { sourceAddress: "192.0.2.3" });
        expect(welcome.status).toBe("associated");
        expect(new X509Certificate(welcome.certificate?.certificate ?? "").subject).toBe("CN=edge-3");
        expect((await store.environments.get(environment.id))?.identity?.kind).toBe("certificate");
      },
      { trustOnFirstConnect: true },
    ));
});

describe("binding by name (docs/identity.md)", () => {
  it("a Pier certificate is accepted only with the EDGE_ID it names, refused and audited otherwise; a renewed key keeps working", () =>
    withEnrollment(
      async ({ store, edge, deviceCa }) => {
        const keys = await generateKeyPair("ecdsa-p256");
        const { environment, welcome } = await edge.hello(hello("edge-7", { csr: csrOf(keys) }), { sourceAddress: "192.0.2.7" });
        const certificate = new X509Certificate(welcome.certificate?.certificate ?? "");
        // Precondition: with its own EDGE_ID it is admitted.
        expect((await edge.hello(hello("edge-7"), { sourceAddress: "192.0.2.7", peerCertificate: certificate })).welcome.environmentId).toBe(environment.id);
        await expect(edge.hello(hello("edge-8"), { sourceAddress: "192.0.2.8", peerCertificate: certificate })).rejects.toMatchObject({ code: "forbidden", message: containing("names the device edge-7") });
        expect(await store.environments.getByEdgeId("edge-8")).toBeNull();
        const [refusal] = await store.audit.list({ limit: 1 });
        expect(refusal).toMatchObject({ kind: "certificate_binding_refused", edgeId: "edge-8", detail: { certificateName: "edge-7", presentedEdgeId: "edge-8", serial: certificate.serialNumber.toLowerCase() } });
        // A renewal: another key, same name, admitted by name (not by the key bound at issuance).
        const renewedKeys = await generateKeyPair("ecdsa-p256");
        const renewed = await deviceCa.issue({ environmentId: environment.id, edgeId: "edge-7", publicKey: renewedKeys.publicKey, reason: "renewal" });
        expect((await edge.hello(hello("edge-7"), { sourceAddress: "192.0.2.7", peerCertificate: new X509Certificate(renewed.grant.certificate) })).welcome.status).toBe("associated");
      },
      { trustOnFirstConnect: true },
    ));

  it("an operator certificate with a device URI SAN names that device; a shared CN=edge-client serves many unless bindCommonName is on", () =>
    withEnrollment(
      async ({ store, edge, file }) => {
        const operator = await CertificateAuthority.create(file("operator-ca"), { commonName: "Acme Edge CA" });
        const named = new X509Certificate((await operator.issueWithNewKey({ profile: "client", commonName: "device", subjectAltNames: [{ type: "uri", value: "spiffe://acme.example/edge/edge-5" }] })).certificatePem);
        expect((await edge.hello(hello("edge-5"), { sourceAddress: "192.0.2.5", peerCertificate: named })).welcome.status).toBe("associated");
        await expect(edge.hello(hello("edge-6"), { sourceAddress: "192.0.2.6", peerCertificate: named })).rejects.toMatchObject({ code: "forbidden" });

        const shared = new X509Certificate((await operator.issueWithNewKey({ profile: "client", commonName: "edge-client" })).certificatePem);
        await edge.hello(hello("site-a"), { sourceAddress: "192.0.2.10", peerCertificate: shared });
        await edge.hello(hello("site-b"), { sourceAddress: "192.0.2.11", peerCertificate: shared });
        expect((await store.environments.list()).filter((e) => e.clientCertificate?.fingerprintSha256 === shared.fingerprint256.replace(/:/g, "").toLowerCase())).toHaveLength(2);
        await store.settings.update({ bindCommonName: true });
        await expect(edge.hello(hello("site-a"), { sourceAddress: "192.0.2.10", peerCertificate: shared })).rejects.toMatchObject({ code: "forbidden", message: containing("names the device edge-client") });
        expect((await edge.hello(hello("edge-client"), { sourceAddress: "192.0.2.12", peerCertificate: shared })).welcome.environmentId).toBeGreaterThan(0);
      },
      { trustOnFirstConnect: true },
    ));
});
