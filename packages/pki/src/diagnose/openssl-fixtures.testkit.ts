/**
 * Test-only support for the diagnose tests; never import it from production code.
 *
 * Certificates are made per run with the real openssl CLI (not with Pier's own issuer), in a
 * fresh temporary directory, so the diagnostics are tested against what operators' tools produce.
 * Also holds the small TLS server helpers the endpoint-probe and tls-failure tests share.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { afterAll, beforeAll, expect } from "vitest";

/** PEM files generated for each run, read back by name (`pem("client")`, `pem("client.key")`). */
const generated = ["ca", "foreign-ca", "server", "client", "foreign-client", "wrong-eku", "self-signed", "expired", "expired-server", "revoked"] as const;

export interface OpensslFixtures extends Disposable {
  /** The temporary directory holding every `<name>.pem` / `<name>.key`, `crl.pem` and `ca.cnf`. */
  readonly dir: string;
  /**
   * The PEM bytes of a generated file: `"<name>"` for a certificate, `"<name>.key"` for its key,
   * `"crl"` for the CA's CRL (which lists `revoked`). Names: ca, foreign-ca, server (localhost,
   * 127.0.0.1), client, foreign-client (from foreign-ca), wrong-eku (serverAuth only),
   * self-signed, expired (a client certificate), expired-server, revoked (a server certificate).
   */
  pem(name: string): Buffer;
  /** Runs the openssl CLI in `dir` and returns its stdout. */
  openssl(...args: string[]): string;
}

