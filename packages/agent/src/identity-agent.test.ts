import { X509Certificate } from "node:crypto";
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, unlinkSync, writeSync } from "node:fs";
import { createSecureServer, type Http2SecureServer, type ServerHttp2Stream } from "node:http2";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { afterEach, describe, expect, it } from "vitest";
import { edgePaths, encodeEdgeKey, encodeFrame, type CertificateGrant, type Hello, type ServerMessage } from "@pier/protocol";
import { parseCsr, parsePem } from "@pier/pki";
import { until } from "./docker/docker-cli.testkit.ts";
import { readText } from "./docker/h2c-server.testkit.ts";
import { testCa, type TestCa } from "./identity/test-ca.testkit.ts";
import { type RunningTestAgent, runTestAgent } from "./running-agent.testkit.ts";
import { serverCertificate } from "./server-certificate.testkit.ts";

/** One session as the stand-in server saw it. */
interface SeenSession {
  readonly at: number;
  readonly hello: Hello;
  /** Serial of the client certificate the connection presented, if any. */
  readonly serial: string | undefined;
  readonly stream: ServerHttp2Stream;
  endedAt?: number;
  /** When the server last heard a heartbeat on it. */
  heartbeats: number[];
}

/**
 * A stand-in for the Pier server's edge routes (the real one is H2's and H4's; the end-to-end
 * test drives it): HTTP/2 over TLS asking for an optional client certificate from `ca`, real
 * certificates issued for the CSRs the agent sends. Each behaviour is a callback.
 */
async function standInServer(ca: TestCa, behaviour: {
  onSession(session: SeenSession, all: SeenSession[]): void;
  onRenew?(csrPem: string, stream: ServerHttp2Stream, session: SeenSession | undefined): void;
}) {
  const { cert, key, fingerprint } = serverCertificate();
  const sessions: SeenSession[] = [];
  const server: Http2SecureServer = createSecureServer({ cert, key, requestCert: true, rejectUnauthorized: false, ca: ca.pem });
  server.on("stream", (stream, headers) => {
    stream.on("error", () => undefined);
    const socket = stream.session?.socket as TLSSocket | undefined;
    const peer = socket?.getPeerX509Certificate();
    const serial = peer?.serialNumber.toLowerCase();
    const path = String(headers[":path"]);
    if (path === edgePaths.session) {
      let buffered = "";
      let seen: SeenSession | undefined;
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        buffered += chunk;
        let newline: number;
        while ((newline = buffered.indexOf("\n")) >= 0) {
          const frame = JSON.parse(buffered.slice(0, newline)) as { type: string };
          buffered = buffered.slice(newline + 1);
          if (frame.type === "hello") {
            seen = { at: Date.now(), hello: frame as Hello, serial, stream, heartbeats: [] };
            sessions.push(seen);
            stream.respond({ ":status": 200, "content-type": "application/x-ndjson" });
            behaviour.onSession(seen, sessions);
          } else if (frame.type === "heartbeat" && seen) {
            seen.heartbeats.push(Date.now());
            stream.write(encodeFrame({ type: "ack", seq: (frame as unknown as { seq: number }).seq }));
          }
        }
      });
      stream.on("close", () => {
        if (seen) seen.endedAt = Date.now();
      });
    } else if (path === edgePaths.renew && behaviour.onRenew) {
      void readText(stream).then((body) => behaviour.onRenew?.((JSON.parse(body) as { csr: string }).csr, stream, sessions.find((s) => s.serial === serial && s.endedAt === undefined)));
    } else {
      stream.respond({ ":status": 404 }, { endStream: true });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, sessions, address, fingerprint };
}

/** The CSR's key, as the real server reads it (self-signature checked). */
function csrKey(csrPem: string) {
  const [block] = parsePem(Buffer.from(csrPem));
  const info = parseCsr(block!.der);
  expect(info.signatureValid).toBe(true);
  return info.publicKey;
}

