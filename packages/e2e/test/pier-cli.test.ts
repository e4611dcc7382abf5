import { describe, expect, it } from "vitest";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { openssl, pier, pierBinary, run, startPierServer, tempDir } from "../src/index.ts";

describe("the pier command", () => {
  it("runs on the pinned Node 24 even when an older node is first on PATH", () => {
    const result = run(pierBinary, ["--version"], { env: { PATH: "/usr/local/bin:/usr/bin:/bin" } });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^pier \d+\.\d+\.\d+ \(Node\.js v24\./);
  });

  it("answers a malformed command line with exit 2 and the flag's name", () => {
    const unknown = pier(["ca", "init", "--dri", "x"]);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown option '--dri'.*pier ca init --help/);
    const missing = pier(["ca", "issue", "client", "--cn", "x", "--out", "x"]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain("--dir is required");
    expect(pier(["frobnicate"]).status).toBe(2);
    expect(pier(["ca", "init", "--dir", "x", "--key-type", "rsa-1024"]).stderr).toMatch(/Unknown key type "rsa-1024"; use one of ecdsa-p256/);
  });

  it("never overwrites a CA or an issued file, and says so", async () => {
    await using dir = tempDir("cli-overwrite");
    expect(pier(["ca", "init", "--dir", "ca"], { cwd: dir.path }).status).toBe(0);
    const again = pier(["ca", "init", "--dir", "ca"], { cwd: dir.path });
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/A CA already exists in ca/);
    expect(pier(["ca", "issue", "client", "--dir", "ca", "--cn", "a", "--out", "leaf"], { cwd: dir.path }).status).toBe(0);
    const before = readFileSync(dir.file("leaf.key"));
    const clash = pier(["ca", "issue", "client", "--dir", "ca", "--cn", "b", "--out", "leaf"], { cwd: dir.path });
    expect(clash.status).toBe(1);
    expect(clash.stderr).toMatch(/leaf\.key already exists; Pier does not overwrite/);
    expect(readFileSync(dir.file("leaf.key"))).toEqual(before);
  });

  it("refuses a server certificate without SAN, telling how to add one", async () => {
    await using dir = tempDir("cli-san");
    pier(["ca", "init", "--dir", "ca"], { cwd: dir.path });
    const result = pier(["ca", "issue", "server", "--dir", "ca", "--cn", "pier", "--out", "s"], { cwd: dir.path });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/needs at least one subjectAltName.*--san DNS:/);
  });

  it("encrypts the CA key with a passphrase from a file or the environment, never a flag", async () => {
    await using dir = tempDir("cli-pass");
    writeFileSync(dir.file("pass"), "s3cret\n", { mode: 0o600 });
    expect(pier(["ca", "init", "--dir", "ca", "--passphrase-file", "pass"], { cwd: dir.path }).status).toBe(0);
    expect(readFileSync(dir.file("ca/ca.key"), "utf8")).toContain("BEGIN ENCRYPTED PRIVATE KEY");
    expect(statSync(dir.file("ca/ca.key")).mode & 0o777).toBe(0o600);
    openssl(["pkey", "-in", "ca/ca.key", "-passin", "pass:s3cret", "-noout"], { cwd: dir.path });

    const without = pier(["ca", "issue", "client", "--dir", "ca", "--cn", "a", "--out", "a"], { cwd: dir.path, env: { PIER_CA_PASSPHRASE: "" } });
    expect(without.status).toBe(1);
    expect(without.stderr).toMatch(/encrypted; give its passphrase \(--passphrase-file FILE or PIER_CA_PASSPHRASE\)/);
    const wrong = pier(["ca", "issue", "client", "--dir", "ca", "--cn", "a", "--out", "a"], { cwd: dir.path, env: { PIER_CA_PASSPHRASE: "nope" } });
    expect(wrong.stderr).toMatch(/passphrase does not decrypt/);
    expect(pier(["ca", "issue", "client", "--dir", "ca", "--cn", "a", "--out", "a"], { cwd: dir.path, env: { PIER_CA_PASSPHRASE: "s3cret" } }).status).toBe(0);
    expect(pier(["ca", "issue", "client", "--dir", "ca", "--cn", "b", "--out", "b", "--passphrase-file", "pass"], { cwd: dir.path }).status).toBe(0);
    expect(pier(["ca", "init", "--dir", "x", "--passphrase", "s3cret"], { cwd: dir.path }).status).toBe(2);
  });

  it("inspects certificates, CSRs, CRLs and keys in PEM and DER", async () => {
    await using dir = tempDir("cli-inspect");
    pier(["ca", "init", "--dir", "ca", "--cn", "Inspect CA"], { cwd: dir.path });
    pier(["ca", "issue", "server", "--dir", "ca", "--san", "DNS:edge.example.com", "--out", "s"], { cwd: dir.path });
    pier(["ca", "crl", "--dir", "ca", "--out", "crl.pem"], { cwd: dir.path });
    openssl(["x509", "-in", "s.crt", "-outform", "der", "-out", "s.der"], { cwd: dir.path });
    openssl(["req", "-new", "-key", "s.key", "-subj", "/CN=req", "-out", "r.csr"], { cwd: dir.path });

    const cert = pier(["ca", "inspect", "s.der"], { cwd: dir.path });
    expect(cert.status).toBe(0);
    expect(cert.stdout).toContain("(DER-encoded)");
    expect(cert.stdout).toMatch(/Issuer:\s+CN=Inspect CA/);
    expect(cert.stdout).toMatch(/Extended usage: serverAuth/);
    expect(cert.stdout).toMatch(/SAN:\s+DNS:edge\.example\.com/);
    expect(cert.stdout).toMatch(/days left/);
    expect(pier(["ca", "inspect", "r.csr"], { cwd: dir.path }).stdout).toMatch(/Certificate signing request[\s\S]*CN=req[\s\S]*\(valid\)/);
    expect(pier(["ca", "inspect", "crl.pem"], { cwd: dir.path }).stdout).toMatch(/CRL number:\s+1/);
    expect(pier(["ca", "inspect", "s.key"], { cwd: dir.path }).stdout).toMatch(/Private key\s+Type:\s+ECDSA P-256/);
    writeFileSync(dir.file("junk"), "hello world");
    const junk = pier(["ca", "inspect", "junk"], { cwd: dir.path });
    expect(junk.status).toBe(1);
    expect(junk.stdout).toMatch(/neither PEM nor DER/);
  });

  it("shows progress on a terminal while a slow key is generated, and nothing when piped", async () => {
    await using dir = tempDir("cli-progress");
    // `script` gives the command a real pseudo-terminal, as an operator's shell would.
    // RSA 8192: slow enough every time to show a progress frame (an RSA 4096 key once took 0.1 s on CI-like runs).
    const onTerminal = run("script", ["-qec", `${pierBinary} ca init --dir tty-ca --key-type rsa-8192`, "/dev/null"], { cwd: dir.path });
    expect(onTerminal.status).toBe(0);
    expect(onTerminal.stdout).toMatch(/Generating rsa-8192 CA key… \d+\.\ds/);
    expect(onTerminal.stdout).toMatch(/✓ Generating rsa-8192 CA key \(\d+\.\ds\)/);
    const piped = pier(["ca", "init", "--dir", "piped-ca", "--key-type", "rsa-4096"], { cwd: dir.path });
    expect(piped.status).toBe(0);
    expect(piped.stderr).toBe("");
  });

  it("quickstart makes a working set and can run again", async () => {
    await using dir = tempDir("cli-quickstart");
    const first = pier(["quickstart", "--server-name", "pier.test"], { cwd: dir.path });
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(/created\s+pier-pki\/ca\.crt/);
    expect(first.stdout).toMatch(/✓ CN=pier\.test: ECDSA P-256, serverAuth/);
    expect(first.stdout).toMatch(/✓ CN=edge-device-1: ECDSA P-256, clientAuth/);
    const verify = run("openssl", ["verify", "-purpose", "sslserver", "-CAfile", "pier-pki/ca.crt", "pier-pki/server.crt"], { cwd: dir.path });
    expect(verify.stdout).toContain("OK");
    const second = pier(["quickstart"], { cwd: dir.path });
    expect(second.status).toBe(0);
    expect(second.stdout).toMatch(/kept\s+pier-pki\/server\.crt/);
  });

  it("puts the public addresses of --edge-api-url and --edge-tunnel-address in edge keys, and refuses malformed ones", async () => {
    await using dir = tempDir("edge-addresses");
    await using server = await startPierServer({ dataDir: dir.file("data"), args: ["--edge-api-url", "https://pier.example.com:30779/", "--edge-tunnel-address", "pier.example.com:30776"] });
    const [apiUrl, tunnelAddress, , environmentId] = Buffer.from(server.edgeKey, "base64").toString().split("|");
    expect({ apiUrl, tunnelAddress, environmentId }).toEqual({ apiUrl: "https://pier.example.com:30779", tunnelAddress: "pier.example.com:30776", environmentId: "0" });
    const plaintext = pier(["server", "--data", dir.file("other"), "--edge-api-url", "http://pier.example.com"]);
    expect(plaintext.status).toBe(2);
    expect(plaintext.stderr).toMatch(/--edge-api-url needs an https:\/\/ URL .*got "http:\/\/pier\.example\.com"/);
    const noPort = pier(["server", "--data", dir.file("other"), "--edge-tunnel-address", "pier.example.com"]);
    expect(noPort.status).toBe(2);
    expect(noPort.stderr).toMatch(/--edge-tunnel-address needs HOST:PORT/);
  });
});
