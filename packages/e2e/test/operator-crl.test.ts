import { X509Certificate } from "node:crypto";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import http2, { type ClientHttp2Session } from "node:http2";
import type { TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PierApi, bash, pier, startPierServer, tempDir, until, type PierServer, type TempDir } from "../src/index.ts";

/**
 * Operator CRLs (docs/security.md "Operator CRLs"): an operator CA run with `openssl ca`
 * (index.txt, `-revoke`, `-gencrl`), its CRL given to `pier server --mtlscrl`, enforced in the
 * handshake, re-read when the file changes, bad CRLs refused while the old one stays.
 */
let dir: TempDir;
let server: PierServer;

const caConfig = `
[ ca ]
default_ca = operator
[ operator ]
dir = DIR
database = $dir/index.txt
new_certs_dir = $dir/newcerts
certificate = $dir/ca.crt
private_key = $dir/ca.key
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
default_days = 30
default_crl_days = 7
policy = any
unique_subject = no
[ any ]
commonName = supplied
[ client ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
[ server ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost
`;

function sh(script: string): string {
  const result = bash(`set -e\n${script}`, { cwd: dir.path });
  if (result.status !== 0) throw new Error(`openssl failed:\n${result.output}`);
  return result.stdout;
}

/** An `openssl ca` directory with its CA, as an operator sets one up. */
function makeOperatorCa(name: string, commonName: string): void {
  writeFileSync(dir.file(`${name}.cnf`), caConfig.replace("DIR", dir.file(name)));
  sh(`mkdir -p ${name}/newcerts && touch ${name}/index.txt && echo 1000 > ${name}/serial && echo 01 > ${name}/crlnumber
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ${name}/ca.key -out ${name}/ca.crt -days 30 -subj "/CN=${commonName}" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null`);
}

function issue(ca: string, name: string, extensions: "client" | "server"): string {
  sh(`openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ${name}.key -out ${name}.csr -subj "/CN=${name}" 2>/dev/null
openssl ca -config ${ca}.cnf -batch -notext -in ${name}.csr -out ${name}.crt -extensions ${extensions} 2>/dev/null`);
  return new X509Certificate(readFileSync(dir.file(`${name}.crt`))).serialNumber.toLowerCase();
}

/** `openssl ca -gencrl` into `out` (extra flags: dates). */
function gencrl(ca: string, out: string, flags = ""): void {
  sh(`openssl ca -config ${ca}.cnf -gencrl ${flags} -out ${out} 2>/dev/null`);
}

/** Replaces the watched CRL file the way a deploy tool does (write aside, rename). */
function installCrl(from: string): void {
  writeFileSync(dir.file("crl.pem.tmp"), readFileSync(dir.file(from)));
  renameSync(dir.file("crl.pem.tmp"), dir.file("crl.pem"));
}

const opensslTime = (date: Date) => date.toISOString().replace(/[-:T]/g, "").replace(/\.\d{3}/, "");

interface ClientSession {
  readonly session: ClientHttp2Session;
  readonly socket: TLSSocket;
  readonly closed: Promise<number>;
  /** The last TLS session ticket the server sent. */
  ticket(): Buffer | undefined;
}

/** An HTTP/2 connection to the mTLS name with a client certificate, as an agent opens it. */
function connect(port: number, name: string, session?: Buffer): ClientSession {
  const client = http2.connect(`https://localhost:${port}`, { ca: readFileSync(dir.file("operator/ca.crt")), cert: readFileSync(dir.file(`${name}.crt`)), key: readFileSync(dir.file(`${name}.key`)), ...(session ? { session } : {}) });
  client.on("error", () => undefined);
  const socket = client.socket as TLSSocket;
  let ticket: Buffer | undefined;
  socket.on("session", (value: Buffer) => (ticket = value));
  const closed = new Promise<number>((resolve) => client.once("close", () => resolve(Date.now())));
  return { session: client, socket, closed, ticket: () => ticket };
}

