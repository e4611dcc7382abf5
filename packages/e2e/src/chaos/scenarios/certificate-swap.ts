import { X509Certificate, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CertificateAuthority, caPaths } from "@pier/pki";
import { wallNow } from "../../../../../bench/fleet/fleet.ts";
import { FleetGroup } from "../../../../../bench/fleet/fleet-group.ts";
import { type AgentIdentity, InProcessIssuer, createFleetPki } from "../../../../../bench/fleet/fleet-pki.ts";
import { configureFleetSettings, httpsJson } from "../../../../../bench/fleet/pier-admin.ts";
import { ServerProcess } from "../../../../../bench/fleet/server-process.ts";
import { type HandshakeAttempt, HandshakeStream, type StreamIdentity } from "../handshake-stream.ts";
import type { ChaosOptions, ChaosRecorder, ChaosScenario } from "../scenario.ts";

const repoRoot = join(import.meta.dirname, "..", "..", "..", "..", "..");
const name = "certificate-swap";
/** The watcher's debounce is 300 ms; a swap is expected to be served well within this. */
const servedWithinMs = 15_000;

/** A server certificate and its key, and the fingerprint clients see. */
interface ServerPair {
  readonly certificatePem: string;
  readonly keyPem: string;
  readonly fingerprint: string;
}

/** Everything the scenario's certificates come from. */
interface SwapPki {
  /** The fleet's CA (`A`), which also signs the first server certificates. */
  readonly caA: string;
  /** The CA of every tenth agent (`B`), withdrawn at the end. */
  readonly caB: string;
  /** A CA added to the client bundle (`C`), issuing nobody yet. */
  readonly caC: string;
  /** A new server CA (`S`) the agents already trust. */
  readonly caS: string;
  /** A1 (the first), A2 (same CA, new key), A3 (for the torn pair), S1 (from the new CA). */
  readonly servers: { readonly a1: ServerPair; readonly a2: ServerPair; readonly a3: ServerPair; readonly s1: ServerPair };
  /** The fleet in order: agent i is from B when i % 10 === 9. */
  readonly fleet: readonly AgentIdentity[];
  /** Fleet indexes of B's agents. */
  readonly withdrawn: ReadonlySet<number>;
  /** Identities of the handshake stream: three of A (kept), one of B (withdrawn). */
  readonly stream: readonly StreamIdentity[];
}

const fingerprintOf = (pem: string) => new X509Certificate(pem).fingerprint256;

async function serverPair(ca: CertificateAuthority): Promise<ServerPair> {
  const issued = await ca.issueWithNewKey({ profile: "server", commonName: "localhost", subjectAltNames: [{ type: "dns", value: "localhost" }], days: 2 });
  return { certificatePem: issued.certificatePem, keyPem: issued.privateKeyPem, fingerprint: fingerprintOf(issued.certificatePem) };
}

async function createSwapPki(dir: string, agents: number): Promise<SwapPki> {
  const withdrawnCount = Math.floor(agents / 10);
  const fromA = agents - withdrawnCount;
  const fleetPki = await createFleetPki(join(dir, "a"), fromA + 3, "swap-a");
  const caA = CertificateAuthority.open(join(dir, "a", "mtls-ca"));
  const caB = await CertificateAuthority.create(join(dir, "b"), { commonName: "Pier chaos CA B" });
  const caC = await CertificateAuthority.create(join(dir, "c"), { commonName: "Pier chaos CA C" });
  const caS = await CertificateAuthority.create(join(dir, "s"), { commonName: "Pier chaos server CA S" });
  const issuerB = new InProcessIssuer(caB);
  const now = Date.now();
  const fromB = Array.from({ length: withdrawnCount + 1 }, (_, i) => {
    const edgeId = `swap-b-${String(i).padStart(4, "0")}`;
    return { edgeId, ...issuerB.issue(edgeId, new Date(now - 5 * 60_000), new Date(now + 2 * 86_400_000)) };
  });
  const fleet: AgentIdentity[] = [];
  const withdrawn = new Set<number>();
  let a = 0;
  let b = 0;
  for (let i = 0; i < agents; i++) {
    if (i % 10 === 9 && b < withdrawnCount) {
      withdrawn.add(i);
      fleet.push(fromB[b++]!);
    } else fleet.push(fleetPki.agents[a++]!);
  }
  const stream: StreamIdentity[] = [
    ...fleetPki.agents.slice(fromA, fromA + 3).map((identity) => ({ group: "kept", certificatePem: identity.certificatePem, keyPem: identity.keyPem })),
    { group: "withdrawn", certificatePem: fromB[withdrawnCount]!.certificatePem, keyPem: fromB[withdrawnCount]!.keyPem },
  ];
  const a1Pem = readFileSync(fleetPki.files.serverCertificate, "utf8");
  const a1: ServerPair = { certificatePem: a1Pem, keyPem: readFileSync(fleetPki.files.serverKey, "utf8"), fingerprint: fingerprintOf(a1Pem) };
  const pem = (ca: CertificateAuthority) => readFileSync(caPaths(ca.dir).certificate, "utf8");
  return {
    caA: pem(caA),
    caB: pem(caB),
    caC: pem(caC),
    caS: pem(caS),
    servers: { a1, a2: await serverPair(caA), a3: await serverPair(caA), s1: await serverPair(caS) },
    fleet,
    withdrawn,
    stream,
  };
}

