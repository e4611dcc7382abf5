import { readFileSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { connect, createServer as createTcpServer, type AddressInfo, type Socket } from "node:net";
import { createServer, type TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { certificateToPem, encodeName, generateKeyPairSync, keyIdentifier, privateKeyToPem, profileExtensions, signCertificate, spkiSha256 } from "@pier/pki";
import { decodeEdgeKey, encodeEdgeKey } from "@pier/protocol";
import { PierApi, startPierAgent, startPierServer, tempDir, type PierServer, type TempDir } from "../src/index.ts";

/**
 * What an attacker tries first against the edge: an impostor TLS server on the address an
 * EDGE_KEY names (the agent runs with EDGE_INSECURE_POLL=1), and a hand-made key that names an
 * existing environment's id. One real server for the file; the agents are real `pier agent`s.
 */
const password = "correct horse battery staple";
let dir: TempDir;
let server: PierServer;
let api: PierApi;

beforeAll(async () => {
  dir = tempDir("edge-key-trust");
  writeFileSync(dir.file("admin-password"), `${password}\n`, { mode: 0o600 });
  server = await startPierServer({ dataDir: dir.file("data"), args: ["--admin-password-file", dir.file("admin-password")] });
  api = new PierApi(`https://localhost:${server.httpsPort}`, { ca: readFileSync(dir.file("data/ca/ca.crt")) });
  await api.login("admin", password);
});

afterAll(async () => {
  await server.stop();
  await dir[Symbol.asyncDispose]();
});

/**
 * A TLS server with its own key and a certificate for the same names as Pier's (localhost,
 * 127.0.0.1): what sits on the key's address after a DNS or routing attack. It records each
 * ClientHello (the ALPN callback runs on each) and every byte of application data it receives.
 */
async function startImpostor() {
  const { privateKey, publicKey } = generateKeyPairSync();
  const name = encodeName({ commonName: "localhost" });
  const cert = certificateToPem(
    signCertificate({
      subject: name,
      issuer: name,
      publicKey,
      signingKey: privateKey,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3600_000),
      extensions: profileExtensions("server", { subjectKey: publicKey, issuerKeyId: keyIdentifier(publicKey), subjectAltNames: [{ type: "dns", value: "localhost" }, { type: "ip", value: "127.0.0.1" }] }),
    }),
  );
  const seen = { clientHellos: 0, bytes: 0, text: "" };
  const sockets = new Set<Socket>();
  const impostor = createServer(
    {
      cert,
      key: privateKeyToPem(privateKey),
      ALPNCallback: ({ protocols }) => {
        seen.clientHellos++;
        return protocols[0];
      },
    },
    (socket: TLSSocket) => {
      socket.on("data", (chunk: Buffer) => {
        seen.bytes += chunk.length;
        seen.text += chunk.toString("latin1");
      });
      socket.on("error", () => undefined);
    },
  );
  impostor.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  impostor.on("tlsClientError", () => undefined);
  await new Promise<void>((resolve) => impostor.listen(0, "127.0.0.1", resolve));
  return {
    port: (impostor.address() as AddressInfo).port,
    seen,
    fingerprint: spkiSha256(publicKey),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        impostor.close(() => resolve());
      }),
  };
}

interface Endpoint {
  Id: number;
  EdgeID: string;
  EdgeKey?: string;
  UserTrusted: boolean;
}

/**
 * The network path to the key's address, as an attacker who controls it (DNS, routing, a hostile
 * Wi-Fi) has it: each new TCP connection goes to whichever port `route` last chose.
 */
async function startPath(initialPort: number) {
  let target = initialPort;
  const sockets = new Set<Socket>();
  const path = createTcpServer((inbound) => {
    const outbound = connect(target, "127.0.0.1");
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on("error", () => undefined);
      socket.on("close", () => {
        sockets.delete(socket);
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve) => path.listen(0, "127.0.0.1", resolve));
  return {
    port: (path.address() as AddressInfo).port,
    route: (port: number) => (target = port),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        path.close(() => resolve());
      }),
  };
}

