import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { tlsProfile } from "@pier/pki";
import { childrenOf } from "../fleet/process-tree.ts";

/** What to start nginx with: the same certificate, key and client CA as Pier's edge listener. */
export interface NginxOptions {
  /** The nginx binary (Debian's `/usr/sbin/nginx`). */
  readonly binary: string;
  /** Prefix directory of this nginx: its configuration, pid file, error log and temp paths. */
  readonly dir: string;
  readonly port: number;
  readonly files: { readonly caCertificate: string; readonly serverCertificate: string; readonly serverKey: string };
}

/**
 * Pier's TLS profile (packages/pki/src/tls-profile.ts) in nginx's words: TLS 1.2 and 1.3, the
 * same TLS 1.2 AEAD suites in the same order (the server's), the same TLS 1.3 suites, curves,
 * ChaCha20 for clients that prefer it, no renegotiation (nginx turns compression off itself).
 */
export function nginxTlsDirectives(): string[] {
  const suites = tlsProfile.ciphers.split(":");
  const tls13 = suites.filter((suite) => suite.startsWith("TLS_"));
  const tls12 = suites.filter((suite) => !suite.startsWith("TLS_"));
  if (tlsProfile.minVersion !== "TLSv1.2") throw new Error(`nginx-process.ts maps minVersion TLSv1.2 only; Pier's profile now says ${tlsProfile.minVersion}`);
  return [
    "ssl_protocols TLSv1.2 TLSv1.3;",
    `ssl_ciphers ${tls12.join(":")};`,
    `ssl_conf_command Ciphersuites ${tls13.join(":")};`,
    `ssl_ecdh_curve ${tlsProfile.ecdhCurve};`,
    `ssl_prefer_server_ciphers ${tlsProfile.honorCipherOrder ? "on" : "off"};`,
    "ssl_conf_command Options PrioritizeChaCha,NoRenegotiation;",
  ];
}

/** nginx.conf for one worker serving `return 200` over mTLS on 127.0.0.1:`port`. */
function configuration(options: NginxOptions): string {
  const temp = (name: string) => join(options.dir, "temp", name);
  return `# Written by bench/handshakes/nginx-process.ts for one benchmark run.
# One worker: Node's TLS runs on one thread, so one nginx worker is the fair comparison.
worker_processes 1;
daemon off;
master_process on;
pid ${join(options.dir, "nginx.pid")};
error_log ${join(options.dir, "error.log")} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${temp("body")};
  proxy_temp_path ${temp("proxy")};
  fastcgi_temp_path ${temp("fastcgi")};
  uwsgi_temp_path ${temp("uwsgi")};
  scgi_temp_path ${temp("scgi")};
  server {
    # The backlog Pier's listeners ask for (tls-front.ts listenBacklog).
    # HTTP/2 for clients that offer it in ALPN (bench:handshakes --http2), HTTP/1.1 for the others.
    listen 127.0.0.1:${options.port} ssl http2 backlog=4096;
    server_name localhost;
    ssl_certificate ${options.files.serverCertificate};
    ssl_certificate_key ${options.files.serverKey};
    ssl_client_certificate ${options.files.caCertificate};
    ssl_verify_client on;
    ${nginxTlsDirectives().join("\n    ")}
    location / { return 200 "ok\\n"; }
  }
}
`;
}

/**
 * nginx started for a benchmark from a prefix directory of its own (configuration, pid file,
 * error log, temp paths): no system service, no file outside `dir`. Run by root, its master stays
 * root and its worker runs as nginx's default user (nobody); run by anyone else, both run as
 * that user.
 *
 * @example
 * const nginx = await NginxProcess.start({ binary: "/usr/sbin/nginx", dir, port, files: pki.files });
 * sampleProcess(nginx.workerPids()[0]);
 * await nginx.stop();
 */
export class NginxProcess {
  readonly port: number;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  #output = "";
  #spawnError: Error | undefined;

