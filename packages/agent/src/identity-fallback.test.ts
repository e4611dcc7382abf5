import { X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createSecureServer, type Http2SecureServer } from "node:http2";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { afterEach, describe, expect, it } from "vitest";
import { edgePaths, encodeFrame } from "@pier/protocol";
import { privateKeyToPem } from "@pier/pki";
import { until } from "./docker/docker-cli.testkit.ts";
import { newDeviceKey } from "./identity/csr.ts";
import { testCa } from "./identity/test-ca.testkit.ts";
import { runTestAgent } from "./running-agent.testkit.ts";
import { serverCertificate } from "./server-certificate.testkit.ts";

let cleanup: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

/**
 * `DATA/identity/` as an agent leaves it when it stopped after a renewal stored `next.crt` but
 * before a session with it was welcomed: an unexpired `current` pair, and a newer `next` pair.
 */
function identityWithUnwelcomedRenewal(dataDir: string) {
  const ca = testCa();
  const dir = join(dataDir, "identity");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const currentKey = newDeviceKey();
  const nextKey = newDeviceKey();
  const current = ca.grant(currentKey, { edgeId: "edge-id-1", notBefore: new Date(Date.now() - 60_000), lifetimeMs: 3600_000 });
  const next = ca.grant(nextKey, { edgeId: "edge-id-1", notBefore: new Date(Date.now() - 1000), lifetimeMs: 3600_000 });
  writeFileSync(join(dir, "current.key"), privateKeyToPem(currentKey), { mode: 0o600 });
  writeFileSync(join(dir, "current.crt"), current.certificate);
  writeFileSync(join(dir, "next.key"), privateKeyToPem(nextKey), { mode: 0o600 });
  writeFileSync(join(dir, "next.crt"), next.certificate);
  const serial = (pem: string) => new X509Certificate(pem).serialNumber.toLowerCase();
  return { ca, dir, currentSerial: serial(current.certificate), nextSerial: serial(next.certificate) };
}

/**
 * A stand-in for the Pier server's session route (named as such; the real one is driven by the
 * end-to-end tests): it refuses the renewed certificate the way `refusal` says and welcomes the current one.
 */
async function standInServer(caPem: string, refusedSerial: string, refusal: "refused-revoked" | "http-403" | "tls-close") {
  const { cert, key, fingerprint } = serverCertificate();
  const presented: string[] = [];
  const server: Http2SecureServer = createSecureServer({ cert, key, requestCert: true, rejectUnauthorized: false, ca: caPem });
  server.on("secureConnection", (socket: TLSSocket) => {
    const serial = socket.getPeerX509Certificate()?.serialNumber.toLowerCase();
    // How a Node server refuses a client certificate: it drops the connection after the handshake.
    if (refusal === "tls-close" && serial === refusedSerial) {
      presented.push(serial);
      socket.destroy();
    }
  });
  server.on("stream", (stream, headers) => {
    stream.on("error", () => undefined);
    const serial = (stream.session?.socket as TLSSocket | undefined)?.getPeerX509Certificate()?.serialNumber.toLowerCase() ?? "none";
    if (String(headers[":path"]) !== edgePaths.session) {
      stream.respond({ ":status": 404 }, { endStream: true });
      return;
    }
    presented.push(serial);
    if (serial === refusedSerial && refusal === "http-403") {
      stream.respond({ ":status": 403, "content-type": "application/json" });
      stream.end(JSON.stringify({ code: "forbidden", message: `The client certificate ${serial} is not one this server issued.`, fix: "Enroll again." }));
      return;
    }
    stream.respond({ ":status": 200, "content-type": "application/x-ndjson" });
    if (serial === refusedSerial) {
      stream.end(encodeFrame({ type: "refused", code: "revoked", message: `certificate ${serial} was revoked` }));
      return;
    }
    stream.write(encodeFrame({ type: "welcome", environmentId: 3, status: "associated", checkinIntervalSeconds: 30 }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanup.push(() => void server.close());
  return { presented, address: `127.0.0.1:${(server.address() as AddressInfo).port}`, fingerprint };
}

describe("agent identity: a renewed pair the server refuses at start", () => {
  for (const refusal of ["refused-revoked", "http-403", "tls-close"] as const) {
    it(`falls back to the unexpired current pair, deletes next.*, and says why once (${refusal})`, async () => {
      const dataDir = mkdtempSync(join(tmpdir(), "pier-agent-fallback-"));
      cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
      const identity = identityWithUnwelcomedRenewal(dataDir);
      const stand = await standInServer(identity.ca.pem, identity.nextSerial, refusal);
      const agent = runTestAgent({ dataDir, address: stand.address, fingerprint: stand.fingerprint, environmentId: 3 });
      cleanup.push(() => agent[Symbol.asyncDispose]());
      const { log } = agent;

      await until("a session with the current certificate", () => (stand.presented.includes(identity.currentSerial) ? true : undefined), 10_000);
      // Precondition: the agent first presented the renewed (newer) pair, and was refused.
      expect(stand.presented[0]).toBe(identity.nextSerial);
      expect(stand.presented.filter((serial) => serial === identity.nextSerial)).toHaveLength(1);
      expect(existsSync(join(identity.dir, "next.crt")) || existsSync(join(identity.dir, "next.key"))).toBe(false);
      expect(existsSync(join(identity.dir, "current.crt")) && existsSync(join(identity.dir, "current.key"))).toBe(true);
      const why = log.at("warn").filter((line) => line.includes("refused the renewed certificate"));
      expect(why).toHaveLength(1);
      expect(why[0]).toContain(identity.nextSerial);
      expect(why[0]).toContain(`falls back to the current certificate`);
      expect(why[0]).toContain(identity.currentSerial);
      // Not reported as this device being revoked: the current certificate works.
      expect(log.at("error").filter((line) => line.includes("revoked this device's"))).toEqual([]);
    });
  }
});
