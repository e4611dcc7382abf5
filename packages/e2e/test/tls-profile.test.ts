import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pierOk, run, startPierServer, tempDir, type PierServer, type TempDir } from "../src/index.ts";

/**
 * The TLS profile (Mozilla "intermediate") and HSTS, as real clients see them: openssl s_client
 * and curl against real `pier server` processes on loopback, then testssl.sh through the repo's
 * script.
 */
let dir: TempDir;
let builtIn: PierServer;
let mtls: PierServer;

const cbcOnly = "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES128-SHA:AES128-SHA256:AES128-SHA";
const ecdheGcm = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";

/** A handshake by `openssl s_client`: what it negotiated, or the alert it received. */
function sClient(port: number, flags: readonly string[], options: { ca: string; servername?: string; cert?: string; key?: string }): { cipher: string; protocol: string; output: string } {
  const result = run(
    "openssl",
    [
      "s_client",
      "-connect", `127.0.0.1:${port}`,
      "-CAfile", options.ca,
      "-verify_return_error",
      ...(options.servername ? ["-servername", options.servername] : []),
      ...(options.cert && options.key ? ["-cert", options.cert, "-key", options.key] : []),
      ...flags,
    ],
    { input: "", timeoutMs: 30_000 },
  );
  const [, protocol = "none", cipher = "none"] = /New, (\S+), Cipher is (\S+)/.exec(result.output) ?? [];
  return { cipher, protocol, output: result.output };
}

/** The response head curl received for `path`, lower-cased. */
function head(port: number, path: string, version: "--http1.1" | "--http2"): string {
  const result = run("curl", ["-sS", "-o", "/dev/null", "-D", "-", version, "--cacert", dir.file("data-builtin/ca/ca.crt"), `https://127.0.0.1:${port}${path}`], { timeoutMs: 30_000 });
  if (result.status !== 0) throw new Error(`curl ${path} failed: ${result.output}`);
  return result.stdout.toLowerCase();
}

beforeAll(async () => {
  dir = tempDir("tls-profile");
  pierOk(["ca", "init", "--dir", "mtls-ca", "--cn", "Profile mTLS CA"], { cwd: dir.path });
  pierOk(["ca", "issue", "server", "--dir", "mtls-ca", "--san", "DNS:localhost", "--out", "mtls-server"], { cwd: dir.path });
  pierOk(["ca", "issue", "client", "--dir", "mtls-ca", "--cn", "edge-profile", "--out", "client"], { cwd: dir.path });
  // A stand-in for the built web UI: the static handler serves it like the real build.
  mkdirSync(dir.file("ui"));
  writeFileSync(dir.file("ui/index.html"), "<!doctype html><title>Pier</title>\n");
  builtIn = await startPierServer({ dataDir: dir.file("data-builtin"), args: ["--ui-dir", dir.file("ui")] });
  mtls = await startPierServer({
    dataDir: dir.file("data-mtls"),
    args: ["--mtlscacert", dir.file("mtls-ca/ca.crt"), "--mtlscert", dir.file("mtls-server.crt"), "--mtlskey", dir.file("mtls-server.key")],
  });
});

afterAll(async () => {
  await builtIn?.stop();
  await mtls?.stop();
  await dir?.[Symbol.asyncDispose]();
});