/** Generates the fixtures into a new temporary directory named with `prefix`; dispose to delete it. */
export function makeOpensslFixtures(prefix: string): OpensslFixtures {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const dispose = () => rmSync(dir, { recursive: true, force: true });
  const openssl = (...args: string[]): string =>
    execFileSync("openssl", args, { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  try {
    const files = generate(dir, openssl);
    return {
      dir,
      pem: (name) => files.get(name) ?? expect.unreachable(`fixture ${name} was not generated`),
      openssl,
      [Symbol.dispose]: dispose,
    };
  } catch (error) {
    dispose();
    throw error;
  }
}

/**
 * Registers `beforeAll` / `afterAll` hooks in the calling test file that make the fixtures once
 * and delete them afterwards. The returned handle may be taken apart at module level, but only
 * used inside tests and hooks, once the fixtures exist.
 */
export function useOpensslFixtures(prefix: string): Omit<OpensslFixtures, typeof Symbol.dispose> {
  let fixtures: OpensslFixtures | undefined;
  beforeAll(() => {
    fixtures = makeOpensslFixtures(prefix);
  });
  afterAll(() => fixtures?.[Symbol.dispose]());
  const current = () => fixtures ?? expect.unreachable("the openssl fixtures are used before beforeAll made them");
  return {
    get dir() {
      return current().dir;
    },
    pem: (name) => current().pem(name),
    openssl: (...args) => current().openssl(...args),
  };
}

function generate(dir: string, openssl: (...args: string[]) => string): Map<string, Buffer> {
  const ecKey = (name: string): void => {
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", `${name}.key`);
  };

  const rootCa = (name: string, subject: string): void => {
    ecKey(name);
    openssl("req", "-x509", "-new", "-key", `${name}.key`, "-subj", subject, "-days", "30", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", `${name}.pem`);
  };

  const leaf = (name: string, commonName: string, ca: string, extensions: string): void => {
    ecKey(name);
    openssl("req", "-new", "-key", `${name}.key`, "-subj", `/CN=${commonName}`, "-out", `${name}.csr`);
    writeFileSync(join(dir, `${name}.ext`), `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n${extensions}\n`);
    openssl("x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.pem`, "-CAkey", `${ca}.key`, "-set_serial", `0x${randomBytes(8).toString("hex")}`, "-days", "10", "-extfile", `${name}.ext`, "-out", `${name}.pem`);
  };

  /** Issues through `openssl ca`, which can backdate (OpenSSL 3.0's `x509 -req` cannot) and revoke. */
  const caIssued = (name: string, commonName: string, section: "client" | "server", ...dates: string[]): void => {
    ecKey(name);
    openssl("req", "-new", "-key", `${name}.key`, "-subj", `/CN=${commonName}`, "-out", `${name}.csr`);
    openssl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-extensions", section, "-in", `${name}.csr`, "-out", `${name}.pem`, "-notext", ...dates);
  };

  rootCa("ca", "/CN=Pier mTLS CA/O=Pier");
  rootCa("foreign-ca", "/CN=Foreign CA");
  leaf("server", "localhost", "ca", "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1");
  leaf("client", "device-1", "ca", "extendedKeyUsage=clientAuth");
  leaf("foreign-client", "device-2", "foreign-ca", "extendedKeyUsage=clientAuth");
  leaf("wrong-eku", "device-3", "ca", "extendedKeyUsage=serverAuth");
  ecKey("self-signed");
  openssl("req", "-x509", "-new", "-key", "self-signed.key", "-subj", "/CN=localhost", "-days", "10", "-addext", "subjectAltName=DNS:localhost", "-addext", "keyUsage=critical,digitalSignature", "-addext", "extendedKeyUsage=serverAuth", "-out", "self-signed.pem");
  writeFileSync(join(dir, "index.txt"), "");
  writeFileSync(join(dir, "serial"), "1000\n");
  writeFileSync(
    join(dir, "ca.cnf"),
    [
      "[ca]", "default_ca = pier",
      "[pier]", "database = index.txt", "serial = serial", "new_certs_dir = .", "default_md = sha256", "policy = any", "unique_subject = no", "default_days = 10", "default_crl_days = 10",
      "[any]", "commonName = supplied",
      "[client]", "basicConstraints = CA:FALSE", "keyUsage = critical,digitalSignature", "extendedKeyUsage = clientAuth",
      "[server]", "basicConstraints = CA:FALSE", "keyUsage = critical,digitalSignature", "extendedKeyUsage = serverAuth,clientAuth", "subjectAltName = DNS:localhost,IP:127.0.0.1",
      "",
    ].join("\n"),
  );
  caIssued("expired", "device-old", "client", "-startdate", "20200101000000Z", "-enddate", "20200102000000Z");
  caIssued("expired-server", "localhost", "server", "-startdate", "20200101000000Z", "-enddate", "20200102000000Z");
  caIssued("revoked", "localhost", "server");
  openssl("ca", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-revoke", "revoked.pem");
  openssl("ca", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-gencrl", "-out", "crl.pem");

  const files = new Map<string, Buffer>();
  for (const name of generated) {
    files.set(name, readFileSync(join(dir, `${name}.pem`)));
    files.set(`${name}.key`, readFileSync(join(dir, `${name}.key`)));
  }
  files.set("crl", readFileSync(join(dir, "crl.pem")));
  return files;
}

export interface TestServer extends AsyncDisposable {
  readonly port: number;
  /** Every `tlsClientError`, with the socket whose `authorizationError` holds the real reason. */
  readonly clientErrors: Array<{ error: Error; socket: tls.TLSSocket }>;
}

/** Listens on an ephemeral 127.0.0.1 port; disposing destroys open sockets and closes the server. */
export async function listen(server: net.Server): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  const clientErrors: Array<{ error: Error; socket: tls.TLSSocket }> = [];
  server.on("connection", (socket: net.Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  // Only TLS servers emit these two; on a plain net or http server they are inert.
  server.on("tlsClientError", (error: Error, socket: tls.TLSSocket) => clientErrors.push({ error, socket }));
  server.on("secureConnection", (socket: tls.TLSSocket) => socket.on("error", () => {}));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    clientErrors,
    async [Symbol.asyncDispose]() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A Node TLS server presenting the fixtures' `server` certificate (for localhost, 127.0.0.1). */
export function startTlsServer(fixtures: Pick<OpensslFixtures, "pem">, options: tls.TlsOptions): Promise<TestServer> {
  return listen(tls.createServer({ key: fixtures.pem("server.key"), cert: fixtures.pem("server"), ...options }));
}

/** Server options that require a client certificate from the fixtures' `ca`. */
export const mtlsOptions = (fixtures: Pick<OpensslFixtures, "pem">): tls.TlsOptions => ({ ca: fixtures.pem("ca"), requestCert: true, rejectUnauthorized: true });
