/**
 * What a TLS 1.3 mTLS handshake costs a bare Node server and its client, full and resumed: the
 * floor under Pier's reconnect storm (docs/architecture.md, "TLS session resumption across
 * restarts"). A `tls.Server` (P-256 certificates from one CA, client certificate required, a fixed
 * ticket key, Pier's TLS profile) runs in a child process; this process dials it one connection
 * at a time, `--handshakes` times full and as many resuming the first session, taking turns for
 * `--rounds`, and prints CPU per handshake on each side (the server's from /proc, the client's
 * from process.cpuUsage) and how many resumed.
 *
 * Usage: npm run bench:resumption -- [--handshakes 2000] [--rounds 2]
 */
import { fork } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { CertificateAuthority, tlsProfile } from "@pier/pki";
import { benchmarkOptions, stringOptions } from "./fleet/options.ts";
import { sampleProcess } from "./fleet/server-process.ts";

const usage = "Usage: npm run bench:resumption -- [--handshakes 2000] [--rounds 2]";

interface Pem {
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

if (process.argv[2] === "--serve") serve(JSON.parse(readFileSync(process.argv[3] ?? "", "utf8")) as Pem);
else await main(process.argv.slice(2));

/** The child: a bare TLS server that answers one byte and closes. */
function serve(pem: Pem): void {
  const server = tls.createServer(
    { ...tlsProfile, key: pem.serverKey, cert: pem.serverCert, ca: pem.ca, requestCert: true, rejectUnauthorized: true, ticketKeys: Buffer.alloc(48, 7), sessionTimeout: 86_400 },
    (socket) => {
      socket.on("error", () => undefined);
      socket.end("x");
    },
  );
  server.listen(0, "127.0.0.1", () => process.send?.((server.address() as { port: number }).port));
  process.on("disconnect", () => process.exit(0));
}

async function main(argv: string[]): Promise<void> {
  const { values, integer } = benchmarkOptions(argv, usage, stringOptions({ handshakes: "2000", rounds: "2" }));
  const handshakes = integer("handshakes", values.handshakes, 10, 100_000);
  const rounds = integer("rounds", values.rounds, 1, 20);
  const dir = mkdtempSync(join(tmpdir(), "pier-tls-resumption-"));
  try {
    const authority = await CertificateAuthority.create(join(dir, "ca"), { commonName: "Resumption Bench CA" });
    const server = await authority.issueWithNewKey({ profile: "server", commonName: "localhost", subjectAltNames: [{ type: "dns", value: "localhost" }] });
    const client = await authority.issueWithNewKey({ profile: "client", commonName: "device" });
    const pem: Pem = { ca: authority.certificatePem, serverCert: server.certificatePem, serverKey: server.privateKeyPem, clientCert: client.certificatePem, clientKey: client.privateKeyPem };
    const pemFile = join(dir, "pem.json");
    writeFileSync(pemFile, JSON.stringify(pem), { mode: 0o600 });
    const child = fork(import.meta.filename, ["--serve", pemFile], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    const [port] = (await once(child, "message")) as [number];
    const options = { ...tlsProfile, host: "127.0.0.1", port, servername: "localhost", ca: pem.ca, cert: pem.clientCert, key: pem.clientKey };
    let session: Buffer | undefined;
    const dial = (resume: boolean) =>
      new Promise<boolean>((resolve, reject) => {
        const socket = tls.connect({ ...options, ...(resume && session ? { session } : {}) });
        socket.on("session", (ticket: Buffer) => (session ??= ticket));
        socket.on("data", () => undefined);
        socket.on("end", () => {
          resolve(socket.isSessionReused());
          socket.destroy();
        });
        socket.on("error", reject);
      });
    await dial(false);
    console.log(`TLS 1.3 mTLS handshakes, bare Node ${process.version} server and client on loopback, one at a time: ${handshakes} full then ${handshakes} resumed, ${rounds} round(s)`);
    for (let round = 1; round <= rounds; round++) {
      for (const resume of [false, true]) {
        const serverBefore = sampleProcess(child.pid ?? 0).cpuSeconds;
        const clientBefore = process.cpuUsage();
        const started = performance.now();
        let resumed = 0;
        for (let i = 0; i < handshakes; i++) if (await dial(resume)) resumed++;
        const wallMs = (performance.now() - started) / handshakes;
        const clientCpu = process.cpuUsage(clientBefore);
        const serverMs = ((sampleProcess(child.pid ?? 0).cpuSeconds - serverBefore) * 1000) / handshakes;
        const clientMs = (clientCpu.user + clientCpu.system) / 1000 / handshakes;
        console.log(`  round ${round} ${resume ? "resumed" : "full   "}  server ${serverMs.toFixed(2)} ms CPU, client ${clientMs.toFixed(2)} ms CPU, ${wallMs.toFixed(2)} ms wall per handshake; ${resumed}/${handshakes} resumed`);
      }
    }
    child.disconnect();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
