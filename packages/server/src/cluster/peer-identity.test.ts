import { X509Certificate } from "node:crypto";
import { describe, expect, it } from "vitest";
import { PeerCa, type PeerCredentials } from "./peer-ca.ts";
import { PeerIdentity } from "./peer-identity.ts";

describe("PeerIdentity", () => {
  it("re-issues the replica's certificate with a third of its lifetime left, and tells its listeners", async () => {
    const ca = await PeerCa.create();
    const logs: string[] = [];
    // A 3 s lifetime: the re-issue is due after about 2 s (never sooner than 1 s).
    const identity = await PeerIdentity.start({ ca, replicaId: "eeeeeeee-0000-4000-8000-000000000005", peerAddress: "pier-a.internal:9445", trustDomain: "pier.local", lifetimeMs: 3_000, log: (level, message) => logs.push(`${level}: ${message}`) });
    try {
      const first = identity.current;
      expect(new X509Certificate(first.cert).subjectAltName).toBe("URI:spiffe://pier.local/replica/eeeeeeee-0000-4000-8000-000000000005, DNS:pier-a.internal");
      const renewed = await new Promise<PeerCredentials>((resolve) => identity.onChange(resolve));
      expect(renewed.cert).not.toBe(first.cert);
      expect(renewed.key).not.toBe(first.key);
      expect(renewed.notAfter.getTime()).toBeGreaterThan(first.notAfter.getTime());
      expect(identity.current).toBe(renewed);
      expect(new X509Certificate(renewed.cert).checkIssued(new X509Certificate(ca.certificatePem))).toBe(true);
      expect(logs.some((line) => line.startsWith("info: peer channel: this replica's certificate was re-issued"))).toBe(true);
    } finally {
      identity.close();
    }
  });
});
