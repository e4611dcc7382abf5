import { createCsr, csrToPem, generateKeyPair } from "@pier/pki";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readEnrollmentCsr } from "../../identity/enrollment.ts";
import type { RunningServer } from "../../server.ts";
import { type TempDir, tempDir } from "../../store/temp-dir.testkit.ts";
import { startAdminServer } from "../admin-server.testkit.ts";
import type { ApiClient } from "../api-client.testkit.ts";

let dir: TempDir;
let server: RunningServer;
let api: ApiClient;

beforeAll(async () => {
  dir = tempDir("endpoints-trust");
  ({ server, api } = await startAdminServer(dir, "correct horse battery staple"));
});

afterAll(async () => {
  await server?.close();
  await dir?.[Symbol.asyncDispose]();
});

describe("POST /api/endpoints/{id}/edge/trust", () => {
  it("issues the certificate an association cut short still owes (associated, CSR pending), and only once", async () => {
    const keys = await generateKeyPair("ecdsa-p256");
    const csr = readEnrollmentCsr(csrToPem(createCsr({ privateKey: keys.privateKey, subject: { commonName: "edge-cut-short" } })));
    // What a full disk left: the association's first write (UserTrusted) landed, the issuance after it did not.
    const created = await server.store.environments.create({ name: "edge-cut-short", type: "edge-agent", edgeId: "edge-cut-short", userTrusted: true });
    await server.store.environments.update(created.id, { enrollmentCsr: csr.der, enrollmentKeySha256: csr.keySha256 });
    expect((await api.call("POST", `/api/endpoints/${created.id}/edge/trust`)).status).toBe(204);
    const issued = await server.store.certificates.listByEnvironment(created.id);
    expect(issued).toHaveLength(1);
    expect(issued[0]?.spkiSha256).toBe(csr.keySha256);
    expect((await server.store.environments.get(created.id))?.enrollmentCsr).toBeNull();
    expect((await api.call("POST", `/api/endpoints/${created.id}/edge/trust`)).status).toBe(204);
    expect(await server.store.certificates.listByEnvironment(created.id)).toHaveLength(1);
  });
});
