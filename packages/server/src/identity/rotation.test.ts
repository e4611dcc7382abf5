import { createPublicKey } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { type CertificateAuthority, generateKeyPair, loadPrivateKey, parseCertificate, parsePem, spkiSha256 } from "@pier/pki";
import type { ServerMessage } from "@pier/protocol";
import { ensureBuiltInTls, reissueServerCertificate } from "../bootstrap/built-in-tls.ts";
import { ServerError } from "../errors.ts";
import { SqliteStore } from "../store/index.ts";
import { tempDir } from "../store/temp-dir.testkit.ts";
import { type CaRotationOptions, CaRotation, type RotationAuthorities } from "./rotation.ts";
import { caFingerprint, openCaIn, rotationDirectories } from "./rotation-directories.ts";

/**
 * Real CAs in a temporary data directory, a real SqliteStore, and a stand-in for the edge
 * sessions (named as such): which devices are online, and the frames pushed to them.
 */
async function rotationFixture(devices: readonly { name: string; online: boolean }[]) {
  const dir = tempDir("rotation");
  const tls = await ensureBuiltInTls(dir.path, ["localhost", "127.0.0.1"]);
  const store = await SqliteStore.open(dir.file("pier.db"));
  const online = new Set<number>();
  const pushed: { environmentId: number; message: ServerMessage }[] = [];
  const disconnected: { environmentId: number; code: string }[] = [];
  const applied: RotationAuthorities[] = [];
  const logs: string[] = [];
  const sessionsStandIn: CaRotationOptions["sessions"] = {
    isConnected: (id) => online.has(id),
    push: (id, message) => {
      if (!online.has(id)) return false;
      pushed.push({ environmentId: id, message });
      return true;
    },
    disconnect: (id, code) => {
      online.delete(id);
      disconnected.push({ environmentId: id, code });
    },
  };
  const options: CaRotationOptions = {
    dataDir: dir.path,
    store,
    applyAuthorities: (authorities) => {
      applied.push(authorities);
    },
    sessions: sessionsStandIn,
    moveServerCertificate: async (ca) => {
      await reissueServerCertificate(dir.path, ca);
    },
    log: (level, message) => logs.push(`${level}: ${message}`),
  };
  const ids: number[] = [];
  /** Records a certificate issued to a device; `presented`: its session now shows it (the hello's facts). */
  const issue = async (environmentId: number, ca: CertificateAuthority, at = Date.now(), presented = true) => {
    const environment = await store.environments.get(environmentId);
    const { publicKey } = await generateKeyPair("ecdsa-p256");
    const issued = await ca.issueForKey(publicKey, { profile: "client", commonName: environment?.edgeId ?? "x", days: 1 });
    const info = parseCertificate(parsePem(issued.certificatePem)[0]?.der ?? Buffer.alloc(0));
    await store.certificates.insert({
      serial: info.serialNumber,
      environmentId,
      edgeId: environment?.edgeId ?? "x",
      subject: info.subjectText,
      issuer: info.issuerText,
      caSpkiSha256: caFingerprint(ca),
      spkiSha256: spkiSha256(publicKey),
      notBefore: info.notBefore,
      notAfter: info.notAfter,
      issuedAt: new Date(at),
      reason: "renewal",
      revokedAt: null,
      revocationReason: null,
      certificatePem: issued.certificatePem,
    });
    if (presented) {
      await store.environments.update(environmentId, {
        clientCertificate: { subject: info.subjectText, issuer: info.issuerText, serialNumber: info.serialNumber, fingerprintSha256: info.fingerprintSha256, notAfter: info.notAfter },
      });
    }
    return info;
  };
  const firstCa = openCaIn(rotationDirectories(dir.path).current);
  if (!firstCa) throw new Error("ensureBuiltInTls made no CA");
  for (const device of devices) {
    const environment = await store.environments.create({ name: device.name, type: "edge-agent", edgeId: `edge-${device.name}`, userTrusted: true });
    ids.push(environment.id);
    if (device.online) online.add(environment.id);
    await issue(environment.id, firstCa, Date.now() - 60_000);
  }
  const serverKeySpki = () => spkiSha256(createPublicKey(loadPrivateKey(readFileSync(tls.key))));
  const serverCertificate = () => parseCertificate(parsePem(readFileSync(tls.certificate))[0]?.der ?? Buffer.alloc(0));
  return {
    dir,
    store,
    ids,
    online,
    pushed,
    disconnected,
    applied,
    logs,
    options,
    firstCa,
    issue,
    serverKeySpki,
    serverCertificate,
    async [Symbol.asyncDispose]() {
      await store.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

const issuedBy = (certificate: ReturnType<typeof parseCertificate>, ca: CertificateAuthority) => certificate.x509.checkIssued(ca.certificate.x509) && certificate.x509.verify(ca.certificate.publicKey);

async function conflictOf(work: Promise<unknown>): Promise<ServerError> {
  const error = await work.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof ServerError)) throw new Error(`expected a ServerError, got ${String(error)}`);
  return error;
}

describe("CaRotation: start and progress", () => {
  it("creates DATA/ca-next, issues from it while trusting both, and tells only online devices of the old CA to renew within the window", async () => {
    await using f = await rotationFixture([
      { name: "a", online: true },
      { name: "b", online: true },
      { name: "c", online: false },
    ]);
    const rotation = await CaRotation.open(f.options);
    const before = await rotation.status();
    expect(before).toMatchObject({ phase: "standby", devicesTotal: 3, devicesMoved: 3, stragglers: [], toCa: undefined });
    expect(existsSync(rotationDirectories(f.dir.path).next)).toBe(false);

    const started = await rotation.start({ windowSeconds: 120 });

    const next = openCaIn(rotationDirectories(f.dir.path).next);
    expect(next).toBeDefined();
    expect(started).toMatchObject({ phase: "rotating", windowSeconds: 120, devicesTotal: 3, devicesMoved: 0, devicesOnline: 2 });
    expect(caFingerprint(started.toCa ?? f.firstCa)).toBe(caFingerprint(next ?? f.firstCa));
    const authorities = f.applied.at(-1);
    expect(authorities && caFingerprint(authorities.issuing)).toBe(caFingerprint(next ?? f.firstCa));
    expect(authorities?.trusted.map(caFingerprint)).toEqual([caFingerprint(f.firstCa), caFingerprint(next ?? f.firstCa)]);
    // Online devices a and b, not the offline c.
    expect(f.pushed.map((p) => p.environmentId)).toEqual([f.ids[0], f.ids[1]]);
    const frame = f.pushed[0]?.message;
    expect(frame).toMatchObject({ type: "renew", reason: "rotation", withinSeconds: 120 });
    const bundle = frame?.type === "renew" ? (frame.trustBundle ?? "") : "";
    expect(parsePem(bundle).map((block) => parseCertificate(block.der).fingerprintSha256)).toEqual([f.firstCa.certificate.fingerprintSha256, next?.certificate.fingerprintSha256]);
    expect((await f.store.audit.list()).map((event) => event.kind)).toContain("rotation_started");
    expect((await f.store.rotation.get())?.phase).toBe("rotating");
  });

  it("counts a device as moved once its newest unrevoked certificate comes from the new CA", async () => {
    await using f = await rotationFixture([
      { name: "a", online: true },
      { name: "b", online: false },
    ]);
    const rotation = await CaRotation.open(f.options);
    const started = await rotation.start();
    expect(started).toMatchObject({ devicesMoved: 0, stragglers: [{ name: "a", online: true }, { name: "b", online: false }] });

    await f.issue(f.ids[0] ?? 0, started.toCa ?? f.firstCa);

    const progress = await rotation.status();
    expect(progress).toMatchObject({ devicesTotal: 2, devicesMoved: 1, stragglers: [{ name: "b", edgeId: "edge-b", online: false }] });
  });

  it("counts an online device as moved only once its session presents the new certificate (a finish would strand it mid-swap)", async () => {
    await using f = await rotationFixture([{ name: "a", online: true }]);
    const rotation = await CaRotation.open(f.options);
    const started = await rotation.start();
    const renewed = await f.issue(f.ids[0] ?? 0, started.toCa ?? f.firstCa, Date.now(), false);

    const midSwap = await rotation.status();
    expect(midSwap).toMatchObject({ devicesMoved: 0, stragglers: [{ name: "a", online: true, serial: renewed.serialNumber }] });
    expect((await conflictOf(rotation.finish())).code).toBe("conflict");

    await f.store.environments.update(f.ids[0] ?? 0, {
      clientCertificate: { subject: renewed.subjectText, issuer: renewed.issuerText, serialNumber: renewed.serialNumber, fingerprintSha256: renewed.fingerprintSha256, notAfter: renewed.notAfter },
    });
    expect(await rotation.status()).toMatchObject({ devicesMoved: 1, stragglers: [] });
  });

  it("refuses a window outside 0…86,400 s and a second start", async () => {
    await using f = await rotationFixture([{ name: "a", online: true }]);
    const rotation = await CaRotation.open(f.options);
    expect((await conflictOf(rotation.start({ windowSeconds: 86_401 }))).code).toBe("bad_request");
    expect((await rotation.status()).phase).toBe("standby");
    await rotation.start({ windowSeconds: 0 });
    const again = await conflictOf(rotation.start());
    expect(again.code).toBe("conflict");
    expect(again.message).toContain("already under way");
  });

  it("tells a device that connects later what is left of the window, at least a minute, and leaves moved devices alone", async () => {
    await using f = await rotationFixture([
      { name: "a", online: false },
      { name: "b", online: false },
    ]);
    let now = Date.now();
    const rotation = await CaRotation.open({ ...f.options, now: () => now });
    const started = await rotation.start({ windowSeconds: 600 });
    expect(f.pushed).toEqual([]);
    await f.issue(f.ids[1] ?? 0, started.toCa ?? f.firstCa);
    now += 100_000;
    f.online.add(f.ids[0] ?? 0);
    f.online.add(f.ids[1] ?? 0);

    await rotation.sessionOpened(f.ids[0] ?? 0);
    await rotation.sessionOpened(f.ids[1] ?? 0);

    expect(f.pushed).toMatchObject([{ environmentId: f.ids[0], message: { type: "renew", reason: "rotation", withinSeconds: 500 } }]);
    now += 600_000;
    await rotation.sessionOpened(f.ids[0] ?? 0);
    expect(f.pushed.at(-1)?.message).toMatchObject({ withinSeconds: 60 });
  });
});

describe("CaRotation: finish", () => {
  it("refuses (409, listing them) while an online device has not moved; forced, retires the old CA, moves the server certificate for the same key and lists who was left behind", async () => {
    await using f = await rotationFixture([
      { name: "a", online: true },
      { name: "b", online: true },
      { name: "c", online: false },
    ]);
    const rotation = await CaRotation.open(f.options);
    const started = await rotation.start({ windowSeconds: 1 });
    const next = started.toCa ?? f.firstCa;
    const moved = await f.issue(f.ids[0] ?? 0, next);
    const leftBehind = await f.issue(f.ids[2] ?? 0, f.firstCa);
    const keyBefore = f.serverKeySpki();
    expect(rotation.retiredAuthorityOf(leftBehind.x509)).toBeUndefined();
    expect(issuedBy(f.serverCertificate(), f.firstCa)).toBe(true);

    const refused = await conflictOf(rotation.finish());
    expect(refused.code).toBe("conflict");
    expect(refused.message).toContain("b (edge-b)");
    expect(refused.details).toMatchObject({ stragglers: [{ Name: "b", EdgeID: "edge-b" }] });
    expect((await rotation.status()).phase).toBe("rotating");
    expect(existsSync(rotationDirectories(f.dir.path).next)).toBe(true);

    const finished = await rotation.finish({ force: true });

    expect(finished.stragglers.map((s) => [s.name, s.online])).toEqual([
      ["b", true],
      ["c", false],
    ]);
    expect(finished.status).toMatchObject({ phase: "standby", toCa: undefined });
    const dirs = rotationDirectories(f.dir.path);
    expect(existsSync(dirs.next)).toBe(false);
    expect(caFingerprint(openCaIn(dirs.current) ?? f.firstCa)).toBe(caFingerprint(next));
    const retired = readdirSync(f.dir.path).filter((name) => name.startsWith("ca-retired-"));
    expect(retired).toHaveLength(1);
    expect(finished.retiredDirectory).toBe(join(f.dir.path, retired[0] ?? ""));
    expect(caFingerprint(openCaIn(join(f.dir.path, retired[0] ?? "")) ?? next)).toBe(caFingerprint(f.firstCa));
    // The server certificate: from the new CA, same key (the EDGE_KEY pin holds).
    expect(issuedBy(f.serverCertificate(), next)).toBe(true);
    expect(f.serverKeySpki()).toBe(keyBefore);
    expect(spkiSha256(f.serverCertificate().publicKey)).toBe(keyBefore);
    expect(f.applied.at(-1)?.trusted.map(caFingerprint)).toEqual([caFingerprint(next)]);
    // The online straggler's session (authenticated by a CA no longer trusted) is closed.
    expect(f.disconnected).toEqual([{ environmentId: f.ids[1], code: "ca_retired" }]);
    // A device that slept through it is recognised by the retired CA (never trusted again).
    expect(caFingerprint(rotation.retiredAuthorityOf(leftBehind.x509) ?? next)).toBe(caFingerprint(f.firstCa));
    expect(rotation.retiredAuthorityOf(moved.x509)).toBeUndefined();
    const audit = (await f.store.audit.list()).find((event) => event.kind === "rotation_finished");
    expect(audit?.detail).toMatchObject({ forced: true, stragglers: ["edge-b", "edge-c"] });
  });

  it("finishes without force once every online device moved, listing the offline ones", async () => {
    await using f = await rotationFixture([
      { name: "a", online: true },
      { name: "c", online: false },
    ]);
    const rotation = await CaRotation.open(f.options);
    const started = await rotation.start();
    await f.issue(f.ids[0] ?? 0, started.toCa ?? f.firstCa);
    const finished = await rotation.finish();
    expect(finished.stragglers).toMatchObject([{ name: "c", online: false }]);
    expect(f.disconnected).toEqual([]);
    expect((await conflictOf(rotation.finish())).message).toContain("no CA rotation to finish");
  });
});

describe("CaRotation: rollback", () => {
  it("reverses the direction: the old CA issues again, moved devices are told to renew, finishing retires the new CA and leaves DATA/ca and the server certificate alone", async () => {
    await using f = await rotationFixture([
      { name: "a", online: true },
      { name: "b", online: true },
    ]);
    const rotation = await CaRotation.open(f.options);
    expect((await conflictOf(rotation.rollback())).message).toContain("no CA rotation to roll back");
    const started = await rotation.start({ windowSeconds: 30 });
    const next = started.toCa ?? f.firstCa;
    await f.issue(f.ids[0] ?? 0, next);
    f.pushed.length = 0;
    const serverBefore = f.serverCertificate().fingerprintSha256;

    const rolledBack = await rotation.rollback();

    expect(rolledBack).toMatchObject({ phase: "rolling_back", devicesTotal: 2, devicesMoved: 1, stragglers: [{ name: "a" }] });
    expect(caFingerprint(rolledBack.fromCa)).toBe(caFingerprint(next));
    expect(caFingerprint(f.applied.at(-1)?.issuing ?? next)).toBe(caFingerprint(f.firstCa));
    expect(f.pushed).toMatchObject([{ environmentId: f.ids[0], message: { type: "renew", reason: "rollback", withinSeconds: 30 } }]);
    expect((await conflictOf(rotation.rollback())).code).toBe("conflict");

    await f.issue(f.ids[0] ?? 0, f.firstCa);
    const finished = await rotation.finish();

    expect(finished.stragglers).toEqual([]);
    const dirs = rotationDirectories(f.dir.path);
    expect(caFingerprint(openCaIn(dirs.current) ?? next)).toBe(caFingerprint(f.firstCa));
    expect(existsSync(dirs.next)).toBe(false);
    expect(caFingerprint(openCaIn(finished.retiredDirectory ?? "") ?? f.firstCa)).toBe(caFingerprint(next));
    expect(f.serverCertificate().fingerprintSha256).toBe(serverBefore);
    expect(f.applied.at(-1)?.trusted.map(caFingerprint)).toEqual([caFingerprint(f.firstCa)]);
  });
});

describe("CaRotation: restart", () => {
  it("resumes a rotation from the database and the directories", async () => {
    await using f = await rotationFixture([{ name: "a", online: true }]);
    const first = await CaRotation.open(f.options);
    const started = await first.start({ windowSeconds: 300 });

    const resumed = await CaRotation.open(f.options);

    expect(await resumed.status()).toMatchObject({ phase: "rotating", windowSeconds: 300, devicesMoved: 0 });
    expect(f.applied.at(-1)?.trusted.map(caFingerprint)).toEqual([caFingerprint(f.firstCa), caFingerprint(started.toCa ?? f.firstCa)]);
    expect(caFingerprint(f.applied.at(-1)?.issuing ?? f.firstCa)).toBe(caFingerprint(started.toCa ?? f.firstCa));
  });

  it("completes a finish that crashed between its renames (DATA/ca gone): the built-in TLS does not make a fresh CA, the rotation ends in standby", async () => {
    await using f = await rotationFixture([{ name: "a", online: false }]);
    const rotation = await CaRotation.open(f.options);
    const started = await rotation.start();
    const next = started.toCa ?? f.firstCa;
    const record = await f.store.rotation.get();
    if (!record) throw new Error("no rotation row");
    // The crash: phase written, the old CA moved aside, the new one not yet in place.
    await f.store.rotation.put({ ...record, phase: "finishing" });
    const dirs = rotationDirectories(f.dir.path);
    renameSync(dirs.current, join(f.dir.path, "ca-retired-crash"));
    expect(existsSync(dirs.current)).toBe(false);

    await ensureBuiltInTls(f.dir.path, ["localhost", "127.0.0.1"]);
    const resumed = await CaRotation.open(f.options);

    expect(caFingerprint(openCaIn(dirs.current) ?? f.firstCa)).toBe(caFingerprint(next));
    expect(existsSync(dirs.next)).toBe(false);
    expect(issuedBy(f.serverCertificate(), next)).toBe(true);
    expect(await resumed.status()).toMatchObject({ phase: "standby" });
    expect((await f.store.rotation.get())?.phase).toBe("standby");
  });

  it("completes a finish that crashed before its renames", async () => {
    await using f = await rotationFixture([{ name: "a", online: false }]);
    const rotation = await CaRotation.open(f.options);
    const started = await rotation.start();
    const record = await f.store.rotation.get();
    if (!record) throw new Error("no rotation row");
    await f.store.rotation.put({ ...record, phase: "finishing" });

    await CaRotation.open(f.options);

    const dirs = rotationDirectories(f.dir.path);
    expect(caFingerprint(openCaIn(dirs.current) ?? f.firstCa)).toBe(caFingerprint(started.toCa ?? f.firstCa));
    expect(readdirSync(f.dir.path).filter((name) => name.startsWith("ca-retired-"))).toHaveLength(1);
    expect(issuedBy(f.serverCertificate(), started.toCa ?? f.firstCa)).toBe(true);
  });

  it("moves no directory when the CA that should survive a finish is in neither place", async () => {
    await using f = await rotationFixture([{ name: "a", online: false }]);
    await (await CaRotation.open(f.options)).start();
    const record = await f.store.rotation.get();
    if (!record) throw new Error("no rotation row");
    await f.store.rotation.put({ ...record, phase: "finishing", toCa: "0".repeat(64) });

    const refused = await conflictOf(CaRotation.open(f.options));

    expect(refused.message).toContain("neither");
    const dirs = rotationDirectories(f.dir.path);
    expect(caFingerprint(openCaIn(dirs.current) ?? f.firstCa)).toBe(caFingerprint(f.firstCa));
    expect(existsSync(join(dirs.next, "ca.crt"))).toBe(true);
    expect(readdirSync(f.dir.path).filter((name) => name.startsWith("ca-retired-"))).toEqual([]);
  });

  it("refuses to resume when a rotation's CA directory is missing", async () => {
    await using f = await rotationFixture([{ name: "a", online: false }]);
    await (await CaRotation.open(f.options)).start();
    renameSync(rotationDirectories(f.dir.path).next, join(f.dir.path, "elsewhere"));
    const refused = await conflictOf(CaRotation.open(f.options));
    expect(refused.message).toContain("do not hold its two CAs");
  });
});

describe("CaRotation.follow: a second replica (its own --data, the same store) follows another's rotation", () => {
  it("after a start it issues from the new CA, trusts both and tells its own online straggler to renew; after the finish it renames, moves its server certificate and closes that session with ca_retired", async () => {
    // Replica A: the fixture; the device is offline there (its session is on B), so A's finish is not refused.
    await using a = await rotationFixture([{ name: "on-b", online: false }]);
    await using dirB = tempDir("rotation-b");
    for (const name of ["ca.crt", "ca.key", "ca-state.json"]) copyInto(join(a.dir.path, "ca", name), join(dirB.path, "ca", name));
    mkdirSync(join(dirB.path, "ca", "issued"), { recursive: true });
    const deviceId = a.ids[0] ?? 0;
    const onlineB = new Set([deviceId]);
    const pushedB: ServerMessage[] = [];
    const disconnectedB: string[] = [];
    const appliedB: RotationAuthorities[] = [];
    const movedB: string[] = [];
    const optionsB: CaRotationOptions = {
      ...a.options,
      dataDir: dirB.path,
      applyAuthorities: (authorities) => void appliedB.push(authorities),
      sessions: {
        isConnected: (id) => onlineB.has(id),
        push: (id, message) => onlineB.has(id) && pushedB.push(message) > 0,
        disconnect: (id, code) => {
          onlineB.delete(id);
          disconnectedB.push(code);
        },
      },
      moveServerCertificate: (ca) => Promise.resolve(void movedB.push(caFingerprint(ca))),
      // Stand-in for the cluster files (cluster/rotation-files.ts): copies A's DATA/ca-next/.
      fetchNext: () => {
        for (const name of ["ca.crt", "ca.key", "ca-state.json"]) copyInto(join(a.dir.path, "ca-next", name), join(dirB.path, "ca-next", name));
        return Promise.resolve();
      },
    };
    const rotationA = await CaRotation.open(a.options);
    const rotationB = await CaRotation.open(optionsB);
    const oldCa = caFingerprint(a.firstCa);
    expect(caFingerprint(rotationB.authorities()?.issuing ?? a.firstCa)).toBe(oldCa);

    await rotationA.start({ windowSeconds: 60 });
    const newCa = caFingerprint(openCaIn(rotationDirectories(a.dir.path).next) ?? a.firstCa);
    expect(newCa).not.toBe(oldCa);
    // Before following, B still issues from the old CA alone.
    expect(rotationB.authorities()?.trusted.map(caFingerprint)).toEqual([oldCa]);
    await rotationB.follow();
    expect(caFingerprint(rotationB.authorities()?.issuing ?? a.firstCa)).toBe(newCa);
    expect(appliedB.at(-1)?.trusted.map(caFingerprint)).toEqual([oldCa, newCa]);
    expect(pushedB).toMatchObject([{ type: "renew", reason: "rotation" }]);
    expect((pushedB[0] as { withinSeconds: number }).withinSeconds).toBeLessThanOrEqual(60);

    // With the session directory (replicas), A counts the device online on B: a finish is refused while it has not moved.
    const withDirectory = await CaRotation.open({ ...a.options, onlineAnywhere: (ids) => Promise.resolve(new Set(ids.filter((id) => onlineB.has(id)))) });
    expect((await rotationA.status()).stragglers).toMatchObject([{ environmentId: deviceId, online: false }]);
    expect((await withDirectory.status()).stragglers).toMatchObject([{ environmentId: deviceId, online: true }]);
    await expect(withDirectory.finish()).rejects.toMatchObject({ code: "conflict" });

    await rotationA.finish();
    expect(disconnectedB).toEqual([]);
    await rotationB.follow();
    expect(disconnectedB).toEqual(["ca_retired"]);
    expect(movedB).toEqual([newCa]);
    expect(appliedB.at(-1)?.trusted.map(caFingerprint)).toEqual([newCa]);
    expect(caFingerprint(openCaIn(rotationDirectories(dirB.path).current) ?? a.firstCa)).toBe(newCa);
    expect(existsSync(rotationDirectories(dirB.path).next)).toBe(false);
    expect(readdirSync(dirB.path).filter((name) => name.startsWith("ca-retired-"))).toHaveLength(1);
    // Following again changes nothing.
    await rotationB.follow();
    expect(movedB).toHaveLength(1);
    expect((await rotationB.status()).phase).toBe("standby");
  });
});

function copyInto(from: string, to: string): void {
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
}

