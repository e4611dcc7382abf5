import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RevokedEntry, crlToPem, keyIdentifier, loadPrivateKey, parseCertificate, signCrl } from "@pier/pki";
import { type CrlMaterial, type CrlProblem, checkOperatorCrl, revocationEntriesOf } from "./crl-material.ts";
import { type Credential, type TestCa, type TestPki, clientRequest, createTestPki } from "./tls-fixtures.testkit.ts";

let pki: TestPki;
let operator: TestCa;
let other: TestCa;
let good: Credential;
let revoked: Credential;
const hour = 3_600_000;

/** A CRL signed with a test CA's key, with the dates a test needs. */
function crlOf(ca: TestCa, entries: readonly RevokedEntry[], dates: { thisUpdate?: Date; nextUpdate?: Date } = {}): Buffer {
  const certificate = parseCertificate(new X509Certificate(ca.pem).raw);
  const signingKey = loadPrivateKey(readFileSync(join(ca.authority.dir, "ca.key")));
  return signCrl({
    issuer: certificate.subjectDer,
    issuerKeyId: keyIdentifier(certificate.publicKey),
    signingKey,
    crlNumber: 7,
    thisUpdate: dates.thisUpdate ?? new Date(Date.now() - hour),
    nextUpdate: dates.nextUpdate ?? new Date(Date.now() + 24 * hour),
    revoked: entries,
  });
}

const entryFor = (credential: Credential): RevokedEntry => ({ serialNumber: new X509Certificate(credential.certPem).serialNumber.toLowerCase(), revokedAt: new Date(), reason: "keyCompromise" });
const input = (crl: Buffer | string, ca: string = operator.pem) => ({ crl: { path: "crl.pem", data: Buffer.from(crl) }, ca: { path: "ca.crt", data: Buffer.from(ca) } });

function accepted(result: CrlMaterial | CrlProblem[]): CrlMaterial {
  if (Array.isArray(result)) throw new Error(`refused: ${result.map((p) => `${p.code}: ${p.problem}`).join("; ")}`);
  return result;
}

function refused(result: CrlMaterial | CrlProblem[]): CrlProblem[] {
  if (!Array.isArray(result)) throw new Error("the CRL was accepted");
  return result;
}

beforeAll(async () => {
  pki = createTestPki();
  operator = await pki.createCa("Operator CA");
  other = await pki.createCa("Other CA");
  good = await pki.issue(operator, "good", clientRequest("edge-good"));
  revoked = await pki.issue(operator, "revoked", clientRequest("edge-revoked"));
});

afterAll(async () => {
  await pki[Symbol.asyncDispose]();
});

