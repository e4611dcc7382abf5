import { X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { CertificateAuthority, generateKeyPairSync, parseCrl, spkiSha256 } from "@pier/pki";
import { describe, expect, it } from "vitest";
import { SqliteStore } from "../store/sqlite-store.ts";
import { tempDir } from "../store/temp-dir.testkit.ts";
import { CrlPublisher, crlCaId } from "./crl-publisher.ts";

describe("CrlPublisher", () => {
  it("signs the issuing CA's CRL from the store's revoked rows and the CA's own records, with CRL numbers that survive a restart", async () => {
    await using dir = tempDir("crl");
    await using store = await SqliteStore.open(dir.file("pier.db"));
    const ca = await CertificateAuthority.create(dir.file("ca"), { commonName: "Pier CRL test CA" });
    const signer = await ca.deviceSigner();
    const now = new Date();
    const record = async (edgeId: string, environmentId: number) => {
      const signed = signer.sign(generateKeyPairSync("ecdsa-p256").publicKey, { profile: "client", commonName: edgeId, lifetimeSeconds: 3600 });
      const x509 = new X509Certificate(signed.der);
      await store.certificates.insert({
        serial: signed.serialNumber,
        environmentId,
        edgeId,
        subject: x509.subject.replace(/\n/g, ", "),
        issuer: x509.issuer.replace(/\n/g, ", "),
        caSpkiSha256: spkiSha256(ca.certificate.publicKey),
        spkiSha256: signed.spkiSha256,
        notBefore: signed.notBefore,
        notAfter: signed.notAfter,
        issuedAt: now,
        reason: "enrollment",
        revokedAt: null,
        revocationReason: null,
        certificatePem: signed.certificatePem,
      });
      return signed.serialNumber;
    };
    const revoked = await record("edge-1", 1);
    const kept = await record("edge-2", 2);
    const byCli = await record("edge-3", 3);
    await store.certificates.revokeForEnvironment(1, { at: now, reason: "keyCompromise" });
    await ca.revoke(byCli, "superseded");
    const options = { store, authorities: () => ({ issuing: ca, trusted: [ca] }), dataDir: dir.path, log: () => undefined };

    const first = new CrlPublisher(options);
    expect(first.current()).toBeUndefined();
    await first.publish(now);
    const crl = first.current();
    expect(crl?.crlNumber).toBe(1);
    const parsed = parseCrl(crl?.der ?? Buffer.alloc(0));
    expect(parsed.revoked.map((entry) => [entry.serialNumber, entry.reason]).sort()).toEqual([[byCli, "superseded"], [revoked, "keyCompromise"]].sort());
    expect(parsed.revoked.map((entry) => entry.serialNumber)).not.toContain(kept);
    expect(crl?.nextUpdate.getTime()).toBe((crl?.thisUpdate.getTime() ?? 0) + 7 * 86_400_000);
    // The number is the store's, not a file's (migration 10).
    expect(existsSync(dir.file("crl-numbers.json"))).toBe(false);

    // The CRL Distribution Point's ?ca= finds the same CRL; another CA's id finds none.
    expect(first.current(crlCaId(spkiSha256(ca.certificate.publicKey)))?.crlNumber).toBe(1);
    expect(first.current("0000000000000000")).toBeUndefined();

    // Another publisher (a restart) continues the numbering.
    const second = new CrlPublisher(options);
    await second.publish();
    expect(second.current()?.crlNumber).toBe(2);
  });

  it("numbers each CA's CRLs from the store: two publishers with their own data directories (two replicas) never sign the same number, and a crl-numbers.json is taken over", async () => {
    await using dir = tempDir("crl-replicas");
    await using store = await SqliteStore.open(dir.file("pier.db"));
    const ca = await CertificateAuthority.create(dir.file("ca"), { commonName: "Pier CRL replicas CA" });
    const caSpki = spkiSha256(ca.certificate.publicKey);
    const authorities = () => ({ issuing: ca, trusted: [ca] });
    // Replica A kept its numbers in DATA/crl-numbers.json before the store did (up to 41).
    mkdirSync(dir.file("a"));
    mkdirSync(dir.file("b"));
    writeFileSync(dir.file("a/crl-numbers.json"), JSON.stringify({ [caSpki]: 41 }), { mode: 0o600 });
    const a = new CrlPublisher({ store, authorities, dataDir: dir.file("a"), log: () => undefined });
    const b = new CrlPublisher({ store, authorities, dataDir: dir.file("b"), log: () => undefined });

    await a.publish();
    expect(a.current()?.crlNumber).toBe(42);
    // Before the store kept them, B (its own file, none) would have signed number 1 again.
    await Promise.all([b.publish(), a.publish(), b.publish()]);
    const numbers = [a.current()?.crlNumber, b.current()?.crlNumber];
    expect(Math.max(...(numbers as number[]))).toBe(45);
    await b.publish();
    expect(b.current()?.crlNumber).toBe(46);
    expect(parseCrl(b.current()?.der ?? Buffer.alloc(0)).crlNumber).toBe(46);
  });
});