  private constructor(child: ChildProcess, port: number) {
    this.#child = child;
    this.port = port;
    this.#exited = new Promise((resolve) => {
      child.once("exit", () => resolve());
      child.once("error", (error) => {
        this.#spawnError = error;
        this.#output += `\ncannot run nginx: ${error.message}`;
        resolve();
      });
    });
    const keep = (chunk: Buffer) => {
      this.#output = (this.#output + chunk.toString()).slice(-16 * 1024);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
  }

  /** Writes the configuration, checks it (`nginx -t`), starts nginx and waits until it accepts connections. */
  static async start(options: NginxOptions, signal: AbortSignal): Promise<NginxProcess> {
    if (!existsSync(options.binary)) throw new Error(`nginx is not at ${options.binary}: install it (bash scripts/ensure-tools.sh) or name it with --nginx PATH.`);
    for (const name of ["body", "proxy", "fastcgi", "uwsgi", "scgi"]) mkdirSync(join(options.dir, "temp", name), { recursive: true, mode: 0o700 });
    const conf = join(options.dir, "nginx.conf");
    writeFileSync(conf, configuration(options), { mode: 0o600 });
    // -p: the prefix; -e: the error log before the configuration is read (else the built-in path).
    const args = ["-p", `${options.dir}/`, "-c", conf, "-e", join(options.dir, "error.log")];
    const check = spawnSync(options.binary, [...args, "-t", "-q"], { encoding: "utf8" });
    if (check.status !== 0) throw new Error(`nginx refuses the benchmark's configuration (${conf}):\n${check.stderr}`);
    const nginx = new NginxProcess(spawn(options.binary, args, { stdio: ["ignore", "pipe", "pipe"] }), options.port);
    await nginx.#ready(10_000, signal);
    return nginx;
  }

  /** The master process's id. */
  get pid(): number {
    if (this.#child.pid === undefined) throw new Error("nginx has no pid (spawn failed)");
    return this.#child.pid;
  }

  get running(): boolean {
    return this.#spawnError === undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** The worker processes (one, as configured): where nginx does its TLS. */
  workerPids(): number[] {
    return childrenOf(this.pid, "nginx");
  }

  /** "nginx/1.22.1 built with OpenSSL … (running with OpenSSL …)", from `nginx -V`. */
  static version(binary: string): string {
    const answer = spawnSync(binary, ["-V"], { encoding: "utf8" });
    const lines = `${answer.stderr}${answer.stdout}`.split("\n");
    const name = lines.find((line) => line.startsWith("nginx version:"))?.replace("nginx version: ", "") ?? "nginx (version unknown)";
    const openssl = lines.find((line) => line.startsWith("built with OpenSSL"));
    return openssl ? `${name}, ${openssl}` : name;
  }

  /** What nginx printed (the tail). */
  output(): string {
    return this.#output;
  }

  /** SIGTERM (fast shutdown), SIGKILL after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    const workers = this.workerPids();
    this.#child.kill("SIGTERM");
    const timer = setTimeout(() => this.killNow(workers), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** Last resort from an `exit` handler: master and workers, synchronous, no grace. */
  killNow(workers: readonly number[] = this.running ? this.workerPids() : []): void {
    for (const pid of workers) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone already
      }
    }
    if (this.running) this.#child.kill("SIGKILL");
  }

  async #ready(timeoutMs: number, signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastError = "no answer yet";
    while (Date.now() < deadline) {
      signal.throwIfAborted();
      if (!this.running) throw new Error(`nginx exited (${this.#child.exitCode ?? this.#child.signalCode}) during start:\n${this.#output}`);
      try {
        await new Promise<void>((resolve, reject) => {
          const socket = net.connect(this.port, "127.0.0.1", () => {
            socket.destroy();
            resolve();
          });
          socket.once("error", reject);
        });
        if (this.workerPids().length > 0) return;
        lastError = "no worker process yet";
      } catch (error) {
        lastError = (error as Error).message;
      }
      await sleep(50, undefined, { signal });
    }
    throw new Error(`nginx did not accept connections on 127.0.0.1:${this.port} within ${timeoutMs / 1000} s (${lastError}):\n${this.#output}`);
  }
}
