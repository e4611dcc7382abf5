import { createPrivateKey } from "node:crypto";
import { writeFileSync } from "node:fs";
import { spkiSha256 } from "@pier/pki";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ServerError } from "../errors.ts";
import { type Credential, type TestCa, type TestPki, clientRequest, createTestPki, names, uiServerRequest } from "./tls-fixtures.testkit.ts";
import { loadTlsMaterial } from "./tls-material.ts";

async function failureOf(promise: Promise<unknown>): Promise<ServerError> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ServerError);
  expect((error as ServerError).code).toBe("tls_material_invalid");
  return error as ServerError;
}

describe("loadTlsMaterial", () => {
  let pki: TestPki;
  let serverCa: TestCa;
  let clientCa: TestCa;
  let server: Credential;
  let other: Credential;
  let client: Credential;
  beforeAll(async () => {
    pki = createTestPki();
    serverCa = await pki.createCa("Server CA");
    clientCa = await pki.createCa("Device CA");
    server = await pki.issue(serverCa, "server", uiServerRequest());
    other = await pki.issue(serverCa, "other", uiServerRequest());
    client = await pki.issue(clientCa, "device", clientRequest("device-1"));
  });
  afterAll(() => pki[Symbol.asyncDispose]());

  it("loads a certificate and key, with the names and SPKI pin of the certificate", async () => {
    const material = await loadTlsMaterial({ certPath: server.certPath, keyPath: server.keyPath, role: "server" });

    expect(material.certificate.subjectText).toBe(`CN=${names.ui}`);
    expect(material.names).toEqual([names.ui, "127.0.0.1"]);
    expect(material.spkiSha256).toBe(spkiSha256(createPrivateKey(server.keyPem)));
    expect(material.cert.toString()).toBe(server.certPem);
    expect(material.ca).toBeUndefined();
    expect(material.warnings).toEqual([]);
  });

  it("accepts a client CA that did not issue the server certificate", async () => {
    const material = await loadTlsMaterial({ ...server, caPath: clientCa.caPath, role: "server" });
    expect(material.ca?.toString()).toBe(clientCa.pem);
  });

  it("names the key file when the key belongs to another certificate", async () => {
    const error = await failureOf(loadTlsMaterial({ certPath: server.certPath, keyPath: other.keyPath, role: "server" }));
    expect(error.message).toMatch(new RegExp(`^${other.keyPath}: the private key does not belong to CN=${names.ui} .* — use the key generated with this certificate's CSR`));
    expect(error.details?.problems).toEqual([expect.objectContaining({ code: "key_mismatch", file: other.keyPath })]);
  });

  it("refuses a client CA file that holds a leaf certificate", async () => {
    const error = await failureOf(loadTlsMaterial({ ...server, caPath: client.certPath, role: "server" }));
    expect(error.message).toContain(`${client.certPath}: CN=device-1 is not a CA certificate`);
  });

  it("refuses a client certificate used as the server's", async () => {
    const error = await failureOf(loadTlsMaterial({ ...client, role: "server" }));
    expect(error.message).toMatch(new RegExp(`^${client.certPath}: extendedKeyUsage is clientAuth, without serverAuth`, "m"));
  });

  it("refuses a certificate that has expired", async () => {
    const error = await failureOf(loadTlsMaterial({ ...server, role: "server", now: new Date(Date.now() + 3 * 365 * 86_400_000) }));
    expect(error.message).toContain(`${server.certPath}: the server certificate (CN=${names.ui}) expired on`);
  });

  it("names every unreadable file", async () => {
    const missing = pki.file("missing.crt");
    const error = await failureOf(loadTlsMaterial({ certPath: missing, keyPath: server.keyPath, caPath: pki.file("missing-ca.crt"), role: "server" }));
    expect(error.message.split("\n")).toEqual([
      `${missing}: cannot be read (ENOENT) — check the path and that the server's user may read the file`,
      `${pki.file("missing-ca.crt")}: cannot be read (ENOENT) — check the path and that the server's user may read the file`,
    ]);
  });

  it("refuses a client CA bundle read half-written (issue 22: it loaded as a bundle without its last CA, whose devices were then dropped)", async () => {
    const whole = clientCa.pem + serverCa.pem;
    for (const cut of [clientCa.pem.length + 5, clientCa.pem.length + Math.floor(serverCa.pem.length / 2), whole.length - 12]) {
      const torn = pki.file(`torn-bundle-${cut}.pem`);
      writeFileSync(torn, whole.slice(0, cut));
      const error = await failureOf(loadTlsMaterial({ ...server, caPath: torn, role: "server" }));
      expect(error.message).toContain(`${torn}: this PEM text does not parse: PEM block 2 has a BEGIN line without a matching END line, after 1 complete one(s)`);
      expect(error.message).toContain("renaming it over this one");
    }
    const bundle = pki.file("whole-bundle.pem");
    writeFileSync(bundle, whole);
    expect((await loadTlsMaterial({ ...server, caPath: bundle, role: "server" })).ca?.toString()).toBe(whole);
  });

  it("lists every problem at once, one line each", async () => {
    const error = await failureOf(loadTlsMaterial({ certPath: server.certPath, keyPath: other.keyPath, caPath: client.certPath, role: "server" }));
    const lines = error.message.split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^${other.keyPath}: the private key does not belong`));
    expect(lines[1]).toMatch(new RegExp(`^${client.certPath}: CN=device-1 is not a CA certificate`));
  });
});