/** Writes `data` over `path` in place: truncate, then write (what `cp` and `cat >` do). */
function writeInPlace(path: string, data: string): void {
  writeFileSync(path, data);
}

/** Writes `data` beside `path` and renames it over `path` (what editors, certbot and Kubernetes do). */
function writeByRename(path: string, data: string, mode = 0o644): void {
  const temporary = `${path}.${randomBytes(4).toString("hex")}.tmp`;
  writeFileSync(temporary, data, { mode });
  renameSync(temporary, path);
}

/** A running `pier server`, the admin's session and the fleet on its tunnel listener. */
interface Stand {
  readonly server: ServerProcess;
  readonly apiCa: Buffer;
  readonly jwt: string;
  readonly fleet: FleetGroup;
  readonly stream: HandshakeStream;
}

/** What one swap must do to the fleet and the stream. */
interface SwapExpectation {
  /** The server certificate served afterwards (its fingerprint), when the swap changes it. */
  readonly serves?: ServerPair;
  /** The certificate served before, which must not come back once the new one was served. */
  readonly replaces?: ServerPair;
  /** The fleet indexes whose sessions must end; every other must stay. */
  readonly drops: ReadonlySet<number>;
  /** Stream groups whose handshakes must be refused from the swap on. */
  readonly refusedGroups?: readonly string[];
}

/** What the scenario adds up over every swap. */
interface Totals {
  handshakes: number;
  failed: number;
  lost: number;
}

/**
 * Runs one swap under the fleet and the handshake stream and checks what the issue promises:
 * the expected sessions (usually none) end, no other; no handshake of a trusted identity fails
 * from the swap to the end of its settling; the new server certificate is served, and the old
 * one never again after it.
 */