describe("checkOperatorCrl", () => {
  it("accepts the CA's CRL as PEM or DER and says which certificates it revokes", () => {
    const der = crlOf(operator, [entryFor(revoked)]);
    for (const data of [crlToPem(der), der]) {
      const material = accepted(checkOperatorCrl(input(data)));
      expect(material.entryCount).toBe(1);
      expect(material.pems).toHaveLength(1);
      expect(material.crls[0]?.crlNumber).toBe(7);
      expect(material.isRevoked(new X509Certificate(revoked.certPem))).toBe(true);
      expect(material.isRevoked(new X509Certificate(good.certPem))).toBe(false);
    }
  });

  it("does not take a serial of another CA for one of this CA's", async () => {
    const foreign = await pki.issue(other, "foreign", clientRequest("edge-foreign"));
    const material = accepted(checkOperatorCrl(input(crlToPem(crlOf(operator, [entryFor(foreign)])))));
    expect(material.entryCount).toBe(1);
    expect(material.isRevoked(new X509Certificate(foreign.certPem))).toBe(false);
  });

  it("gives the registry the entries under the issuer's name as Node shows it", () => {
    const material = accepted(checkOperatorCrl(input(crlToPem(crlOf(operator, [entryFor(revoked)])))));
    const certificate = new X509Certificate(revoked.certPem);
    expect(revocationEntriesOf(material)).toEqual([{ issuer: certificate.issuer, serial: certificate.serialNumber.toLowerCase() }]);
  });

  it("refuses a CRL signed by another CA, naming both", () => {
    const [problem] = refused(checkOperatorCrl(input(crlToPem(crlOf(other, [entryFor(revoked)])))));
    expect(problem?.code).toBe("crl_wrong_issuer");
    expect(problem?.problem).toMatch(/issued by CN=Other CA, not by a CA of ca\.crt \(CN=Operator CA\)/);
    expect(problem?.fix).toMatch(/openssl ca -gencrl/);
  });

  it("refuses a CRL whose name is the CA's but whose signature is not", () => {
    const der = crlOf(operator, []);
    der[der.length - 3] = (der[der.length - 3] ?? 0) ^ 0xff;
    const [problem] = refused(checkOperatorCrl(input(der)));
    expect(problem?.code).toBe("crl_wrong_issuer");
    expect(problem?.problem).toMatch(/signature does not verify/);
  });

  it("refuses an expired CRL and one not valid yet", () => {
    const expired = crlOf(operator, [], { thisUpdate: new Date(Date.now() - 48 * hour), nextUpdate: new Date(Date.now() - hour) });
    const [stale] = refused(checkOperatorCrl(input(expired)));
    expect(stale?.code).toBe("crl_expired");
    expect(stale?.problem).toMatch(/next update was due .* "CRL has expired"/);
    const future = crlOf(operator, [], { thisUpdate: new Date(Date.now() + hour) });
    expect(refused(checkOperatorCrl(input(future)))[0]?.code).toBe("crl_not_yet_valid");
    // The same expired CRL is fine at a time before its next update: the check is the date, nothing else.
    expect(accepted(checkOperatorCrl({ ...input(expired), now: new Date(Date.now() - 24 * hour) })).entryCount).toBe(0);
  });

  it("refuses what is not a CRL", () => {
    for (const data of [good.certPem, "", "garbage", Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01])]) {
      const [problem] = refused(checkOperatorCrl(input(data)));
      expect(problem?.code).toBe("not_a_crl");
      expect(problem?.problem).toMatch(/^this is not a (CRL|certificate revocation list)/);
    }
  });

  it("refuses a file without a CRL for every CA of the CA file (OpenSSL would lock their clients out)", () => {
    const bundle = `${operator.pem}${other.pem}`;
    const [problem] = refused(checkOperatorCrl(input(crlToPem(crlOf(operator, [])), bundle)));
    expect(problem?.code).toBe("crl_missing_for_ca");
    expect(problem?.problem).toMatch(/no CRL of CN=Other CA/);
    const both = accepted(checkOperatorCrl(input(crlToPem(crlOf(operator, [entryFor(revoked)])) + crlToPem(crlOf(other, [])), bundle)));
    expect(both.crls).toHaveLength(2);
    expect(both.isRevoked(new X509Certificate(revoked.certPem))).toBe(true);
  });

  it("refuses more entries, bytes or CRLs than its limits", () => {
    const entries = [entryFor(revoked), entryFor(good), { ...entryFor(good), serialNumber: "0abc" }];
    const pem = crlToPem(crlOf(operator, entries));
    expect(accepted(checkOperatorCrl({ ...input(pem), limits: { maxEntries: 3 } })).entryCount).toBe(3);
    expect(refused(checkOperatorCrl({ ...input(pem), limits: { maxEntries: 2 } }))[0]?.code).toBe("crl_too_many_entries");
    expect(refused(checkOperatorCrl({ ...input(pem), limits: { maxFileBytes: 100 } }))[0]?.code).toBe("crl_too_large");
    expect(refused(checkOperatorCrl({ ...input(pem + pem), limits: { maxCrls: 1 } }))[0]?.code).toBe("crl_too_large");
  });
});
