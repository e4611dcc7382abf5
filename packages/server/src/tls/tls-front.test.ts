import { X509Certificate } from "node:crypto";
import net from "node:net";
import { createInterface } from "node:readline";
import { Duplex } from "node:stream";
import { setImmediate as nextTurn, setTimeout as sleep } from "node:timers/promises";
import tls from "node:tls";
import { writeFileAtomic } from "@pier/pki";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ServerError } from "../errors.ts";
import {
  type Credential,
  type TestCa,
  type TestPki,
  clientRequest,
  createTestPki,
  h1Get,
  h2Get,
  mtlsServerRequest,
  names,
  openSession,
  sessionGet,
  testHandler,
  uiServerRequest,
} from "./tls-fixtures.testkit.ts";
import { type FrontMaterial, type RoutingPolicy, type TlsFrontOptions, type TlsRefusal, type WithdrawnTrust, TlsFront, connectionIdentity, describeWithdrawnTrust, serverNameMatches } from "./tls-front.ts";
import { loadTlsMaterial } from "./tls-material.ts";
import { collectGarbage, weakTimersOf } from "./released-timers.testkit.ts";
import { loadFrontMaterial, watchTlsMaterial } from "./tls-reloader.ts";

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;
const body = (answer: { body: string }) => JSON.parse(answer.body) as Record<string, unknown>;

interface RunningFront extends AsyncDisposable {
  readonly front: TlsFront;
  readonly port: number;
  readonly refusals: TlsRefusal[];
  readonly errors: unknown[];
}

async function startFront(material: FrontMaterial, policy: RoutingPolicy, options: Partial<TlsFrontOptions> = {}): Promise<RunningFront> {
  const refusals: TlsRefusal[] = [];
  const errors: unknown[] = [];
  const front = new TlsFront({ material, policy, handler: testHandler, onRefusal: (r) => refusals.push(r), onError: (e) => errors.push(e), ...options });
  const { port } = await front.listen(0, "127.0.0.1");
  return { front, port, refusals, errors, [Symbol.asyncDispose]: () => front.close() };
}

/** Sends raw bytes and collects whatever comes back until the server closes. */
function rawExchange(port: number, bytes: Buffer | string, options: { end?: boolean } = {}): Promise<{ received: string; closedAfterMs: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect(port, "127.0.0.1", () => socket.write(bytes, () => options.end && socket.end()));
    let received = "";
    socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
    socket.on("error", () => undefined);
    socket.on("close", () => resolve({ received, closedAfterMs: Date.now() - started }));
  });
}

/** A TCP connection that delivers what TLS writes to it one byte per write, a turn of the event loop apart. */
function tricklingConnection(port: number): Duplex {
  const socket = net.connect(port, "127.0.0.1");
  socket.setNoDelay(true);
  const duplex = new Duplex({
    read: () => undefined,
    write(chunk: Buffer, _encoding, callback) {
      void (async () => {
        for (const byte of chunk) {
          await new Promise((resolve) => socket.write(Buffer.of(byte), resolve));
          await nextTurn();
        }
        callback();
      })();
    },
    final: (callback) => socket.end(callback),
    destroy: (error, callback) => {
      socket.destroy();
      callback(error);
    },
  });
  socket.on("data", (chunk: Buffer) => duplex.push(chunk));
  socket.on("end", () => duplex.push(null));
  socket.on("error", (error) => duplex.destroy(error));
  return duplex;
}