function send(stream: ServerHttp2Stream, message: ServerMessage): void {
  if (!stream.closed && !stream.destroyed) stream.write(encodeFrame(message));
}

/** Answers a renewal stream with JSON (a grant, or an error with `retry-after`). */
function respondJson(stream: ServerHttp2Stream, status: number, body: unknown, retryAfterSeconds?: number): void {
  stream.respond({ ":status": status, "content-type": "application/json", ...(retryAfterSeconds === undefined ? {} : { "retry-after": String(retryAfterSeconds) }) });
  stream.end(JSON.stringify(body));
}

/** Grants certificates from `ca` for the agent's CSRs, as the server would; records each serial and expiry in order. */
function certificateIssuer(ca: TestCa, lifetimeMs: number) {
  const issued: string[] = [];
  const notAfters: number[] = [];
  const grantFor = (csrPem: string): CertificateGrant => {
    const grant = ca.grant(csrKey(csrPem), { edgeId: "edge-id-1", lifetimeMs });
    const certificate = new X509Certificate(grant.certificate);
    issued.push(certificate.serialNumber.toLowerCase());
    notAfters.push(Date.parse(certificate.validTo));
    return grant;
  };
  return { issued, notAfters, grantFor };
}

/** A session without a client certificate is an enrollment: welcome it as waiting and deliver a certificate at once. True when it was one. */
function enrollIfNew(session: SeenSession, grantFor: (csrPem: string) => CertificateGrant): boolean {
  if (session.serial !== undefined) return false;
  send(session.stream, welcome("waiting"));
  send(session.stream, { type: "certificate", grant: grantFor(session.hello.csr!) });
  return true;
}

const welcome = (status: "waiting" | "associated", checkinIntervalSeconds = 1): ServerMessage => ({ type: "welcome", environmentId: 3, status, checkinIntervalSeconds });

let cleanup: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

