import { describe, expect, it } from "vitest";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { openssl, pier, run, tempDir } from "../src/index.ts";

/** `openssl verify` with a purpose; returns its combined output and status. */
function verify(dir: string, purpose: "sslserver" | "sslclient", cert: string, extra: string[] = []) {
  return run("openssl", ["verify", "-purpose", purpose, "-CAfile", "ca/ca.crt", ...extra, cert], { cwd: dir });
}

describe("pier ca certificates in openssl", () => {
  it("passes openssl verify for its own purpose only", async () => {
    await using dir = tempDir("interop");
    expect(pier(["ca", "init", "--dir", "ca", "--cn", "Interop CA"], { cwd: dir.path }).status).toBe(0);
    expect(pier(["ca", "issue", "server", "--dir", "ca", "--san", "DNS:pier.example.com,IP:127.0.0.1", "--out", "server"], { cwd: dir.path }).status).toBe(0);
    expect(pier(["ca", "issue", "client", "--dir", "ca", "--cn", "edge-1", "--out", "client"], { cwd: dir.path }).status).toBe(0);

    expect(verify(dir.path, "sslserver", "server.crt").stdout).toContain("server.crt: OK");
    expect(verify(dir.path, "sslclient", "client.crt").stdout).toContain("client.crt: OK");
    const wrongPurpose = verify(dir.path, "sslserver", "client.crt");
    expect(wrongPurpose.status).not.toBe(0);
    expect(wrongPurpose.output).toContain("unsuitable certificate purpose");

    const text = openssl(["x509", "-in", "ca/ca.crt", "-noout", "-text"], { cwd: dir.path });
    expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
    const server = openssl(["x509", "-in", "server.crt", "-noout", "-text"], { cwd: dir.path });
    expect(server).toMatch(/Extended Key Usage:\s+TLS Web Server Authentication/);
    expect(server).toMatch(/DNS:pier\.example\.com, IP Address:127\.0\.0\.1/);
    expect(server).toContain("Subject Key Identifier");
    expect(server).toContain("Authority Key Identifier");
    expect(statSync(dir.file("server.key")).mode & 0o777).toBe(0o600);
    expect(statSync(dir.file("client.key")).mode & 0o777).toBe(0o600);
  });

  it("issues every key type openssl accepts", async () => {
    await using dir = tempDir("keytypes");
    for (const keyType of ["ecdsa-p384", "ed25519", "rsa-2048"]) {
      await using ca = tempDir(`ca-${keyType}`);
      expect(pier(["ca", "init", "--dir", `${ca.path}/ca`, "--key-type", keyType], { cwd: dir.path }).status).toBe(0);
      expect(pier(["ca", "issue", "client", "--dir", `${ca.path}/ca`, "--cn", "x", "--key-type", keyType, "--out", `${ca.path}/leaf`]).status).toBe(0);
      const result = run("openssl", ["verify", "-purpose", "sslclient", "-CAfile", `${ca.path}/ca/ca.crt`, `${ca.path}/leaf.crt`]);
      expect(result.output, keyType).toContain(": OK");
    }
  });

  it("signs openssl-made EC and RSA CSRs, keeping identity under the CA's control", async () => {
    await using dir = tempDir("csr");
    pier(["ca", "init", "--dir", "ca"], { cwd: dir.path });
    openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ec.key", "-out", "ec.csr", "-subj", "/CN=edge-ec", "-addext", "subjectAltName=DNS:requested.example.com", "-addext", "basicConstraints=critical,CA:TRUE"], { cwd: dir.path });
    openssl(["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "rsa.key", "-out", "rsa.csr", "-subj", "/CN=edge-rsa"], { cwd: dir.path });

    const ec = pier(["ca", "sign", "--dir", "ca", "--csr", "ec.csr", "--profile", "client", "--out", "ec.crt"], { cwd: dir.path });
    expect(ec.status).toBe(0);
    expect(ec.stdout).toContain("CN=edge-ec");
    expect(ec.stdout).toMatch(/requested subjectAltNames not granted: DNS:requested\.example\.com/);
    expect(ec.stdout).toMatch(/requested CA:TRUE ignored/);
    expect(verify(dir.path, "sslclient", "ec.crt").stdout).toContain("ec.crt: OK");
    expect(openssl(["x509", "-in", "ec.crt", "-noout", "-text"], { cwd: dir.path })).toMatch(/CA:FALSE/);

    const rsa = pier(["ca", "sign", "--dir", "ca", "--csr", "rsa.csr", "--profile", "server", "--san", "DNS:edge-rsa.example.com", "--cn", "edge-rsa.example.com", "--out", "rsa.crt"], { cwd: dir.path });
    expect(rsa.status).toBe(0);
    expect(verify(dir.path, "sslserver", "rsa.crt").stdout).toContain("rsa.crt: OK");
    // The certificate carries the CSR's public key: the openssl-made key matches it.
    const certKey = openssl(["x509", "-in", "rsa.crt", "-noout", "-pubkey"], { cwd: dir.path });
    const csrKey = openssl(["pkey", "-in", "rsa.key", "-pubout"], { cwd: dir.path });
    expect(certKey).toBe(csrKey);
  });

  it("refuses a tampered CSR", async () => {
    await using dir = tempDir("csr-bad");
    pier(["ca", "init", "--dir", "ca"], { cwd: dir.path });
    openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "k.key", "-out", "k.csr", "-outform", "der", "-subj", "/CN=victim"], { cwd: dir.path });
    const der = readFileSync(dir.file("k.csr"));
    const at = der.indexOf(Buffer.from("victim"));
    der.write("attack", at, "latin1");
    writeFileSync(dir.file("k.csr"), der);
    const result = pier(["ca", "sign", "--dir", "ca", "--csr", "k.csr", "--profile", "client", "--out", "k.crt"], { cwd: dir.path });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/signature does not verify/);
  });

  it("revokes: openssl verify -crl_check reports the certificate revoked", async () => {
    await using dir = tempDir("crl");
    pier(["ca", "init", "--dir", "ca"], { cwd: dir.path });
    pier(["ca", "issue", "client", "--dir", "ca", "--cn", "stolen", "--out", "stolen"], { cwd: dir.path });
    pier(["ca", "issue", "client", "--dir", "ca", "--cn", "fine", "--out", "fine"], { cwd: dir.path });
    const before = pier(["ca", "crl", "--dir", "ca", "--out", "crl0.pem"], { cwd: dir.path });
    expect(before.stdout).toContain("CRL number 1 with 0 revoked");
    expect(verify(dir.path, "sslclient", "stolen.crt", ["-crl_check", "-CRLfile", "crl0.pem"]).stdout).toContain("OK");

    const revoke = pier(["ca", "revoke", "--dir", "ca", "--cert", "stolen.crt", "--reason", "keyCompromise"], { cwd: dir.path });
    expect(revoke.status).toBe(0);
    expect(pier(["ca", "crl", "--dir", "ca", "--out", "crl.pem"], { cwd: dir.path }).stdout).toContain("CRL number 2 with 1 revoked");

    const revoked = verify(dir.path, "sslclient", "stolen.crt", ["-crl_check", "-CRLfile", "crl.pem"]);
    expect(revoked.status).not.toBe(0);
    expect(revoked.output).toContain("certificate revoked");
    expect(verify(dir.path, "sslclient", "fine.crt", ["-crl_check", "-CRLfile", "crl.pem"]).stdout).toContain("fine.crt: OK");

    const crlText = openssl(["crl", "-in", "crl.pem", "-noout", "-text"], { cwd: dir.path });
    expect(crlText).toMatch(/Version 2/);
    expect(crlText).toMatch(/X509v3 CRL Number:\s+2/);
    expect(crlText).toMatch(/Key Compromise/);
    expect(readFileSync(dir.file("crl.pem"), "utf8")).toMatch(/^-----BEGIN X509 CRL-----/);

    const list = pier(["ca", "list", "--dir", "ca"], { cwd: dir.path });
    expect(list.stdout).toMatch(/CN=stolen\s+client\s+\S+\s+revoked \(keyCompromise\)/);
    expect(list.stdout).toMatch(/CN=fine\s+client\s+\S+\s+valid/);
  });
});