async function swap(label: string, stand: Stand, recorder: ChaosRecorder, totals: Totals, expectation: SwapExpectation, action: () => Promise<number | void> | void): Promise<void> {
  const before = await stand.fleet.snapshot();
  const startedAt = performance.now();
  const startedWall = wallNow();
  // An action may say when the swap was complete (the torn pair: when the key followed).
  const completedAt = (await action()) ?? startedAt;
  if (expectation.serves) {
    const served = await stand.stream.firstServed(expectation.serves.fingerprint, completedAt, servedWithinMs);
    if (recorder.check(`${label}: the new certificate is served`, served !== undefined, `no handshake saw ${expectation.serves.fingerprint} within ${servedWithinMs} ms`)) {
      recorder.figure(`${label} served after`, Math.round(served! - completedAt), "ms");
    }
  }
  // Long enough for the watcher (300 ms debounce), the reload and the closing of withdrawn sessions.
  const settleUntil = performance.now() + 1_500;
  const expectedOpen = before.size - expectation.drops.size;
  // When the fleet was first seen down to the sessions that must stay: the new trust was in force.
  let droppedAt: number | undefined;
  for (;;) {
    const { connected } = await stand.fleet.snapshot();
    if (connected <= expectedOpen) droppedAt ??= performance.now();
    if (droppedAt !== undefined && performance.now() >= Math.max(settleUntil, expectation.refusedGroups ? droppedAt + 1_500 : 0)) break;
    if (performance.now() > settleUntil + 20_000) break;
    await sleep(100);
  }
  const recovery = await stand.fleet.recovery();
  const lost: number[] = [];
  recovery.lostAt.forEach((at, index) => {
    if (at >= startedWall) lost.push(index);
  });
  const unexpected = lost.filter((index) => !expectation.drops.has(index));
  const missing = [...expectation.drops].filter((index) => !lost.includes(index));
  totals.lost += unexpected.length;
  if (expectation.drops.size === 0) recorder.check(`${label}: no session dropped`, lost.length === 0, `${lost.length} of ${before.size} sessions ended (agents ${lost.slice(0, 10).join(", ")}…)`);
  else {
    recorder.figure(`${label} dropped`, lost.length);
    recorder.figure(`${label} expected`, expectation.drops.size);
    recorder.check(`${label}: exactly the withdrawn CA's sessions dropped`, unexpected.length === 0 && missing.length === 0, `${unexpected.length} dropped that should stay (${unexpected.slice(0, 10).join(", ")}), ${missing.length} stayed that should drop (${missing.slice(0, 10).join(", ")})`);
  }

  const attempts = stand.stream.since(startedAt);
  const refused = new Set(expectation.refusedGroups ?? []);
  const failed = attempts.filter((attempt) => !attempt.ok && !refused.has(attempt.group));
  totals.handshakes += attempts.length;
  totals.failed += failed.length;
  recorder.check(`${label}: no handshake failed`, failed.length === 0 && attempts.length > 0, attempts.length === 0 ? "the stream made no handshake during the swap" : describeFailures(failed, attempts.length));
  if (refused.size > 0) {
    const after = attempts.filter((attempt) => refused.has(attempt.group) && droppedAt !== undefined && attempt.startedAt > droppedAt);
    const accepted = after.filter((attempt) => attempt.ok);
    recorder.check(`${label}: the withdrawn CA's handshakes are refused`, after.length > 0 && accepted.length === 0, `${accepted.length} of ${after.length} handshakes of the withdrawn CA accepted after its sessions were closed`);
  }
  if (expectation.serves && expectation.replaces) {
    const first = attempts.find((attempt) => attempt.served === expectation.serves!.fingerprint);
    const back = first ? attempts.filter((attempt) => attempt.startedAt > first.endedAt && attempt.served === expectation.replaces!.fingerprint) : [];
    recorder.check(`${label}: the old certificate never comes back`, back.length === 0, `${back.length} handshakes saw the old certificate after the new one`);
  }
}

function describeFailures(failed: readonly HandshakeAttempt[], total: number): string {
  const reasons = new Map<string, number>();
  for (const attempt of failed) reasons.set(`${attempt.group}: ${attempt.error ?? "?"}`, (reasons.get(`${attempt.group}: ${attempt.error ?? "?"}`) ?? 0) + 1);
  return `${failed.length} of ${total} failed: ${[...reasons].map(([reason, count]) => `${count}× ${reason}`).join("; ")}`;
}

const refusedCount = (output: string) => output.split("TLS reload refused").length - 1;

/**
 * Holds a torn state at least 1.5 s (five times the watcher's debounce), and until the server
 * logged one more refused reload (at most 10 s): a loaded machine reads the files late.
 */
async function refusalLogged(server: ServerProcess, before: number): Promise<void> {
  const started = performance.now();
  while (performance.now() - started < 10_000 && (performance.now() - started < 1_500 || refusedCount(server.output()) <= before)) await sleep(100);
}