describe("EDGE_INSECURE_POLL=1 skips the CA check, never the pin", () => {
  it("an impostor on the key's address sees a TLS handshake and nothing else; the same agent then connects to the real server", async () => {
    const impostor = await startImpostor();
    const path = await startPath(impostor.port);
    // The server's own key (its fingerprint), naming the address the attacker controls.
    const key = { ...decodeEdgeKey(server.edgeKey), tunnelAddress: `127.0.0.1:${path.port}` };
    await using agent = startPierAgent({ edgeId: "insecure-poll-1", edgeKey: encodeEdgeKey(key), dataDir: dir.file("agent-insecure"), env: { EDGE_INSECURE_POLL: "1" } });
    try {
      await agent.waitFor(/EDGE_INSECURE_POLL=1: the server's certificate is not checked against a CA file .* still verified by the SPKI fingerprint pinned in EDGE_KEY/);
      const [refusal = ""] = await agent.waitFor(/cannot connect to .*not the one pinned in EDGE_KEY.*/);
      expect(refusal).toContain(impostor.fingerprint.slice(0, 16));
      expect(refusal).toContain(key.serverFingerprint.slice(0, 16));
      expect(refusal).toMatch(/Nothing was sent to it\. EDGE_INSECURE_POLL=1 skips only the CA file's check, never this one\..*Check that 127\.0\.0\.1:\d+ reaches your Pier server itself/);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(impostor.seen.clientHellos).toBeGreaterThan(0); // precondition: the agent did dial the impostor over TLS
      expect(impostor.seen.bytes).toBe(0); // …and sent it no HTTP request: no hello, no device token
      expect(impostor.seen.text).not.toMatch(/hello|deviceToken|PRI \* HTTP/);
      expect((await api.call<Endpoint[]>("GET", "/api/endpoints")).body.some((e) => e.EdgeID === "insecure-poll-1")).toBe(false);

      // The path leads to the real server again: the same agent connects at its next attempt.
      path.route(server.tunnelPort);
      await agent.waitFor(/connected to https:\/\/127\.0\.0\.1:\d+ as environment \d+ .*waiting for association/, 45_000);
    } finally {
      await path.close();
      await impostor.close();
    }
    expect(agent.output()).toMatch(/verified by the fingerprint in EDGE_KEY only \(EDGE_INSECURE_POLL=1: no CA check\)/);
  });
});

describe("per-environment keys cannot be claimed by guessing an id", () => {
  it("a hand-made 4-field key naming an existing environment gets nothing and is audited; the real 5-field key connects", async () => {
    const created = await api.call<Endpoint>("POST", "/api/endpoints", { Name: "guessable-id" });
    expect(created.status).toBe(200);
    const id = created.body.Id;
    const realKey = decodeEdgeKey(created.body.EdgeKey ?? "");
    expect(realKey).toMatchObject({ environmentId: id, secret: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) as unknown });
    const secret = realKey.secret ?? "";
    // Shown once: reading the environment back does not reveal the key or its secret.
    const readBack = await api.call<Endpoint>("GET", `/api/endpoints/${id}`);
    expect(readBack.body.EdgeKey).toBeUndefined();
    expect(JSON.stringify(readBack.body)).not.toContain(secret);

    // The attacker knows the server's addresses and fingerprint (the fleet key is printed at start) and guesses the id.
    const guessed = encodeEdgeKey({ ...decodeEdgeKey(server.edgeKey), environmentId: id });
    expect(Buffer.from(guessed, "base64").toString().split("|")).toHaveLength(4);
    await using guesser = startPierAgent({ edgeId: "guesser-1", edgeKey: guessed, dataDir: dir.file("agent-guesser") });
    await guesser.waitFor(new RegExp(`EDGE_KEY names environment ${id} but has 4 fields, without the environment's secret`));
    await guesser.waitFor(new RegExp(`cannot connect to .*Refused: this EDGE_KEY names environment ${id} but carries no secret .*Nothing was enrolled; the attempt was recorded\\. Copy the key shown when the environment was created`));
    await guesser.stop();

    const after = await api.call<Endpoint[]>("GET", "/api/endpoints");
    expect(after.body.find((e) => e.Id === id)).toMatchObject({ EdgeID: "" }); // precondition: the environment exists, unclaimed
    expect(after.body.some((e) => e.EdgeID === "guesser-1")).toBe(false); // nothing bound or created…
    expect((await api.call<Endpoint[]>("GET", "/api/endpoints?edgeDeviceUntrusted=true")).body.some((e) => e.EdgeID === "guesser-1")).toBe(false); // …not even in the waiting room
    const events = await api.call<Array<{ Kind: string; EdgeID: string; SourceAddress: string; Detail: Record<string, unknown> }>>("GET", `/api/endpoints/${id}/events`);
    expect(events.body).toContainEqual({ Id: expect.any(Number) as unknown, At: expect.any(String) as unknown, Kind: "refused_edge_key", EdgeID: "guesser-1", SourceAddress: "127.0.0.1", Detail: { reason: "missing" } });

    await using device = startPierAgent({ edgeId: "device-with-key", edgeKey: created.body.EdgeKey ?? "", dataDir: dir.file("agent-device") });
    await device.waitFor(new RegExp(`connected to https://\\S+ as environment ${id}: associated`));
    expect((await api.call<Endpoint>("GET", `/api/endpoints/${id}`)).body).toMatchObject({ EdgeID: "device-with-key", UserTrusted: true });
    expect(device.output()).not.toContain(secret); // the agent never logs the key's secret
    expect(server.output()).not.toContain(secret); // nor does the server
    const trail = JSON.stringify((await api.call("GET", `/api/endpoints/${id}/events`)).body);
    expect(trail).not.toContain(secret);
    // A claimed environment's key cannot be remade to move it.
    expect((await api.call("POST", `/api/endpoints/${id}/edge/key`)).status).toBe(409);
  });

  it("making a new key needs an administrator and refuses a body over the API's 1 MiB cap", async () => {
    const created = await api.call<Endpoint>("POST", "/api/endpoints", { Name: "rekey-guarded" });
    const path = `/api/endpoints/${created.body.Id}/edge/key`;
    const anonymous = new PierApi(`https://localhost:${server.httpsPort}`, { ca: readFileSync(dir.file("data/ca/ca.crt")) });
    const refused = await anonymous.call<{ code: string }>("POST", path);
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe("unauthorized");
    // Declared over the cap, answered before the body is sent (a client still writing would see the server close).
    const oversized = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpsRequest({ host: "127.0.0.1", port: server.httpsPort, path, method: "POST", servername: "localhost", ca: readFileSync(dir.file("data/ca/ca.crt")), agent: false, headers: { "content-type": "application/json", "content-length": 2 * 1024 * 1024 } }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on("error", reject);
      req.write("{");
    });
    expect(oversized.status).toBe(413);
    expect(JSON.parse(oversized.body)).toMatchObject({ code: "payload_too_large" });
    // Neither touched the key: the administrator's plain call still makes one.
    expect((await api.call<Endpoint>("POST", path)).status).toBe(200);
  });

  it("a new key replaces an unclaimed environment's key: the old one is refused, the new one connects", async () => {
    const created = await api.call<Endpoint>("POST", "/api/endpoints", { Name: "rekeyed" });
    const id = created.body.Id;
    const remade = await api.call<Endpoint>("POST", `/api/endpoints/${id}/edge/key`);
    expect(remade.status).toBe(200);
    expect(decodeEdgeKey(remade.body.EdgeKey ?? "").secret).not.toBe(decodeEdgeKey(created.body.EdgeKey ?? "").secret);
    await using stale = startPierAgent({ edgeId: "stale-key", edgeKey: created.body.EdgeKey ?? "", dataDir: dir.file("agent-stale") });
    await stale.waitFor(new RegExp(`cannot connect to .*Refused: the secret in this EDGE_KEY is not the one of environment ${id}'s key`));
    await stale.stop();
    await using fresh = startPierAgent({ edgeId: "fresh-key", edgeKey: remade.body.EdgeKey ?? "", dataDir: dir.file("agent-fresh") });
    await fresh.waitFor(new RegExp(`as environment ${id}: associated`));
  });
});
