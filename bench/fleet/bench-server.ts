import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createFleetPki, type FleetPki } from "./fleet-pki.ts";
import { ServerLoopDelay } from "./loop-delay.ts";
import { configureFleetSettings } from "./pier-admin.ts";
import { ServerProcess } from "./server-process.ts";

/** A fleet benchmark's server, its PKI and how to read its event-loop delay. */
export interface BenchServer {
  readonly pki: FleetPki;
  readonly server: ServerProcess;
  readonly loopDelay: ServerLoopDelay;
  readonly certificatesSeconds: number;
  readonly serverStartSeconds: number;
  /** The server's limit on open files; a session costs one (and a queued connection too). */
  readonly openFileLimit: number | undefined;
}

/** Connections the server may hold beyond the fleet (API calls, reconnects whose old socket lingers). */
const connectionMargin = 1_000;

/**
 * Issues `agents` client certificates in `workDir`, starts `pier server` with them (operator
 * mTLS, `--max-connections` ≥ agents + margin, the event-loop delay probe loaded), and sets the
 * check-in interval (and trust on first connect) over the API. `onServer` gets the process as
 * soon as it exists, so the caller can stop it if anything later fails.
 */
export async function startBenchServer(options: {
  readonly repoRoot: string;
  readonly workDir: string;
  readonly agents: number;
  readonly intervalSeconds: number;
  readonly serverNodeOptions?: string;
  /** More `pier server` flags (e.g. `--max-concurrent-handshakes 256`), after the benchmark's own. */
  readonly serverArgs?: readonly string[];
  /** More environment variables for the server (e.g. a probe's, bench/fleet/heap-snapshot.ts). */
  readonly serverEnv?: Readonly<Record<string, string>>;
  readonly signal: AbortSignal;
  readonly progress: (message: string) => void;
  readonly onServer: (server: ServerProcess) => void;
}): Promise<BenchServer> {
  const { workDir, signal, progress } = options;
  progress(`issuing ${options.agents} client certificates`);
  let started = performance.now();
  const pki = await createFleetPki(join(workDir, "pki"), options.agents, `bench-${randomBytes(3).toString("hex")}`);
  const certificatesSeconds = (performance.now() - started) / 1000;
  signal.throwIfAborted();

  const password = randomBytes(18).toString("base64url");
  const passwordFile = join(workDir, "admin-password");
  writeFileSync(passwordFile, password, { mode: 0o600 });
  const dataDir = join(workDir, "data");
  const loopDelay = new ServerLoopDelay(workDir, options.repoRoot);
  progress("starting pier server");
  started = performance.now();
  // Each agent connects from its own loopback address (fleetSourceAddress), so the per-source
  // limit keeps its default; the total must hold the whole fleet.
  const server = await ServerProcess.spawn({
    repoRoot: options.repoRoot,
    dataDir,
    adminPasswordFile: passwordFile,
    mtls: pki.files,
    extraArgs: ["--max-connections", String(options.agents + connectionMargin), ...(options.serverArgs ?? [])],
    raiseOpenFileLimit: true,
    nodeOptions: loopDelay.nodeOptions(options.serverNodeOptions),
    env: { ...loopDelay.env(), ...options.serverEnv },
  });
  options.onServer(server);
  await server.ready(30_000, signal);
  await configureFleetSettings({ port: server.httpsPort, ca: readFileSync(join(dataDir, "ca", "ca.crt")), password, intervalSeconds: options.intervalSeconds });
  const serverStartSeconds = (performance.now() - started) / 1000;
  const openFileLimit = server.openFileLimit();
  progress(`server pid ${server.pid}: HTTPS 127.0.0.1:${server.httpsPort}, tunnel 127.0.0.1:${server.tunnelPort}; check-in interval ${options.intervalSeconds} s; open-file limit ${openFileLimit ?? "unknown"}`);
  if (openFileLimit !== undefined && openFileLimit < options.agents + 100) {
    progress(
      `WARNING: the server may open only ${openFileLimit} files (RLIMIT_NOFILE; raising it needs CAP_SYS_RESOURCE or a higher hard limit), fewer than ${options.agents} sessions + its own files: agents beyond that cannot connect`,
    );
  }
  return { pki, server, loopDelay, certificatesSeconds, serverStartSeconds, openFileLimit };
}