async function login(port: number, ca: Buffer, password: string): Promise<string> {
  const answer = await httpsJson({ port, ca, method: "POST", path: "/api/auth", body: { Username: "admin", Password: password } });
  const jwt = (answer.body as { jwt?: unknown } | undefined)?.jwt;
  if (answer.status !== 200 || typeof jwt !== "string") throw new Error(`POST /api/auth answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return jwt;
}

/** Starts the fleet against `server` and waits until every agent is in; then the handshake stream. */
async function startStand(server: ServerProcess, apiCa: Buffer, pki: SwapPki, trust: Buffer, password: string, options: ChaosOptions, recorder: ChaosRecorder, route: string): Promise<Stand> {
  const jwt = await login(server.httpsPort, apiCa, password);
  const fleet = new FleetGroup(options.short ? 1 : 2);
  const agents = pki.fleet.length;
  await fleet.start(pki.fleet, { port: server.tunnelPort, ca: trust, timeoutMs: 15_000, welcomeTimeoutMs: 60_000, intervalMs: (options.short ? 5 : 10) * 1000, rampMs: options.short ? 4_000 : 20_000, retryUntilWall: wallNow() + 3_600_000 });
  const started = performance.now();
  const deadline = started + (options.short ? 60_000 : 180_000);
  let connected = 0;
  while (performance.now() < deadline) {
    connected = (await fleet.snapshot()).connected;
    if (connected === agents) break;
    await sleep(250);
  }
  recorder.check(`${route}: the fleet connected`, connected === agents, `${connected} of ${agents} connected; failures: ${JSON.stringify((await fleet.snapshot()).connectFailures.slice(0, 5))}`);
  const { connectFailures, reconnect } = await fleet.snapshot();
  options.log(`${route}: ${connected}/${agents} agents connected in ${((performance.now() - started) / 1000).toFixed(1)} s (${reconnect.dials} dials; failures: ${connectFailures.slice(0, 3).map(([reason, count]) => `${count}× ${reason}`).join("; ") || "none"})`);
  // A real fleet's sessions are hours old when a CA is withdrawn: their agents redial from the
  // first step of their backoff, whatever a loaded ramp made it climb to.
  await fleet.markSessionsHealthy();
  const stream = HandshakeStream.start({ port: server.tunnelPort, serverName: "localhost", trust, identities: pki.stream, concurrency: 4, pauseMs: options.short ? 40 : 20 });
  // The stream's first handshakes, before the first swap.
  await sleep(500);
  return { server, apiCa, jwt, fleet, stream };
}

/** Stops the stream and the fleet; the servers stop together at the end of the run. */
async function stopStand(stand: Partial<Stand>): Promise<void> {
  await stand.stream?.stop();
  await stand.fleet?.stop();
}

/** Operator mTLS from files (`--mtlscacert/--mtlscert/--mtlskey`): swaps by rewriting them, and the reload call. */
/** The `--mtls*` files of the first server: the certificate of A, the client bundle `A + B`. */
interface MtlsFiles {
  readonly caCertificate: string;
  readonly serverCertificate: string;
  readonly serverKey: string;
}

function writeMtlsFiles(dir: string, pki: SwapPki): MtlsFiles {
  const tls = join(dir, "tls");
  mkdirSync(tls, { mode: 0o700 });
  const files = { caCertificate: join(tls, "client-ca.pem"), serverCertificate: join(tls, "server.crt"), serverKey: join(tls, "server.key") };
  writeFileSync(files.caCertificate, pki.caA + pki.caB);
  writeFileSync(files.serverCertificate, pki.servers.a1.certificatePem);
  writeFileSync(files.serverKey, pki.servers.a1.keyPem, { mode: 0o600 });
  return files;
}

/** A `pier server` whose API answers, with the fleet's settings in place (pushed to `servers` at once, for the clean-up). */
interface StartedServer {
  readonly server: ServerProcess;
  readonly apiCa: Buffer;
}

async function startServer(dataDir: string, passwordFile: string, password: string, mtls: MtlsFiles | undefined, options: ChaosOptions, servers: ServerProcess[]): Promise<StartedServer> {
  const server = await ServerProcess.spawn({ repoRoot, dataDir, adminPasswordFile: passwordFile, ...(mtls ? { mtls } : {}), raiseOpenFileLimit: true });
  servers.push(server);
  await server.ready(90_000, AbortSignal.timeout(120_000));
  const apiCa = readFileSync(join(dataDir, "ca", "ca.crt"));
  await configureFleetSettings({ port: server.httpsPort, ca: apiCa, password, intervalSeconds: options.short ? 5 : 10 });
  return { server, apiCa };
}

async function swapFiles(started: StartedServer, files: MtlsFiles, pki: SwapPki, trust: Buffer, password: string, options: ChaosOptions, recorder: ChaosRecorder, totals: Totals): Promise<void> {
  const { server, apiCa } = started;
  const stand: { -readonly [K in keyof Stand]?: Stand[K] } = { server };
  try {
    Object.assign(stand, await startStand(server, apiCa, pki, trust, password, options, recorder, "files"));
    const ready = stand as Stand;
    const { a1, a2, a3, s1 } = pki.servers;
    const none = new Set<number>();

    options.log("files: server certificate from the same CA, key and certificate renamed into place");
    await swap("same-CA cert (rename)", ready, recorder, totals, { serves: a2, replaces: a1, drops: none }, () => {
      writeByRename(files.serverKey, a2.keyPem, 0o600);
      writeByRename(files.serverCertificate, a2.certificatePem);
    });

    options.log("files: server certificate from a new CA the agents trust, rewritten in place");
    await swap("new-CA cert (in place)", ready, recorder, totals, { serves: s1, replaces: a2, drops: none }, () => {
      writeInPlace(files.serverCertificate, s1.certificatePem);
      writeInPlace(files.serverKey, s1.keyPem);
    });

    options.log("files: a torn pair (new certificate, old key for 1.5 s or until the reload is refused)");
    const pairRefusalsBefore = refusedCount(server.output());
    await swap("torn pair", ready, recorder, totals, { serves: a3, replaces: s1, drops: none }, async () => {
      const tornAt = performance.now();
      writeInPlace(files.serverCertificate, a3.certificatePem);
      await refusalLogged(server, pairRefusalsBefore);
      const during = ready.stream.since(tornAt);
      recorder.check("torn pair: the old pair stays in force", during.length > 0 && during.every((attempt) => attempt.ok && attempt.served === s1.fingerprint), `${during.length} handshakes while torn: ${describeFailures(during.filter((attempt) => !attempt.ok || attempt.served !== s1.fingerprint), during.length)}`);
      recorder.check("torn pair: the reload is refused and says why", refusedCount(server.output()) > pairRefusalsBefore, `no "TLS reload refused" line; server output:\n${server.output().slice(-2000)}`);
      const completedAt = performance.now();
      writeInPlace(files.serverKey, a3.keyPem);
      return completedAt;
    });

    options.log("files: client CA bundle + C, rewritten in place and reloaded through POST /api/settings/tls/reload");
    await swap("client CA + C (reload API)", ready, recorder, totals, { drops: none }, async () => {
      writeInPlace(files.caCertificate, pki.caA + pki.caB + pki.caC);
      const answer = await httpsJson({ port: server.httpsPort, ca: ready.apiCa, jwt: ready.jwt, method: "POST", path: "/api/settings/tls/reload" });
      recorder.check("POST /api/settings/tls/reload answers 200", answer.status === 200, `${answer.status}: ${JSON.stringify(answer.body)}`);
    });

    options.log("files: a torn client CA bundle (cut inside B's certificate for 1.5 s or until the reload is refused), rewritten in place");
    const bundleRefusalsBefore = refusedCount(server.output());
    await swap("torn CA bundle", ready, recorder, totals, { drops: none }, async () => {
      const whole = pki.caA + pki.caB + pki.caC;
      // What a reader sees while a writer is half-way through B: A whole, B cut short.
      writeInPlace(files.caCertificate, whole.slice(0, pki.caA.length + Math.floor(pki.caB.length / 2)));
      await refusalLogged(server, bundleRefusalsBefore);
      recorder.check("torn CA bundle: the reload is refused and says why", refusedCount(server.output()) > bundleRefusalsBefore, `no "TLS reload refused" line; server output:\n${server.output().slice(-2000)}`);
      writeInPlace(files.caCertificate, whole);
    });

    const upload = await httpsJson({ port: server.httpsPort, ca: ready.apiCa, jwt: ready.jwt, method: "PUT", path: "/api/settings/edge/mtls", body: { UseSeparateCert: true, CaCert: pki.caA, Cert: a3.certificatePem, Key: a3.keyPem } });
    recorder.check("files: an upload is refused while the flags name the files", upload.status === 409, `${upload.status}: ${JSON.stringify(upload.body)}`);

    options.log(`files: client CA bundle without B (${pki.withdrawn.size} agents), renamed into place`);
    const failuresBefore = totalOf((await ready.fleet.snapshot()).connectFailures);
    const refusalsBefore = await tunnelRefusals(ready);
    await swap("withdraw B (rename)", ready, recorder, totals, { drops: pki.withdrawn, refusedGroups: ["withdrawn"] }, () => {
      writeByRename(files.caCertificate, pki.caA + pki.caC);
    });
    await checkRefusedOnReconnect("files", ready, pki, failuresBefore, refusalsBefore, recorder);
  } finally {
    await stopStand(stand);
  }
}

const totalOf = (counts: readonly [string, number][]) => counts.reduce((sum, [, count]) => sum + count, 0);

/** `pier_tls_refusals_total` of the tunnel listener, by reason, from `GET /metrics`. */
async function tunnelRefusals(stand: Stand): Promise<Map<string, number>> {
  const answer = await httpsJson({ port: stand.server.httpsPort, ca: stand.apiCa, jwt: stand.jwt, method: "GET", path: "/metrics" });
  const counts = new Map<string, number>();
  for (const match of String(answer.body).matchAll(/^pier_tls_refusals_total\{listener="tunnel",reason="([^"]+)"\} (\d+)$/gm)) counts.set(match[1]!, Number(match[2]));
  return counts;
}

/** The withdrawn agents dial again (their backoff) and are refused; none of them gets back in. */
async function checkRefusedOnReconnect(route: string, stand: Stand, pki: SwapPki, failuresBefore: number, refusalsBefore: Map<string, number>, recorder: ChaosRecorder): Promise<void> {
  const deadline = performance.now() + 30_000;
  let snapshot = await stand.fleet.snapshot();
  while (performance.now() < deadline && totalOf(snapshot.connectFailures) - failuresBefore < pki.withdrawn.size) {
    await sleep(250);
    snapshot = await stand.fleet.snapshot();
  }
  const refused = totalOf(snapshot.connectFailures) - failuresBefore;
  const recovery = await stand.fleet.recovery();
  const back = [...pki.withdrawn].filter((index) => recovery.open[index] === 1);
  const kept = recovery.open.reduce((sum, open, index) => sum + (open === 1 && !pki.withdrawn.has(index) ? 1 : 0), 0);
  recorder.figure(`${route} refused redials`, refused);
  recorder.check(`${route}: the withdrawn agents are refused when they dial again`, refused >= pki.withdrawn.size && back.length === 0, `${refused} refused dials, ${back.length} withdrawn agents back in; reasons: ${JSON.stringify(snapshot.connectFailures.slice(0, 5))}`);
  recorder.check(`${route}: the other agents stay connected`, kept === pki.fleet.length - pki.withdrawn.size, `${kept} of ${pki.fleet.length - pki.withdrawn.size} connected`);
  // What the server's log says about the sessions it closed (warn, so at every log level but error).
  const said = [...stand.server.output().matchAll(/tunnel: the new client CA file trusts none of the CAs of (\d+) open connection\(s\), which were closed \((\d+) issued by CN=Pier chaos CA B/g)].at(-1);
  recorder.check(`${route}: the server logs the sessions the withdrawal closed, and their CA`, Number(said?.[2] ?? 0) >= pki.withdrawn.size, said ? said[0] : `no such line; server output:\n${stand.server.output().slice(-1500)}`);
  // What an operator's dashboard shows: the refusals, by reason.
  const refusals = await tunnelRefusals(stand);
  const unknownCa = (refusals.get("client_certificate_unknown_ca") ?? 0) - (refusalsBefore.get("client_certificate_unknown_ca") ?? 0);
  recorder.check(`${route}: pier_tls_refusals_total counts them as client_certificate_unknown_ca`, unknownCa >= pki.withdrawn.size, `${unknownCa} more; by reason: ${JSON.stringify([...refusals])}`);
}

/** The mTLS set uploaded through the API (`PUT /api/settings/edge/mtls`): swaps by uploading again. */
async function swapApi(started: StartedServer, pki: SwapPki, trust: Buffer, password: string, options: ChaosOptions, recorder: ChaosRecorder, totals: Totals): Promise<void> {
  const { server, apiCa } = started;
  const stand: { -readonly [K in keyof Stand]?: Stand[K] } = { server };
  try {
    const jwt = await login(server.httpsPort, apiCa, password);
    const { a1, s1 } = pki.servers;
    // The upload's CA file must hold the server certificate's issuer too (docs/security.md).
    const put = async (caCert: string, pair: ServerPair) => {
      const answer = await httpsJson({ port: server.httpsPort, ca: apiCa, jwt, method: "PUT", path: "/api/settings/edge/mtls", body: { UseSeparateCert: true, CaCert: caCert, Cert: pair.certificatePem, Key: pair.keyPem } });
      if (answer.status !== 200) throw new Error(`PUT /api/settings/edge/mtls answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    };
    const impact = async (caCert: string, pair: ServerPair): Promise<number> => {
      const answer = await httpsJson({ port: server.httpsPort, ca: apiCa, jwt, method: "POST", path: "/api/settings/edge/mtls/impact", body: { Cert: pair.certificatePem, CaCert: caCert, Host: "127.0.0.1" } });
      if (answer.status !== 200) throw new Error(`POST /api/settings/edge/mtls/impact answered ${answer.status}: ${JSON.stringify(answer.body)}`);
      return (answer.body as { Disconnected: number }).Disconnected;
    };
    await put(pki.caA + pki.caB, a1);
    Object.assign(stand, await startStand(server, apiCa, pki, trust, password, options, recorder, "api"));
    const ready = stand as Stand;
    const none = new Set<number>();

    options.log("api: server certificate from a new CA the agents trust, uploaded");
    const withS = pki.caA + pki.caB + pki.caS;
    const predictedKeep = await impact(withS, s1);
    recorder.check("api: the impact check predicts no drop for a bundle that keeps every issuer", predictedKeep === 0, `POST /api/settings/edge/mtls/impact says ${predictedKeep} agents would be disconnected`);
    await swap("api new-CA cert", ready, recorder, totals, { serves: s1, replaces: a1, drops: none }, () => put(withS, s1));

    options.log("api: client CA bundle + C, uploaded");
    await swap("api client CA + C", ready, recorder, totals, { drops: none }, () => put(withS + pki.caC, s1));

    options.log(`api: client CA bundle without B (${pki.withdrawn.size} agents), uploaded`);
    const withoutB = pki.caA + pki.caS + pki.caC;
    const predicted = recorder.figure("api predicted", await impact(withoutB, s1));
    recorder.check("api: the impact check predicts the drops", predicted === pki.withdrawn.size, `POST /api/settings/edge/mtls/impact says ${predicted}, ${pki.withdrawn.size} agents hold a certificate of the withdrawn CA`);
    const failuresBefore = totalOf((await ready.fleet.snapshot()).connectFailures);
    const refusalsBefore = await tunnelRefusals(ready);
    await swap("api withdraw B", ready, recorder, totals, { drops: pki.withdrawn, refusedGroups: ["withdrawn"] }, () => put(withoutB, s1));
    await checkRefusedOnReconnect("api", ready, pki, failuresBefore, refusalsBefore, recorder);
  } finally {
    await stopStand(stand);
  }
}