describe("TLS profile on both listeners (openssl s_client)", () => {
  it("our openssl can offer what the profile refuses: TLS 1.1 and CBC suites", () => {
    // Precondition: a refusal below is the server's doing, not a client that never offered it.
    expect(run("openssl", ["ciphers", "-v", cbcOnly]).stdout).toMatch(/ECDHE-ECDSA-AES128-SHA256 +TLSv1\.2 +Kx=ECDH +Au=ECDSA +Enc=AES\(128\) +Mac=SHA256/);
    expect(run("openssl", ["ciphers", "-v", "-s", "-tls1_1", "DEFAULT@SECLEVEL=0"]).stdout).toMatch(/ECDHE-ECDSA-AES128-SHA +TLSv1/);
  });

  for (const listener of ["https", "tunnel"] as const) {
    describe(`built-in CA, ${listener} listener`, () => {
      const port = () => (listener === "https" ? builtIn.httpsPort : builtIn.tunnelPort);
      const ca = () => dir.file("data-builtin/ca/ca.crt");

      it("refuses TLS 1.1 with a protocol_version alert", () => {
        const answer = sClient(port(), ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"], { ca: ca() });
        expect(answer.output).toMatch(/alert protocol version/);
        expect(answer.cipher).toBe("(NONE)");
      });

      it("refuses a TLS 1.2 client that offers only CBC suites", () => {
        const answer = sClient(port(), ["-tls1_2", "-cipher", cbcOnly], { ca: ca() });
        expect(answer.output).toMatch(/alert handshake failure/);
        expect(answer.cipher).toBe("(NONE)");
      });

      it("accepts TLS 1.2 with ECDHE and AES-GCM", () => {
        const answer = sClient(port(), ["-tls1_2", "-cipher", ecdheGcm], { ca: ca() });
        expect(answer).toMatchObject({ protocol: "TLSv1.2", cipher: "ECDHE-ECDSA-AES128-GCM-SHA256" });
        expect(answer.output).toMatch(/Verify return code: 0 \(ok\)/);
      });

      it("accepts TLS 1.3", () => {
        const answer = sClient(port(), ["-tls1_3"], { ca: ca() });
        expect(answer.protocol).toBe("TLSv1.3");
        expect(answer.cipher).toMatch(/^TLS_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256)$/);
      });
    });
  }

  // The mTLS name is served by the other of a front's two TLS servers (the one that asks for a
  // client certificate); it must hold the same profile.
  it("the mTLS name (--mtls*) refuses CBC and TLS 1.1 and accepts ECDHE-GCM with a client certificate, on both listeners", () => {
    const client = { ca: dir.file("mtls-ca/ca.crt"), servername: "localhost", cert: dir.file("client.crt"), key: dir.file("client.key") };
    for (const port of [mtls.httpsPort, mtls.tunnelPort]) {
      expect(sClient(port, ["-tls1_2", "-cipher", ecdheGcm], client)).toMatchObject({ protocol: "TLSv1.2", cipher: "ECDHE-ECDSA-AES128-GCM-SHA256" });
      expect(sClient(port, ["-tls1_3"], client).protocol).toBe("TLSv1.3");
      const cbc = sClient(port, ["-tls1_2", "-cipher", cbcOnly], client);
      expect(cbc.output).toMatch(/alert handshake failure/);
      expect(cbc.cipher).toBe("(NONE)");
      expect(sClient(port, ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"], client).output).toMatch(/alert protocol version/);
    }
  });
});

describe("HSTS (curl)", () => {
  const hsts = /^strict-transport-security: max-age=63072000\r?$/m;
  const answers = [
    ["/api/system/status", "200", "the API"],
    ["/", "200", "the web UI's static files"],
    ["/api/endpoints/1/docker/_ping", "401", "the Docker proxy, refusing"],
    ["/api/no-such-route", "401", "the API, refusing"],
    ["/.env", "4\\d\\d", "a refused path"],
  ] as const;

  for (const version of ["--http2", "--http1.1"] as const) {
    it(`is on every answer of the HTTPS listener (${version})`, () => {
      for (const [path, status] of answers) {
        const answer = head(builtIn.httpsPort, path, version);
        expect(answer.split("\n")[0], path).toMatch(new RegExp(`^http/(2|1\\.1) ${status}`));
        expect(answer, path).toMatch(hsts);
      }
    });

    it(`is not on the tunnel listener's answers (${version})`, () => {
      const answer = head(builtIn.tunnelPort, "/api/system/status", version);
      expect(answer).toMatch(/^http\/(2|1\.1) \d{3}/);
      expect(answer).not.toMatch(/strict-transport-security/);
    });
  }
});

describe("testssl.sh (scripts/testssl.ts --quick)", () => {
  it("finds nothing at LOW or above on either listener except what needs a public CA or DNS", () => {
    const result = run(process.execPath, [join(import.meta.dirname, "..", "..", "..", "scripts", "testssl.ts"), "--quick"], { timeoutMs: 600_000 });
    // Both listeners were scanned (a scan that could not connect fails the script too).
    expect(result.stdout.match(/^== built-in CA, (HTTPS|tunnel) listener .*: \d+ s, testssl\.sh exit \d+$/gm), result.output).toHaveLength(2);
    expect(result.stdout).toMatch(/^ {3}allowed {2}LOW HSTS: not offered — the tunnel listener serves agents only/m);
    expect(result.stdout).toMatch(/^testssl: ok, 0 finding\(s\) not on the allow-list/m);
    expect(result.status, result.output).toBe(0);
  }, 660_000);
});
