import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CertificateAuthority, generateKeyPair } from "@pier/pki";
import { ensureBuiltInTls, reissueServerCertificate } from "../bootstrap/built-in-tls.ts";
import { SqliteStore } from "../store/index.ts";
import { tempDir } from "../store/temp-dir.testkit.ts";
import { DeviceCa } from "./device-ca.ts";
import { startRevocation } from "./revocation-runtime.ts";
import { CaRotation } from "./rotation.ts";
import { caFingerprint, openCaIn, rotationDirectories } from "./rotation-directories.ts";

async function until(check: () => boolean, timeoutMs = 5_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

describe("startRevocation: pier ca revoke against a running server", () => {
  it("after a CA rotation finished, follows the new DATA/ca: revoking a device serial of the new CA there closes its session", async () => {
    await using dir = tempDir("revocation-runtime");
    await ensureBuiltInTls(dir.path, ["localhost", "127.0.0.1"]);
    await using store = await SqliteStore.open(dir.file("pier.db"));
    const { current } = rotationDirectories(dir.path);
    const firstCa = openCaIn(current);
    if (!firstCa) throw new Error("ensureBuiltInTls made no CA");
    const deviceCa = await DeviceCa.open({ store, authorities: { issuing: firstCa, trusted: [firstCa] }, crlUrl: () => Promise.resolve(undefined) });
    const logs: string[] = [];
    const log = (level: string, message: string) => logs.push(`${level}: ${message}`);
    // Stand-ins for the edge sessions and the tunnel broker (named as such): what was closed, and why.
    const disconnected: { environmentId: number; code: string }[] = [];
    const sessionsStandIn = {
      disconnect: (environmentId: number, code: string) => disconnected.push({ environmentId, code }),
      isConnected: () => false,
      push: () => false,
    };
    const tunnelsStandIn = { closeEnvironment: () => 0 };
    const runtime = await startRevocation({ dataDir: dir.path, store, sessions: sessionsStandIn, tunnels: tunnelsStandIn, deviceCa, log });
    try {
      const rotation = await CaRotation.open({
        dataDir: dir.path,
        store,
        applyAuthorities: (authorities) => deviceCa.setAuthorities(authorities),
        sessions: sessionsStandIn,
        moveServerCertificate: async (ca) => {
          await reissueServerCertificate(dir.path, ca);
        },
        log,
      });
      await rotation.start({ windowSeconds: 60 });
      const environment = await store.environments.create({ name: "moved", type: "edge-agent", edgeId: "edge-moved", userTrusted: true });
      const { publicKey } = await generateKeyPair("ecdsa-p256");
      const issued = await deviceCa.issue({ environmentId: environment.id, edgeId: "edge-moved", publicKey, reason: "renewal" });
      const serial = issued.record.serial;
      await rotation.finish({ force: true });

      // Preconditions: DATA/ca is now the CA that issued the device's certificate, the old one is retired.
      const survivor = openCaIn(current);
      expect(survivor && caFingerprint(survivor)).toBe(issued.record.caSpkiSha256);
      expect(readdirSync(dir.path).filter((name) => name.startsWith("ca-retired-"))).toHaveLength(1);
      expect(deviceCa.trusted.map((ca) => ca.dir)).toEqual([current]);
      expect(disconnected).toEqual([]);

      // What `pier ca revoke SERIAL --dir DATA/ca` does: the unindexed serial lands in DATA/ca/ca-state.json.
      const record = await CertificateAuthority.open(join(dir.path, "ca")).revoke(serial, "keyCompromise");
      expect("external" in record).toBe(true);
      expect(await until(() => disconnected.length > 0)).toBe(true);
      expect(disconnected).toEqual([{ environmentId: environment.id, code: "revoked" }]);
      expect((await store.certificates.get(serial))?.revokedAt).not.toBeNull();
      expect(logs.some((line) => line.includes("ca-state.json changed") && line.includes(serial))).toBe(true);
    } finally {
      runtime.close();
    }
  });
});