/**
 * Issue 22, "Certificate swap under load": the server certificate and the client CA bundle
 * replaced under a fleet of simulated agents and a steady stream of fresh handshakes, first by
 * rewriting the `--mtls*` files (by rename, in place, torn, and with the reload call), then
 * through the upload API. No session drops unless its trust is withdrawn, no handshake fails.
 */
export const certificateSwap: ChaosScenario = {
  name,
  summary: "server certificate and client CA swapped (files and API) under a fleet: no session drops unless its CA is withdrawn, no handshake fails",
  async run(options, recorder) {
    const agents = options.short ? 200 : 1000;
    const dir = mkdtempSync(join(tmpdir(), `pier-chaos-${name}-`));
    const servers: ServerProcess[] = [];
    try {
      const pki = await recorder.timed("certificates", () => createSwapPki(join(dir, "pki"), agents));
      const trust = Buffer.from(pki.caA + pki.caS);
      const password = randomBytes(18).toString("base64url");
      const passwordFile = join(dir, "admin-password");
      writeFileSync(passwordFile, password, { mode: 0o600 });
      recorder.figure("agents", agents);
      const totals: Totals = { handshakes: 0, failed: 0, lost: 0 };
      const files = writeMtlsFiles(dir, pki);
      // Both servers start at once (the second waits idle for its turn): a start is seconds of CPU.
      const [filesServer, apiServer] = await Promise.all([startServer(join(dir, "data-files"), passwordFile, password, files, options, servers), startServer(join(dir, "data-api"), passwordFile, password, undefined, options, servers)]);
      options.log(`two servers ready (--mtls* files on ${filesServer.server.tunnelPort}, the upload API on ${apiServer.server.tunnelPort})`);
      await swapFiles(filesServer, files, pki, trust, password, options, recorder, totals);
      await swapApi(apiServer, pki, trust, password, options, recorder, totals);
      recorder.figure("handshakes during swaps", totals.handshakes);
      recorder.figure("failed handshakes", totals.failed);
      recorder.figure("sessions lost", totals.lost);
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