/** One request over the connection: "answered" when the server answered it (any HTTP status), else what ended it. */
function ask(client: ClientSession): Promise<string> {
  return new Promise((resolve) => {
    const stream = client.session.request({ ":path": "/api/edge/v1/nothing-here" });
    stream.on("response", () => {
      resolve("answered");
      stream.close();
    });
    stream.on("error", (error: Error) => resolve(error.message));
    client.session.once("close", () => resolve("connection closed"));
    stream.end();
  });
}

beforeAll(() => {
  dir = tempDir("operator-crl");
  makeOperatorCa("operator", "Operator CA");
  makeOperatorCa("other", "Other CA");
  issue("operator", "mtlsserver", "server");
  for (const name of ["edge-good", "edge-live", "edge-resumed", "edge-blog", "edge-upload"]) issue("operator", name, "client");
  gencrl("operator", "crl-empty.pem");
  gencrl("other", "crl-other.pem");
  installCrl("crl-empty.pem");
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await dir?.[Symbol.asyncDispose]();
});

const mtlsFlags = () => ["--mtlscacert", dir.file("operator/ca.crt"), "--mtlscert", dir.file("mtlsserver.crt"), "--mtlskey", dir.file("mtlsserver.key"), "--mtlscrl", dir.file("crl.pem")];

