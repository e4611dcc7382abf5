import { describe, expect, it } from "vitest";
import { PeerCa, type PeerCaVault } from "./peer-ca.ts";

/**
 * A vault in memory with the database's guarantees (one transaction per write, one lock) whose
 * first look reads the certificate before, and the key after, another replica's write (held
 * until `release`): what two replicas starting together met in cluster-routing.test.ts, ordered
 * here so it happens every time.
 */
function racingVault(): { vault: PeerCaVault; heldRead: Promise<void>; release: () => void } {
  const files = new Map<string, Buffer>();
  let locked = Promise.resolve();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let announceHeld!: () => void;
  const heldRead = new Promise<void>((resolve) => (announceHeld = resolve));
  let firstLook = true;
  const vault: PeerCaVault = {
    async read(name) {
      if (!firstLook) return files.get(name) ?? null;
      // The first look reads the certificate now and the key after the other replica's write.
      if (name.endsWith(".crt")) {
        const value = files.get(name) ?? null;
        announceHeld();
        await gate;
        return value;
      }
      firstLook = false;
      await gate;
      return files.get(name) ?? null;
    },
    write(written) {
      for (const file of written) files.set(file.name, file.content);
      return Promise.resolve();
    },
    withLock(fn) {
      const run = locked.then(fn);
      locked = run.then(
        () => undefined,
        () => undefined,
      );
      return run;
    },
  };
  return { vault, heldRead, release };
}

describe("PeerCa.openOrCreate", () => {
  it("a replica that reads the files while another creates them finds the new CA instead of failing as incomplete", async () => {
    const { vault, heldRead, release } = racingVault();
    // The first replica's certificate read saw nothing (held); meanwhile the second creates both files.
    const first = PeerCa.openOrCreate(vault);
    await heldRead;
    const second = await PeerCa.openOrCreate(vault);
    expect(await vault.read("peer/ca.key")).not.toBeNull();
    release();
    const found = await first;
    expect(found.certificatePem).toBe(second.certificatePem);
  });
});