describe("TlsFront", () => {
  let pki: TestPki;
  let pierCa: TestCa;
  let deviceCa: TestCa;
  let foreignCa: TestCa;
  let ui: Credential;
  let mtls: Credential;
  let device: Credential;
  let foreignDevice: Credential;
  let separate: FrontMaterial;
  beforeAll(async () => {
    pki = createTestPki();
    pierCa = await pki.createCa("Pier CA");
    deviceCa = await pki.createCa("Device CA");
    foreignCa = await pki.createCa("Foreign CA");
    ui = await pki.issue(pierCa, "ui", uiServerRequest());
    mtls = await pki.issue(pierCa, "mtls", mtlsServerRequest());
    device = await pki.issue(deviceCa, "device", clientRequest("device-1"));
    foreignDevice = await pki.issue(foreignCa, "foreign-device", clientRequest("intruder"));
    separate = {
      server: await loadTlsMaterial({ ...ui, role: "server" }),
      mtls: await loadTlsMaterial({ ...mtls, caPath: deviceCa.caPath, role: "server" }),
    };
  });
  afterAll(() => pki[Symbol.asyncDispose]());

  describe('routing "separate"', () => {
    const policy = (): RoutingPolicy => ({ mode: "separate", mtlsNames: separate.mtls!.names });

    it("refuses a client without a certificate on the mTLS name, and says why", async () => {
      await using running = await startFront(separate, policy());
      await expect(h2Get(running.port, "/", { servername: names.mtls, ca: pierCa.pem })).rejects.toThrow();
      await vi.waitFor(() => expect(running.refusals).toHaveLength(1));
      expect(running.refusals[0]).toMatchObject({ remoteAddress: "127.0.0.1", serverName: names.mtls, failure: { code: "client_certificate_required" } });
      expect(running.refusals[0]?.peerCertificate).toBeUndefined();
    });

    it("serves a device with a good certificate over HTTP/2 and HTTP/1.1, presenting the mTLS certificate", async () => {
      await using running = await startFront(separate, policy());
      const client = { servername: names.mtls, ca: pierCa.pem, cert: device.certPem, key: device.keyPem };
      const identity = { mtls: true, authorized: true, peer: "CN=device-1", remoteAddress: "127.0.0.1", serverName: names.mtls };

      const overH2 = await h2Get(running.port, "/", client);
      expect(overH2.peer?.fingerprint256).toBe(fingerprint(mtls.certPem));
      expect(body(overH2)).toEqual({ ...identity, httpVersion: "2.0" });
      const overH1 = await h1Get(running.port, "/", client);
      expect(overH1.peer?.fingerprint256).toBe(fingerprint(mtls.certPem));
      expect(body(overH1)).toEqual({ ...identity, httpVersion: "1.1" });
      expect(running.refusals).toEqual([]);
    });

    it("matches the mTLS names case-insensitively, wildcards included", async () => {
      await using running = await startFront(separate, policy());
      const answer = await h2Get(running.port, "/", { servername: "Edge-7.Devices.PIER.test", ca: pierCa.pem, cert: device.certPem, key: device.keyPem });
      expect(body(answer)).toMatchObject({ mtls: true, peer: "CN=device-1" });
    });

    it("refuses a certificate from a foreign CA, naming the unknown CA", async () => {
      await using running = await startFront(separate, policy());
      await expect(h2Get(running.port, "/", { servername: names.mtls, ca: pierCa.pem, cert: foreignDevice.certPem, key: foreignDevice.keyPem })).rejects.toThrow();
      await vi.waitFor(() => expect(running.refusals).toHaveLength(1));
      const [refusal] = running.refusals;
      expect(refusal).toMatchObject({ remoteAddress: "127.0.0.1", serverName: names.mtls, failure: { code: "client_certificate_unknown_ca" } });
      expect(refusal?.failure.cause).toMatch(/certificate from a CA this server does not trust/);
      // Node drops the socket, and its certificate, before reporting it: the front read it at the handshake.
      expect(refusal?.peerCertificate?.subject).toBe("CN=intruder");
      expect(refusal?.peerCertificate?.serialNumber).toBe(new X509Certificate(foreignDevice.certPem).serialNumber);
    });

    it("serves the UI certificate and no client identity on every other name, and without SNI", async () => {
      await using running = await startFront(separate, policy());
      const identity = { mtls: false, authorized: false, remoteAddress: "127.0.0.1", serverName: names.ui };
      const overH2 = await h2Get(running.port, "/", { servername: names.ui, ca: pierCa.pem });
      expect(overH2.peer?.fingerprint256).toBe(fingerprint(ui.certPem));
      expect(overH2.peer?.subject).toBe(`CN=${names.ui}`);
      expect(body(overH2)).toEqual({ ...identity, httpVersion: "2.0" });
      const overH1 = await h1Get(running.port, "/", { servername: names.ui, ca: pierCa.pem });
      expect(overH1.peer?.fingerprint256).toBe(fingerprint(ui.certPem));
      expect(body(overH1)).toEqual({ ...identity, httpVersion: "1.1" });
      // Node sends no SNI to an IP address; the UI certificate covers 127.0.0.1.
      const bare = await h2Get(running.port, "/", { ca: pierCa.pem });
      expect(bare.peer?.fingerprint256).toBe(fingerprint(ui.certPem));
      expect(body(bare)).toMatchObject({ mtls: false });
    });

    it("reads a connection's client certificate once: every request on it sees the same object", async () => {
      const seen: (X509Certificate | undefined)[] = [];
      const recording: TlsFrontOptions["handler"] = (req, res) => {
        seen.push(connectionIdentity(req).peerCertificate);
        return testHandler(req, res);
      };
      await using running = await startFront(separate, policy(), { handler: recording });
      // The first sends its CA too, as a client whose trust store holds it does (OpenSSL builds the chain).
      const session = openSession(running.port, { servername: names.mtls, ca: pierCa.pem, cert: device.certPem + deviceCa.pem, key: device.keyPem });
      const other = openSession(running.port, { servername: names.mtls, ca: pierCa.pem, cert: device.certPem, key: device.keyPem });
      const held: X509Certificate[] = [];
      try {
        for (const connection of [session, session, session, other]) expect((await sessionGet(connection, "/")).status).toBe(200);
        running.front.closeConnections((certificate) => (held.push(certificate), false));
      } finally {
        session.close();
        other.close();
      }
      expect(seen.map((certificate) => certificate?.fingerprint256)).toEqual(Array(4).fill(fingerprint(device.certPem)));
      // getPeerX509Certificate makes a new object (and parses its facts anew) at every call.
      expect(seen[1]).toBe(seen[0]);
      expect(seen[2]).toBe(seen[0]);
      expect(seen[3]).not.toBe(seen[0]);
      // The front's own record of each connection (revocations close connections by it) is that
      // object too, not a second copy (issue 20: 3 X509Certificate objects per session).
      expect(held).toHaveLength(2);
      expect(held).toContain(seen[0]);
      expect(held).toContain(seen[3]);
      // Read during the handshake, Node attaches a copy of the issuer (the device CA), kept
      // natively as long as the certificate: the connection's one is read after it.
      expect(seen[0]?.issuerCertificate).toBeUndefined();
    });

    it("keeps neither the accept deadline nor the gate's hold of a connection once its handshake ended", async () => {
      await using running = await startFront(separate, policy(), { handshakeTimeoutMs: 9_871, handshakes: { maxHoldMs: 8_761 } });
      let session: ReturnType<typeof openSession> | undefined;
      const timers = await weakTimersOf([9_871, 8_761], async () => {
        session = openSession(running.port, { servername: names.mtls, ca: pierCa.pem, cert: device.certPem, key: device.keyPem });
        expect((await sessionGet(session, "/")).status).toBe(200);
      });
      try {
        // Precondition: both timers of this connection were started, and it stays open.
        expect(timers).toHaveLength(2);
        await collectGarbage();
        expect(timers.map((timer) => timer.deref())).toEqual([undefined, undefined]);
        expect((await sessionGet(session!, "/")).status).toBe(200);
      } finally {
        session?.close();
      }
    });

    it("keeps an HTTP/2 POST open in both directions for several messages", async () => {
      await using running = await startFront(separate, policy());
      const session = openSession(running.port, { servername: names.mtls, ca: pierCa.pem, cert: device.certPem, key: device.keyPem });
      try {
        const stream = session.request({ ":method": "POST", ":path": "/duplex" }, { endStream: false });
        const status = await new Promise<number>((resolve) => stream.once("response", (headers) => resolve(Number(headers[":status"]))));
        expect(status).toBe(200);
        const lines = createInterface({ input: stream })[Symbol.asyncIterator]();
        for (const message of ["hello", "second", "third"]) {
          stream.write(`${message}\n`);
          expect((await lines.next()).value).toBe(`echo:${message}`);
        }
        stream.end();
        expect((await lines.next()).value).toBe("bye");
      } finally {
        session.close();
      }
    });

    it("reads a ClientHello that arrives one byte at a time", async () => {
      await using running = await startFront(separate, policy());
      const socket = tls.connect({ socket: tricklingConnection(running.port), servername: names.ui, ca: pierCa.pem, ALPNProtocols: ["http/1.1"] });
      let presented: X509Certificate | undefined;
      const response = await new Promise<string>((resolve, reject) => {
        let received = "";
        socket.on("secureConnect", () => {
          presented = socket.getPeerX509Certificate();
          socket.write(`GET / HTTP/1.1\r\nHost: ${names.ui}\r\nConnection: close\r\n\r\n`);
        });
        socket.on("data", (chunk: Buffer) => (received += chunk.toString()));
        socket.on("end", () => resolve(received));
        socket.on("error", reject);
      });
      expect(presented?.fingerprint256).toBe(fingerprint(ui.certPem));
      expect(response).toMatch(/^HTTP\/1\.1 200 /);
      expect(response).toContain('"serverName":"pier.test"');
    });
  });

  describe('routing "whole-listener" and "none"', () => {
    let blog: FrontMaterial;
    beforeAll(async () => {
      blog = { server: await loadTlsMaterial({ ...ui, caPath: deviceCa.caPath, role: "server" }) };
    });

    it("requires a client certificate on every name in whole-listener mode, presenting the main certificate", async () => {
      await using running = await startFront(blog, { mode: "whole-listener" });

      await expect(h2Get(running.port, "/", { servername: names.ui, ca: pierCa.pem })).rejects.toThrow();
      await vi.waitFor(() => expect(running.refusals).toHaveLength(1));
      expect(running.refusals[0]).toMatchObject({ serverName: names.ui, failure: { code: "client_certificate_required" } });

      const answer = await h2Get(running.port, "/", { servername: names.ui, ca: pierCa.pem, cert: device.certPem, key: device.keyPem });
      expect(answer.peer?.fingerprint256).toBe(fingerprint(ui.certPem));
      expect(body(answer)).toMatchObject({ mtls: true, authorized: true, peer: "CN=device-1" });
    });

    it("asks nobody for a certificate in none mode, even on the mTLS name", async () => {
      await using running = await startFront({ server: separate.server }, { mode: "none" });
      const answer = await h2Get(running.port, "/", { servername: names.ui, ca: pierCa.pem, cert: device.certPem, key: device.keyPem });
      expect(body(answer)).toMatchObject({ mtls: false, authorized: false });
      expect(body(answer)).not.toHaveProperty("peer");
    });

    it("switches policy for new connections, and refuses a policy its material cannot serve", async () => {
      await using running = await startFront(blog, { mode: "none" });
      expect((await h2Get(running.port, "/", { servername: names.ui, ca: pierCa.pem })).status).toBe(200);
      running.front.setPolicy({ mode: "whole-listener" });
      expect(running.front.policy).toEqual({ mode: "whole-listener" });
      await expect(h2Get(running.port, "/", { servername: names.ui, ca: pierCa.pem })).rejects.toThrow();
      await vi.waitFor(() => expect(running.refusals.map((r) => r.failure.code)).toEqual(["client_certificate_required"]));

      await using uiOnly = await startFront({ server: separate.server }, { mode: "none" });
      expect(() => uiOnly.front.setPolicy({ mode: "whole-listener" })).toThrow(/needs the CA they must chain to/);
      expect(() => new TlsFront({ material: { server: separate.server }, policy: { mode: "separate", mtlsNames: [] }, handler: testHandler })).toThrow(/needs the mTLS certificate/);
    });

    it("closes open connections without a certificate once the policy wants one for them, and only those", async () => {
      await using running = await startFront(separate, { mode: "none" });
      const onUiName = openSession(running.port, { servername: names.ui, ca: pierCa.pem });
      const withoutSni = openSession(running.port, { ca: pierCa.pem });
      try {
        expect(body(await sessionGet(onUiName, "/"))).toMatchObject({ mtls: false });
        expect(body(await sessionGet(withoutSni, "/"))).toMatchObject({ mtls: false });
        // The mTLS names do not cover either: both stay open.
        running.front.setPolicy({ mode: "separate", mtlsNames: separate.mtls!.names });
        expect(body(await sessionGet(onUiName, "/"))).toMatchObject({ mtls: false });
        expect(body(await sessionGet(withoutSni, "/"))).toMatchObject({ mtls: false });

        const closed = Promise.all([onUiName, withoutSni].map((session) => new Promise((resolve) => session.once("close", resolve))));
        running.front.setPolicy({ mode: "whole-listener" });
        await closed;
        expect(running.errors).toEqual([]);
      } finally {
        onUiName.close();
        withoutSni.close();
      }
    });
  });

  describe("hostile and broken clients", () => {
    const policy = (): RoutingPolicy => ({ mode: "separate", mtlsNames: separate.mtls!.names });

    it("answers plaintext HTTP with a 400 pointing to https:// and closes", async () => {
      await using running = await startFront(separate, policy());
      const { received } = await rawExchange(running.port, `GET / HTTP/1.1\r\nHost: ${names.ui}\r\n\r\n`);
      expect(received).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
      expect(received).toContain("use https://");
      // The one error shape, like every other error answer.
      expect(JSON.parse(received.slice(received.indexOf("\r\n\r\n") + 4))).toEqual({ code: "bad_request", message: "This port speaks TLS only: use https://.", fix: "Connect with https://, not http://." });
      expect((await h2Get(running.port, "/", { servername: names.ui, ca: pierCa.pem })).status).toBe(200);
    });

    it("closes connections that send garbage, stay silent, give up half-way or send an oversized hello", async () => {
      await using running = await startFront(separate, policy(), { handshakeTimeoutMs: 600 });
      expect((await rawExchange(running.port, Buffer.from([0, 1, 2, 3, 4, 5]))).received).toBe("");
      const silent = await rawExchange(running.port, "");
      expect(silent.received).toBe("");
      expect(silent.closedAfterMs).toBeGreaterThanOrEqual(550);
      // The first bytes of a ClientHello, then the client's FIN.
      const halfWay = await rawExchange(running.port, Buffer.from([22, 3, 1, 2, 0, 1, 0, 1, 252, 3, 3]), { end: true });
      expect(halfWay.closedAfterMs).toBeLessThan(500);
      // A hello that claims 16 MiB is dropped once it passes 16 KiB, before the timeout.
      const oversized = Buffer.concat([Buffer.from([22, 3, 1, 0x40, 0, 1, 0xff, 0xff, 0xff]), Buffer.alloc(0x4000 - 4), Buffer.from([22, 3, 1, 0x40, 0]), Buffer.alloc(0x4000)]);
      const big = await rawExchange(running.port, oversized);
      expect(big.closedAfterMs).toBeLessThan(500);
      expect((await h2Get(running.port, "/", { servername: names.ui, ca: pierCa.pem })).status).toBe(200);
      expect(running.errors).toEqual([]);
    });

    it("survives clients that reset in the middle of the handshake", async () => {
      await using running = await startFront(separate, policy());
      for (const servername of [names.ui, names.mtls]) {
        const tcp = net.connect(running.port, "127.0.0.1");
        const socket = tls.connect({ socket: tcp, servername, ca: pierCa.pem });
        socket.on("error", () => undefined);
        await new Promise((resolve) => tcp.once("connect", resolve));
        await sleep(20);
        tcp.resetAndDestroy();
      }
      expect((await h2Get(running.port, "/", { servername: names.ui, ca: pierCa.pem })).status).toBe(200);
      expect(running.errors).toEqual([]);
    });

    it("turns a throwing or rejecting handler into a 500 and reports it", async () => {
      const handler: TlsFrontOptions["handler"] = (req) => {
        if (req.url === "/throw") throw new Error("thrown");
        return Promise.reject(new Error("rejected"));
      };
      await using running = await startFront(separate, policy(), { handler });
      expect((await h2Get(running.port, "/throw", { servername: names.ui, ca: pierCa.pem })).status).toBe(500);
      expect((await h1Get(running.port, "/reject", { servername: names.ui, ca: pierCa.pem })).status).toBe(500);
      expect(running.errors.map((e) => (e as Error).message)).toEqual(["thrown", "rejected"]);
    });

    it("close() ends open sessions and stops listening", async () => {
      const running = await startFront(separate, policy());
      const session = openSession(running.port, { servername: names.mtls, ca: pierCa.pem, cert: device.certPem, key: device.keyPem });
      expect((await sessionGet(session, "/")).status).toBe(200);
      const closed = new Promise<void>((resolve) => session.once("close", () => resolve()));
      await running.front.close();
      await closed;
      await expect(h2Get(running.port, "/", { servername: names.ui, ca: pierCa.pem })).rejects.toThrow(/ECONNREFUSED/);
    });
  });

  describe("reloads", () => {
    it("swaps the server certificate on disk while an open HTTP/2 session keeps working, and refuses a key mismatch", async () => {
      const live = await pki.issue(pierCa, "live-ui", uiServerRequest());
      const files = { server: { certPath: live.certPath, keyPath: live.keyPath }, mtls: { ...mtls, caPath: deviceCa.caPath } };
      const material = await loadFrontMaterial(files);
      await using running = await startFront(material, { mode: "separate", mtlsNames: material.mtls!.names });
      const onReloaded = vi.fn();
      const onReloadFailed = vi.fn();
      using reloader = watchTlsMaterial({ front: running.front, files, onReloaded, onReloadFailed, debounceMs: 100 });
      const client = { servername: names.ui, ca: pierCa.pem };
      const session = openSession(running.port, client);
      try {
        expect((await sessionGet(session, "/")).peer?.fingerprint256).toBe(fingerprint(live.certPem));

        const next = await pierCa.authority.issueWithNewKey(uiServerRequest());
        writeFileAtomic(live.keyPath, next.privateKeyPem, 0o600);
        writeFileAtomic(live.certPath, next.certificatePem);
        await vi.waitFor(() => expect(onReloaded).toHaveBeenCalledTimes(1), { timeout: 5000 });
        expect(onReloadFailed).not.toHaveBeenCalled();

        const onOpenSession = await sessionGet(session, "/");
        expect(onOpenSession.status).toBe(200);
        expect(onOpenSession.peer?.fingerprint256).toBe(fingerprint(live.certPem));
        expect((await h2Get(running.port, "/", client)).peer?.fingerprint256).toBe(fingerprint(next.certificatePem));

        const stray = await pierCa.authority.issueWithNewKey(uiServerRequest());
        writeFileAtomic(live.certPath, stray.certificatePem);
        await vi.waitFor(() => expect(onReloadFailed).toHaveBeenCalledTimes(1), { timeout: 5000 });
        const failure = onReloadFailed.mock.calls[0]?.[0] as ServerError;
        expect(failure.code).toBe("tls_material_invalid");
        expect(failure.message).toContain(`${live.keyPath}: the private key does not belong to CN=${names.ui}`);
        // A reload asked for by hand (the API's) fails the same way and is reported the same way.
        await expect(reloader.reload()).rejects.toThrow(failure.message);
        expect(onReloadFailed).toHaveBeenCalledTimes(2);
        expect((await h2Get(running.port, "/", client)).peer?.fingerprint256).toBe(fingerprint(next.certificatePem));
        expect((await sessionGet(session, "/")).status).toBe(200);
        expect(onReloaded).toHaveBeenCalledTimes(1);

        // settled() waits for a reload under way, as the mTLS upload does before switching fronts.
        writeFileAtomic(live.certPath, next.certificatePem);
        const pending = reloader.reload();
        await reloader.settled();
        expect(onReloaded).toHaveBeenCalledTimes(2);
        await expect(pending).resolves.toMatchObject({ server: { spkiSha256: expect.any(String) as unknown } });
      } finally {
        session.close();
      }
    });

    it("after a client CA change, closes only the mTLS connections the new CA does not trust", async () => {
      const retiredCa = await pki.createCa("Retired Device CA");
      const keptCa = await pki.createCa("Kept Device CA");
      const newCa = await pki.createCa("New Device CA");
      const retiredDevice = await pki.issue(retiredCa, "retired-device", clientRequest("retired-device"));
      const keptDevice = await pki.issue(keptCa, "kept-device", clientRequest("kept-device"));
      const newDevice = await pki.issue(newCa, "new-device", clientRequest("new-device"));
      const caPath = pki.file("rotating-client-ca.crt");
      writeFileAtomic(caPath, retiredCa.pem + keptCa.pem);
      const files = { server: { certPath: ui.certPath, keyPath: ui.keyPath }, mtls: { ...mtls, caPath } };
      const material = await loadFrontMaterial(files);
      // Issue 22: the sessions a withdrawn CA ended were closed without a word to the operator.
      const withdrawn: WithdrawnTrust[] = [];
      await using running = await startFront(material, { mode: "separate", mtlsNames: material.mtls!.names }, { onTrustWithdrawn: (closed) => withdrawn.push(closed) });
      const onReloaded = vi.fn();
      using reloader = watchTlsMaterial({ front: running.front, files, onReloaded, debounceMs: 100 });
      const as = (credential: Credential) => ({ servername: names.mtls, ca: pierCa.pem, cert: credential.certPem, key: credential.keyPem });

      const retiredSession = openSession(running.port, as(retiredDevice));
      const keptSession = openSession(running.port, as(keptDevice));
      try {
        expect(body(await sessionGet(retiredSession, "/"))).toMatchObject({ peer: "CN=retired-device" });
        expect(body(await sessionGet(keptSession, "/"))).toMatchObject({ peer: "CN=kept-device" });
        await expect(h2Get(running.port, "/", as(newDevice))).rejects.toThrow();
        const retiredClosed = new Promise<void>((resolve) => retiredSession.once("close", () => resolve()));

        writeFileAtomic(caPath, keptCa.pem + newCa.pem);
        await vi.waitFor(() => expect(onReloaded).toHaveBeenCalledTimes(1), { timeout: 5000 });
        await retiredClosed;
        expect(withdrawn).toEqual([{ closed: 1, issuers: [["CN=Retired Device CA", 1]] }]);
        expect(describeWithdrawnTrust("tunnel", withdrawn[0]!)).toBe("tunnel: the new client CA file trusts none of the CAs of 1 open connection(s), which were closed (1 issued by CN=Retired Device CA); those devices are refused until the file holds their CA again or they get a certificate of a CA it holds");
        expect((await reloader.reload()).mtls?.ca?.toString()).toBe(keptCa.pem + newCa.pem);
        expect(body(await sessionGet(keptSession, "/"))).toMatchObject({ mtls: true, peer: "CN=kept-device" });
        expect(body(await h2Get(running.port, "/", as(newDevice)))).toMatchObject({ mtls: true, peer: "CN=new-device" });
        await expect(h2Get(running.port, "/", as(retiredDevice))).rejects.toThrow();
        await vi.waitFor(() => expect(running.refusals.at(-1)?.failure.code).toBe("client_certificate_unknown_ca"));
        // The explicit reload of the same CA file closed nothing more and said nothing.
        expect(withdrawn).toHaveLength(1);
      } finally {
        retiredSession.close();
        keptSession.close();
      }
    });

    it("refuses material Node cannot use without touching the servers", async () => {
      await using running = await startFront(separate, { mode: "separate", mtlsNames: separate.mtls!.names });
      const broken = { ...separate, server: { ...separate.server, key: Buffer.from("not a key") } };
      expect(() => running.front.reload(broken)).toThrow(ServerError);
      expect((await h2Get(running.port, "/", { servername: names.ui, ca: pierCa.pem })).peer?.fingerprint256).toBe(fingerprint(ui.certPem));
    });
  });
});

describe("serverNameMatches", () => {
  it("matches exact names and one-label wildcards, ignoring case and a trailing dot", () => {
    expect(serverNameMatches("mtls.pier.test", "MTLS.pier.test")).toBe(true);
    expect(serverNameMatches("mtls.pier.test.", "mtls.pier.test")).toBe(true);
    expect(serverNameMatches("a.devices.pier.test", "*.devices.pier.test")).toBe(true);
    expect(serverNameMatches("devices.pier.test", "*.devices.pier.test")).toBe(false);
    expect(serverNameMatches("a.b.devices.pier.test", "*.devices.pier.test")).toBe(false);
    expect(serverNameMatches("xdevices.pier.test", "*.devices.pier.test")).toBe(false);
    expect(serverNameMatches("pier.test", "mtls.pier.test")).toBe(false);
  });
});