describe("pier server --mtlscrl", () => {
  it("refuses to start with a CRL that is not the CA's, saying why and what to do", () => {
    const result = pier(["server", "--bind", "127.0.0.1:0", "--tunnel-port", "0", "--data", dir.file("refused-data"), ...mtlsFlags().slice(0, -1), dir.file("crl-other.pem")]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/crl-other\.pem: the CRL was issued by CN=Other CA, not by a CA of .*operator\/ca\.crt \(CN=Operator CA\) — use the CRL of the CA that issues the client certificates/);
    const withoutCa = pier(["server", "--data", dir.file("refused-data"), "--mtlscrl", dir.file("crl.pem")]);
    expect(withoutCa.status).not.toBe(0);
    expect(withoutCa.stderr).toMatch(/--mtlscrl needs --mtlscacert/);
    const sslWithoutCa = pier(["server", "--data", dir.file("refused-data"), "--sslcrl", dir.file("crl.pem")]);
    expect(sslWithoutCa.stderr).toMatch(/--sslcrl needs --sslcacert/);
  });

  it("starts with the CA's CRL, and a new CRL closes the live connection of the certificate it revokes and refuses its next handshake", async () => {
    server = await startPierServer({ dataDir: dir.file("data"), args: mtlsFlags() });
    const live = connect(server.httpsPort, "edge-live");
    const good = connect(server.httpsPort, "edge-good");
    // Precondition: both are in, over mutual TLS.
    expect(await ask(live)).toBe("answered");
    expect(await ask(good)).toBe("answered");

    const serial = new X509Certificate(readFileSync(dir.file("edge-live.crt"))).serialNumber.toLowerCase();
    sh("openssl ca -config operator.cnf -revoke edge-live.crt 2>/dev/null");
    gencrl("operator", "crl-revoked.pem");
    const written = Date.now();
    installCrl("crl-revoked.pem");
    await server.waitFor(/TLS reloaded: .*CRL of CN=Operator CA number 2 \(1 revoked/);
    const closedAt = await live.closed;
    // The file watcher waits 300 ms for writes to settle; the close follows the reload at once.
    expect(closedAt - written).toBeLessThan(5_000);
    expect(good.session.closed).toBe(false);
    expect(await ask(good)).toBe("answered");

    const again = connect(server.httpsPort, "edge-live");
    expect(await ask(again)).not.toBe("answered");
    await server.waitFor(new RegExp(`refused a TLS client from 127\\.0\\.0\\.1 \\(SNI localhost\\): The client's certificate is revoked.*serial ${serial}, CN=edge-live`));
    good.session.close();
  });

  it("a revoked client cannot get back in by resuming a TLS session made before the revocation", async () => {
    const first = connect(server.httpsPort, "edge-resumed");
    expect(await ask(first)).toBe("answered");
    const ticket = await until("a session ticket", () => Promise.resolve(first.ticket()));
    first.session.close();
    // Precondition: the ticket resumes while the certificate is good.
    const resumed = connect(server.httpsPort, "edge-resumed", ticket);
    expect(await ask(resumed)).toBe("answered");
    expect(resumed.socket.isSessionReused()).toBe(true);
    const ticketAfter = resumed.ticket() ?? ticket;
    resumed.session.close();

    sh("openssl ca -config operator.cnf -revoke edge-resumed.crt 2>/dev/null");
    gencrl("operator", "crl-revoked-2.pem");
    installCrl("crl-revoked-2.pem");
    await server.waitFor(/TLS reloaded: .*CRL of CN=Operator CA number 3 \(2 revoked/);
    for (const saved of [ticket, ticketAfter]) {
      const attempt = connect(server.httpsPort, "edge-resumed", saved);
      expect(await ask(attempt)).not.toBe("answered");
    }
    await server.waitFor(/refused a TLS client .*CN=edge-resumed/);
  });

  it("refuses a CRL signed by another CA and an expired one, logging why, and keeps the CRL in force", async () => {
    installCrl("crl-other.pem");
    await server.waitFor(/ERROR TLS reload refused, the previous certificates stay in force: .*crl\.pem: the CRL was issued by CN=Other CA/);
    const past = new Date(Date.now() - 2 * 3_600_000);
    gencrl("operator", "crl-expired.pem", `-crl_lastupdate ${opensslTime(past)} -crl_nextupdate ${opensslTime(new Date(past.getTime() + 3_600_000))}`);
    installCrl("crl-expired.pem");
    await server.waitFor(/TLS reload refused.*crl\.pem: the CRL of CN=Operator CA is out of date: its next update was due/);
    // The old CRL still holds: the revoked certificate stays out, the good one stays in.
    expect(await ask(connect(server.httpsPort, "edge-live"))).not.toBe("answered");
    const good = connect(server.httpsPort, "edge-good");
    expect(await ask(good)).toBe("answered");
    good.session.close();
    expect(server.process.exitCode).toBeNull();
  });
});

describe("pier server --sslcacert --sslcrl (blog mode)", () => {
  it("refuses a revoked client on the whole listener; warns of a CRL about to expire and says when it has", async () => {
    sh("openssl ca -config operator.cnf -revoke edge-blog.crt 2>/dev/null");
    // Due in 15 s (a server start and two handshakes take 2-5 s under load): OpenSSL then
    // refuses every client certificate until a fresh CRL is written.
    gencrl("operator", "crl-blog.pem", "-crlsec 15");
    await using blog = await startPierServer({ dataDir: dir.file("blog-data"), args: ["--sslcert", dir.file("mtlsserver.crt"), "--sslkey", dir.file("mtlsserver.key"), "--sslcacert", dir.file("operator/ca.crt"), "--sslcrl", dir.file("crl-blog.pem")] });
    const good = connect(blog.httpsPort, "edge-good");
    expect(await ask(good)).toBe("answered");
    good.session.close();
    expect(await ask(connect(blog.httpsPort, "edge-blog"))).not.toBe("answered");
    await blog.waitFor(/refused a TLS client .*revoked.*CN=edge-blog/);
    await blog.waitFor(/WARN {2}the CRL of CN=Operator CA in .*crl-blog\.pem expires at .*: write a fresh CRL to that file before then/);

    await blog.waitFor(/ERROR the CRL of CN=Operator CA in .*crl-blog\.pem passed its next update .*every client certificate is refused/, 30_000);
    expect(await ask(connect(blog.httpsPort, "edge-good"))).not.toBe("answered");
    await blog.waitFor(/refused a TLS client .*CRL.*CN=edge-good/i);
  }, 90_000);
});

describe("Settings → Edge Compute: a CRL uploaded with the mTLS set", () => {
  it("is checked like --mtlscrl, shown, enforced and replaced without a restart", async () => {
    writeFileSync(dir.file("admin-password"), "correct horse battery staple\n", { mode: 0o600 });
    await using uploaded = await startPierServer({ dataDir: dir.file("upload-data"), args: ["--admin-password-file", dir.file("admin-password")] });
    const api = new PierApi(`https://127.0.0.1:${uploaded.httpsPort}`, { ca: readFileSync(dir.file("upload-data/ca/ca.crt")) });
    await api.login("admin", "correct horse battery staple");
    const set = { UseSeparateCert: true, CaCert: readFileSync(dir.file("operator/ca.crt"), "utf8"), Cert: readFileSync(dir.file("mtlsserver.crt"), "utf8"), Key: readFileSync(dir.file("mtlsserver.key"), "utf8") };

    const foreign = await api.call<{ field: string; details: { finding: string }; message: string }>("PUT", "/api/settings/edge/mtls", { ...set, Crl: readFileSync(dir.file("crl-other.pem"), "utf8") });
    expect(foreign.status).toBe(422);
    expect(foreign.body.field).toBe("Crl");
    expect(foreign.body.details.finding).toBe("crl_wrong_issuer");
    expect(foreign.body.message).toMatch(/^CRL: the CRL was issued by CN=Other CA/);
    expect((await api.call<{ Source: string }>("GET", "/api/settings/edge/mtls")).body.Source).toBe("none");

    const applied = await api.call<{ Crl: { Issuer: string; Entries: number }[] }>("PUT", "/api/settings/edge/mtls", { ...set, Crl: readFileSync(dir.file("crl-empty.pem"), "utf8") });
    expect(applied.status).toBe(200);
    expect(applied.body.Crl).toEqual([expect.objectContaining({ Issuer: "CN=Operator CA", Entries: 0 })]);
    const before = connect(uploaded.httpsPort, "edge-upload");
    expect(await ask(before)).toBe("answered");

    sh("openssl ca -config operator.cnf -revoke edge-upload.crt 2>/dev/null");
    gencrl("operator", "crl-upload.pem");
    const serial = new X509Certificate(readFileSync(dir.file("edge-upload.crt"))).serialNumber.toLowerCase();
    const replaced = await api.call<{ Crl: { Entries: number }[] }>("PUT", "/api/settings/edge/mtls/crl", { Crl: readFileSync(dir.file("crl-upload.pem"), "utf8") });
    expect(replaced.status).toBe(200);
    expect(replaced.body.Crl?.[0]?.Entries).toBeGreaterThanOrEqual(1);
    await before.closed;
    expect(await ask(connect(uploaded.httpsPort, "edge-upload"))).not.toBe("answered");
    await uploaded.waitFor(new RegExp(`refused a TLS client .*revoked.*serial ${serial}, CN=edge-upload`));
    const good = connect(uploaded.httpsPort, "edge-good");
    expect(await ask(good)).toBe("answered");
    good.session.close();

    const past = new Date(Date.now() - 2 * 3_600_000);
    gencrl("operator", "crl-upload-expired.pem", `-crl_lastupdate ${opensslTime(past)} -crl_nextupdate ${opensslTime(new Date(past.getTime() + 3_600_000))}`);
    const expired = await api.call<{ field: string; details: { finding: string } }>("PUT", "/api/settings/edge/mtls/crl", { Crl: readFileSync(dir.file("crl-upload-expired.pem"), "utf8") });
    expect(expired.status).toBe(422);
    expect(expired.body.details.finding).toBe("crl_expired");
    expect((await api.call<{ Crl: { Entries: number }[] }>("GET", "/api/settings/edge/mtls")).body.Crl).toEqual(replaced.body.Crl);

    // A body past the API's 1 MiB cap is refused (413) before it is read, as for every /api route
    // (limits.test.ts); the CRL entry limits are held by crl-material.test.ts.
  });
});
