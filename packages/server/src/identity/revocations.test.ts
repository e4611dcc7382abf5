import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CertificateAuthority } from "@pier/pki";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RevocationChange, RevocationRegistry, issuerKey } from "./revocations.ts";

describe("RevocationRegistry", () => {
  let dir: string;
  let device: X509Certificate;
  let sameSerialOtherCa: X509Certificate;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "pier-revocations-"));
    const ca = await CertificateAuthority.create(join(dir, "ca"), { commonName: "Pier Test CA" });
    device = new X509Certificate((await ca.issueWithNewKey({ profile: "client", commonName: "device-1" })).certificatePem);
    const other = await CertificateAuthority.create(join(dir, "other"), { commonName: "Other CA" });
    sameSerialOtherCa = new X509Certificate((await other.issueWithNewKey({ profile: "client", commonName: "device-1" })).certificatePem);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("matches by issuer name and serial, whatever the serial's case and the name's form", () => {
    const registry = new RevocationRegistry();
    expect(registry.isRevoked(device)).toBe(false);
    registry.add("built-in", [{ issuer: device.issuer.replace(/\n/g, ", "), serial: `00${device.serialNumber.toLowerCase()}` }]);
    expect(registry.isRevoked(device)).toBe(true);
    expect(registry.isRevoked(sameSerialOtherCa)).toBe(false);
  });

  it("keeps its sources apart: replacing the operator CRL leaves built-in revocations in force", () => {
    const registry = new RevocationRegistry();
    registry.add("built-in", [{ issuer: device.issuer, serial: device.serialNumber }]);
    registry.setSource("operator-crl", [{ issuer: sameSerialOtherCa.issuer, serial: sameSerialOtherCa.serialNumber }]);
    expect(registry.isRevoked(sameSerialOtherCa)).toBe(true);
    registry.setSource("operator-crl", []);
    expect(registry.isRevoked(sameSerialOtherCa)).toBe(false);
    expect(registry.isRevoked(device)).toBe(true);
    expect(registry.size).toBe(1);
  });

  it("an entry both sources list stays in force until both drop it", () => {
    const registry = new RevocationRegistry();
    const entry = { issuer: device.issuer, serial: device.serialNumber };
    registry.add("built-in", [entry]);
    registry.setSource("operator-crl", [entry]);
    registry.setSource("operator-crl", []);
    expect(registry.isRevoked(device)).toBe(true);
    registry.setSource("built-in", []);
    expect(registry.isRevoked(device)).toBe(false);
    expect(registry.size).toBe(0);
  });

  it("tells listeners what is new, once", () => {
    const registry = new RevocationRegistry();
    const changes: RevocationChange[] = [];
    registry.onChange((change) => changes.push(change));
    const entry = { issuer: device.issuer, serial: device.serialNumber };
    registry.add("built-in", [entry]);
    registry.add("built-in", [entry]);
    registry.setSource("built-in", [entry]);
    expect(changes).toEqual([{ source: "built-in", added: [entry] }]);
  });

  it("a listener that throws does not keep the next one from hearing", () => {
    const registry = new RevocationRegistry();
    const heard: string[] = [];
    registry.onChange(() => {
      throw new Error("boom");
    });
    registry.onChange(() => heard.push("second"));
    expect(() => registry.add("built-in", [{ issuer: device.issuer, serial: device.serialNumber }])).toThrow("boom");
    expect(heard).toEqual(["second"]);
  });

  it("issuerKey reads both name forms alike", () => {
    expect(issuerKey("CN=Pier CA\nO=Pier")).toBe(issuerKey("CN=pier ca, O=Pier"));
  });
});