/** Runs an agent against `address` in a fresh data directory (no Docker); `extraEnv` adds to or overrides its environment (`EDGE_KEY`, `PIER_EDGE_MODE`). */
function startAgent(address: string, fingerprint: string, extraEnv: Record<string, string> = {}): RunningTestAgent {
  const dataDir = mkdtempSync(join(tmpdir(), "pier-agent-identity-"));
  const agent = runTestAgent({ dataDir, address, fingerprint, environmentId: 0, env: extraEnv });
  cleanup.push(async () => {
    await agent[Symbol.asyncDispose]();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return agent;
}

describe("agent identity in Pier's built-in flow", () => {
  it("enrolls with a CSR, reconnects at once with the issued certificate, and renews it make-before-break with no heartbeat gap", async () => {
    const ca = testCa();
    const { issued, notAfters, grantFor } = certificateIssuer(ca, 4_500);
    const stand = await standInServer(ca, {
      onSession(session, all) {
        // As the server does: the newest session of a device replaces the older one.
        for (const older of all) if (older !== session && older.endedAt === undefined) send(older.stream, { type: "refused", code: "replaced", message: "another connection presented this device's identity from 127.0.0.1; this session was closed" });
        if (session.serial === undefined) {
          send(session.stream, welcome("waiting"));
          setTimeout(() => send(session.stream, { type: "certificate", grant: grantFor(session.hello.csr!) }), 100);
        } else {
          send(session.stream, welcome("associated"));
        }
      },
      onRenew(csrPem, stream, session) {
        expect(session?.serial).toBeDefined();
        if (issued.length >= 3) {
          // Two renewals are enough: later ones are postponed, so the files settle for the checks.
          respondJson(stream, 503, { code: "unavailable", message: "Enough renewals for this test." }, 60);
          return;
        }
        respondJson(stream, 200, grantFor(csrPem));
      },
    });
    cleanup.push(() => void stand.server.close());
    const { log, dataDir } = startAgent(stand.address, stand.fingerprint);

    // Enrollment: the first hello carries a CSR and no certificate; the key stays in the data dir.
    const first = await until("the first session", () => stand.sessions[0]);
    expect(first.serial).toBeUndefined();
    expect(first.hello.csr).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----/);
    const fingerprintLine = log.at("info").find((line) => line.includes("key fingerprint (SPKI SHA-256)"));
    expect(fingerprintLine).toMatch(/[0-9a-f]{64}/);
    // Issued: the agent reconnects at once (no backoff) presenting the certificate, without a CSR.
    const second = await until("a session with the issued certificate", () => stand.sessions.find((s) => s.serial !== undefined && s.serial === issued[0]));
    expect(second.hello.csr).toBeUndefined();
    expect(second.at - first.at).toBeLessThan(1000);
    // Make before break here too: the enrolling session stays open until the certificate's one
    // said hello, so an associated device stays reachable (the Docker proxy works at once).
    await until("the enrolling session closed", () => first.endedAt);
    expect(first.endedAt).toBeGreaterThanOrEqual(second.at);
    expect(statSync(join(dataDir, "identity", "current.key")).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, "identity")).mode & 0o777).toBe(0o700);

    // Two renewals, each at 2/3 (+ ≤ 10 %) of the 4.5 s lifetime: a new session with the new
    // certificate opens while the old one runs, and only then does the old one close.
    const third = await until("the first renewed session", () => stand.sessions.find((s) => s.serial !== undefined && s.serial === issued[1]), 10_000);
    const fourth = await until("the second renewed session", () => stand.sessions.find((s) => s.serial !== undefined && s.serial === issued[2]), 10_000);
    // Not before ⅔ of the first certificate's life as the agent received it (after the first hello),
    // and before it expired.
    expect(third.at).toBeGreaterThanOrEqual(first.at / 3 + (2 / 3) * notAfters[0]! - 100);
    expect(third.at).toBeLessThan(notAfters[0]!);
    expect(second.endedAt === undefined || second.endedAt >= third.at).toBe(true);
    expect(third.endedAt === undefined || third.endedAt >= fourth.at).toBe(true);
    await until("the old session closed", () => third.endedAt);
    await until("heartbeats across the sessions", () => (stand.sessions.slice(1).reduce((sum, session) => sum + session.heartbeats.length, 0) >= 4 ? true : undefined));
    // Heartbeats (1 s interval) never stopped: no gap of two intervals across the sessions.
    const beats = stand.sessions.slice(1).flatMap((s) => s.heartbeats).sort((a, b) => a - b);
    const gaps = beats.slice(1).map((beat, i) => beat - beats[i]!);
    expect(Math.max(...gaps)).toBeLessThan(2000);
    // The files: current = newest, previous = the one before; no leftover next.*.
    await until("the promotion", () => (new X509Certificate(readFileSync(join(dataDir, "identity", "current.crt"))).serialNumber.toLowerCase() === issued[2] ? true : undefined));
    expect(new X509Certificate(readFileSync(join(dataDir, "identity", "previous.crt"))).serialNumber.toLowerCase()).toBe(issued[1]);
    expect(existsSync(join(dataDir, "identity", "next.crt"))).toBe(false);
    expect(readFileSync(join(dataDir, "identity", "trust.pem"), "utf8")).toBe(ca.pem);
    // The swap's `replaced` is the agent's own doing: never reported as a clone.
    expect(log.at("error")).toEqual([]);
    expect(log.lines.some((line) => line.message.includes("another device is using"))).toBe(false);
  });

  it("after refused: revoked, says once at error level what happened and what to do, and keeps retrying with backoff", async () => {
    const ca = testCa();
    const { grantFor } = certificateIssuer(ca, 3600_000);
    const stand = await standInServer(ca, {
      onSession(session) {
        if (enrollIfNew(session, grantFor)) return;
        send(session.stream, { type: "refused", code: "revoked", message: "an administrator revoked this device's certificate" });
        session.stream.end();
      },
    });
    cleanup.push(() => void stand.server.close());
    const { log } = startAgent(stand.address, stand.fingerprint);
    await until("three refused sessions", () => (stand.sessions.filter((s) => s.serial !== undefined).length >= 3 ? true : undefined), 15_000);
    const refused = stand.sessions.filter((s) => s.serial !== undefined);
    const revoked = log.at("error").filter((line) => line.includes("revoked this device's certificate"));
    expect(revoked).toHaveLength(1);
    expect(revoked[0]).toMatch(/cannot reconnect with it/);
    expect(revoked[0]).toMatch(/removes its environment on the server, then clear .*identity/);
    // Backoff, not a tight loop: 0.5–1 s, then 1–2 s.
    expect(refused[1]!.at - refused[0]!.at).toBeGreaterThanOrEqual(450);
    expect(refused[2]!.at - refused[1]!.at).toBeGreaterThanOrEqual(950);
  });

  it("honours Retry-After on a refused enrollment", async () => {
    const ca = testCa();
    const { cert, key, fingerprint } = serverCertificate();
    const attempts: number[] = [];
    const server = createSecureServer({ cert, key });
    server.on("stream", (stream) => {
      stream.on("error", () => undefined);
      attempts.push(Date.now());
      respondJson(stream, 429, { code: "too_many_requests", message: "Too many new devices from 127.0.0.1.", details: { retryAfterSeconds: 3 } }, 3);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanup.push(() => void server.close());
    expect(ca.pem).toBeTruthy();
    const { log } = startAgent(`127.0.0.1:${(server.address() as AddressInfo).port}`, fingerprint);
    await until("a second attempt", () => attempts[1], 10_000);
    expect(log.at("error").some((line) => line.includes("Too many new devices"))).toBe(true);
    // Without Retry-After the first retry comes after 0.5–1 s.
    expect(attempts[1]! - attempts[0]!).toBeGreaterThanOrEqual(2900);
  });
  it("when polling, checks in on the API URL until issued, then on the tunnel address with its certificate, and renews there", async () => {
    const ca = testCa();
    const { cert, key, fingerprint } = serverCertificate();
    const seen: { listener: "api" | "tunnel"; path: string; serial: string | undefined; csr: boolean; at: number }[] = [];
    // 9 s: renewal falls due at about two thirds of it, and a polling agent looks only at each
    // check-in (1 s apart, longer under load); past expiry it re-enrolls instead of renewing.
    // With 4.5 s the window between due and expiry (~1 s) was missed on a loaded machine.
    const { issued, grantFor } = certificateIssuer(ca, 9_000);
    const listen = (listener: "api" | "tunnel"): Promise<HttpsServer> => {
      // As the real listeners: the HTTPS one never asks for a client certificate, the tunnel one does.
      const server = createHttpsServer({ cert, key, ...(listener === "tunnel" ? { requestCert: true, rejectUnauthorized: false, ca: ca.pem } : {}) }, (req, res) => {
        const serial = (req.socket as TLSSocket).getPeerX509Certificate()?.serialNumber.toLowerCase();
        void readText(req).then((body) => {
          const parsed = JSON.parse(body) as Hello & { csr?: string };
          seen.push({ listener, path: req.url ?? "", serial, csr: parsed.csr !== undefined && req.url === edgePaths.checkin, at: Date.now() });
          res.setHeader("content-type", "application/json");
          if (req.url === edgePaths.renew && issued.length >= 2) {
            res.writeHead(503, { "retry-after": "60" }).end(JSON.stringify({ code: "unavailable", message: "One renewal is enough for this test." }));
          } else if (req.url === edgePaths.renew) {
            res.end(JSON.stringify(grantFor(parsed.csr!)));
          } else if (serial === undefined) {
            res.end(JSON.stringify({ ...welcome("waiting"), certificate: grantFor(parsed.csr!) }));
          } else {
            res.end(JSON.stringify(welcome("associated")));
          }
        });
      });
      return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
    };
    const [api, tunnel] = await Promise.all([listen("api"), listen("tunnel")]);
    cleanup.push(() => void api.close(), () => void tunnel.close());
    const port = (server: HttpsServer) => (server.address() as AddressInfo).port;
    const edgeKey = encodeEdgeKey({ apiUrl: `https://127.0.0.1:${port(api)}`, tunnelAddress: `127.0.0.1:${port(tunnel)}`, serverFingerprint: fingerprint, environmentId: 0 });
    const { log, dataDir } = startAgent(`127.0.0.1:${port(tunnel)}`, fingerprint, { PIER_EDGE_MODE: "poll", EDGE_KEY: edgeKey });

    await until("a check-in with the renewed certificate", () => (issued[1] !== undefined ? seen.find((s) => s.path === edgePaths.checkin && s.serial === issued[1]) : undefined), 20_000).catch((error: unknown) => {
      throw new Error(`${String(error)}; requests seen: ${JSON.stringify(seen.map(({ listener, path, serial }) => ({ listener, path, serial })))}; agent log:\n${log.lines.map((line) => `${line.level} ${line.message}`).join("\n")}`);
    });
    const [first, second] = seen;
    // Before it holds a certificate: the API URL, with a CSR; issued: at once the tunnel address, presenting it.
    expect(first).toMatchObject({ listener: "api", path: edgePaths.checkin, serial: undefined, csr: true });
    expect(second).toMatchObject({ listener: "tunnel", path: edgePaths.checkin, serial: issued[0], csr: false });
    expect(second!.at - first!.at).toBeLessThan(1000);
    // The renewal went to the tunnel address, authenticated by the certificate it renews.
    expect(seen.find((s) => s.path === edgePaths.renew)).toMatchObject({ listener: "tunnel", serial: issued[0] });
    expect(seen.filter((s) => s.listener === "api")).toHaveLength(1);
    await until("the promotion", () => (new X509Certificate(readFileSync(join(dataDir, "identity", "current.crt"))).serialNumber.toLowerCase() === issued[1] ? true : undefined));
    expect(log.at("error")).toEqual([]);
  });
  it("renews at a random moment within withinSeconds when the server pushes renew, and keeps its trust bundle", async () => {
    const ca = testCa();
    const rotatedBundle = `${ca.pem}${testCa("Pier test device CA (next)").pem}`;
    // An hour: without the push, no renewal would come for 40 minutes.
    const { issued, grantFor } = certificateIssuer(ca, 3600_000);
    let pushedAt = 0;
    const stand = await standInServer(ca, {
      onSession(session) {
        if (enrollIfNew(session, grantFor)) return;
        send(session.stream, welcome("associated"));
        if (session.serial === issued[0]) {
          pushedAt = Date.now();
          send(session.stream, { type: "renew", reason: "rotation", withinSeconds: 2, trustBundle: rotatedBundle });
        }
      },
      onRenew(csrPem, stream) {
        // What the agent holds when it asks: the bundle of the push (the grant has not come yet).
        trustWhenRenewing = readFileSync(join(dataDir, "identity", "trust.pem"), "utf8");
        respondJson(stream, 200, { ...grantFor(csrPem), trustBundle: rotatedBundle });
      },
    });
    cleanup.push(() => void stand.server.close());
    let trustWhenRenewing = "";
    const { log, dataDir } = startAgent(stand.address, stand.fingerprint);
    const renewed = await until("a session with the renewed certificate", () => (issued[1] !== undefined ? stand.sessions.find((s) => s.serial === issued[1]) : undefined), 10_000);
    expect(pushedAt).toBeGreaterThan(0);
    expect(renewed.at - pushedAt).toBeLessThan(2000 + 1500);
    expect(trustWhenRenewing).toBe(rotatedBundle);
    expect(log.at("info").some((line) => line.includes("asks this device to renew its certificate (rotation) within 2 s"))).toBe(true);
    expect(log.at("error")).toEqual([]);
  });
  it("after a renewal answered 429, asks again after Retry-After and keeps the current pair meanwhile", async () => {
    const ca = testCa();
    const { issued, grantFor } = certificateIssuer(ca, 3600_000);
    const asked: { at: number; csr: string }[] = [];
    const stand = await standInServer(ca, {
      onSession(session) {
        if (enrollIfNew(session, grantFor)) return;
        send(session.stream, welcome("associated"));
        if (session.serial === issued[0]) send(session.stream, { type: "renew", reason: "requested", withinSeconds: 0 });
      },
      onRenew(csrPem, stream) {
        asked.push({ at: Date.now(), csr: csrPem });
        if (asked.length === 1) {
          respondJson(stream, 429, { code: "too_many_requests", message: "Too many renewals at once; retry in 2 s." }, 2);
          return;
        }
        respondJson(stream, 200, grantFor(csrPem));
      },
    });
    cleanup.push(() => void stand.server.close());
    const { log } = startAgent(stand.address, stand.fingerprint);
    await until("the renewed session", () => (issued[1] !== undefined ? stand.sessions.find((s) => s.serial === issued[1]) : undefined), 10_000);
    expect(asked).toHaveLength(2);
    expect(asked[1]!.at - asked[0]!.at).toBeGreaterThanOrEqual(1950);
    // The same key is asked for again (one next.key per renewal).
    expect(asked[1]!.csr).toBe(asked[0]!.csr);
    expect(log.at("info").some((line) => line.includes("the server asked to renew later") && line.includes("trying again in 2 s"))).toBe(true);
    expect(log.at("error")).toEqual([]);
  });
  it.skipIf(process.getuid?.() !== 0)("with its --data disk full, says so naming the disk, keeps its pair and session, and renews by itself once there is room (tmpfs, root)", async () => {
    const ca = testCa();
    const { issued, grantFor } = certificateIssuer(ca, 3600_000);
    const stand = await standInServer(ca, {
      onSession(session) {
        if (enrollIfNew(session, grantFor)) return;
        send(session.stream, welcome("associated"));
      },
      onRenew(csrPem, stream) {
        respondJson(stream, 200, grantFor(csrPem));
      },
    });
    cleanup.push(() => void stand.server.close());
    const dataDir = mkdtempSync(join(tmpdir(), "pier-agent-disk-full-"));
    expect(spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "pier-agent-disk-full", dataDir]).status).toBe(0);
    cleanup.push(() => {
      spawnSync("umount", ["--lazy", dataDir]);
      rmSync(dataDir, { recursive: true, force: true });
    });
    const agent = runTestAgent({ dataDir, address: stand.address, fingerprint: stand.fingerprint, environmentId: 0 });
    cleanup.push(() => agent[Symbol.asyncDispose]());
    const first = await until("the session with the issued certificate", () => (issued[0] !== undefined ? stand.sessions.find((s) => s.serial === issued[0]) : undefined), 10_000);
    const held = () => ["current.key", "current.crt"].map((name) => readFileSync(join(dataDir, "identity", name), "utf8"));
    const before = held();
    // The ballast, to the last byte.
    const fd = openSync(join(dataDir, "ballast"), "w");
    for (let size = 65_536; size >= 1; size = Math.floor(size / 2)) {
      try {
        while (writeSync(fd, Buffer.alloc(size)) === size);
      } catch {
        // ENOSPC: on to smaller pieces
      }
    }
    closeSync(fd);
    send(first.stream, { type: "renew", reason: "requested", withinSeconds: 0 });
    await until("the full disk in the log", () => agent.log.at("error").find((line) => line.includes(`the disk holding ${join(dataDir, "identity")} is full (ENOSPC)`)), 10_000);
    // Before the fix, the failed write ended the session's renewals: none came after the disk had room.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(held()).toEqual(before);
    expect(first.endedAt).toBeUndefined();
    expect(first.heartbeats.at(-1)).toBeGreaterThan(Date.now() - 2500);
    unlinkSync(join(dataDir, "ballast"));
    await until("the renewed session", () => (issued[1] !== undefined ? stand.sessions.find((s) => s.serial === issued[1]) : undefined), 20_000);
    expect(agent.log.at("error").filter((line) => line.includes("stopped unexpectedly"))).toEqual([]);
  }, 40_000);
});
