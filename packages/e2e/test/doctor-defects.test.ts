import { randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { openssl, pier, seedCertificates, seedServerName, tempDir, type RunResult, type TempDir } from "../src/index.ts";

// Every defect below is made with the real openssl CLI, the way an operator makes it by mistake,
// and checked through the installed `pier doctor`: the test asserts what the user reads.

let seedDir: string;

// The run makes the seeds' set in the background (global-setup.ts): wait until it is complete.
beforeAll(async () => {
  seedDir = await seedCertificates(inject("seedDir"));
}, 600_000);

/** Runs `pier doctor ARGS…` inside `dir`, so messages name files as the user typed them. */
function doctor(dir: TempDir, args: readonly string[]): RunResult {
  return pier(["doctor", ...args], { cwd: dir.path });
}

/** Copies seed files (ca.cert, server.key, client.csr…) into `dir`, which a test may then alter. */
function copySeeds(dir: TempDir, ...names: string[]): void {
  for (const name of names) copyFileSync(join(seedDir, name), dir.file(name));
}

/** The `✗ FILE: problem — fix` line a defect produced, split into its parts. */
interface DefectLine {
  readonly problem: string;
  readonly fix: string;
}

/**
 * Asserts that doctor refused the set (exit 1, "N problem(s) found.") and printed an error line
 * for `file` whose problem matches `problem`; returns that line so a test can check the fix.
 */
function expectDefect(result: RunResult, file: string, problem: RegExp): DefectLine {
  expect(result.status, result.output).toBe(1);
  expect(result.stdout).toMatch(/^\d+ problem\(s\) found\.$/m);
  const line = result.stdout.split("\n").find((l) => l.startsWith(`✗ ${file}: `) && problem.test(l));
  expect(line, `no "✗ ${file}: …${problem.source}…" line in:\n${result.output}`).toBeDefined();
  const [problemText = "", fix = ""] = line!.slice(`✗ ${file}: `.length).split(" — ");
  expect(fix, `the line gives no fix after " — ":\n${line}`).not.toBe("");
  return { problem: problemText, fix };
}

/** Asserts that doctor accepted the set: exit 0 and the final OK line. */
function expectAccepted(result: RunResult, role: "client" | "server"): void {
  expect(result.status, result.output).toBe(0);
  expect(result.stdout).not.toMatch(/^✗/m);
  expect(result.stdout).toMatch(new RegExp(`^OK: this set works as a TLS ${role} certificate\\.$`, "m"));
}

/** openssl's date form for -startdate/-enddate/-crl_*update (YYYYMMDDHHMMSSZ). */
function opensslDate(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, "").replace(/\.\d+Z$/, "Z");
}

/** How doctor prints a date. */
function doctorDate(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, "Z");
}

/** A throwaway CA run by `openssl ca`, with its own directory, database and config. */
interface TestCa {
  /** Its subject as doctor prints it, e.g. "CN=Test Root CA". */
  readonly subject: string;
  /** Path of its certificate relative to the test directory, e.g. "root/ca.crt". */
  readonly cert: string;
  readonly config: string;
}

// A minimal `openssl ca` setup: every DN field optional, and one extension section per profile.
function caConfig(caDir: string): string {
  return `
[ca]
default_ca = test_ca

[test_ca]
dir = ${caDir}
database = $dir/index.txt
serial = $dir/serial
crlnumber = $dir/crlnumber
new_certs_dir = $dir/issued
certificate = $dir/ca.crt
private_key = $dir/ca.key
default_md = sha256
default_days = 30
default_crl_days = 7
unique_subject = no
policy = policy_anything

[policy_anything]
countryName = optional
stateOrProvinceName = optional
organizationName = optional
organizationalUnitName = optional
commonName = optional

[req]
distinguished_name = req_dn

[req_dn]

[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[client_ext]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth

[server_ext]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:${seedServerName}
`;
}

/** Makes `name.key` (EC P-256 unless told) and `name.csr` for CN=`cn` in `cwd`. */
function newKeyAndCsr(cwd: string, name: string, cn: string, keyType: "ec" | "rsa:1024" = "ec"): void {
  const keyOptions = keyType === "ec" ? ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] : ["-newkey", keyType];
  openssl(["req", "-new", ...keyOptions, "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`], { cwd });
}

/** Creates a CA in `dir/slug/`: self-signed, or signed by `parent` to make an intermediate. */
function createCa(dir: TempDir, slug: string, cn: string, parent?: TestCa): TestCa {
  const caDir = dir.file(slug);
  mkdirSync(join(caDir, "issued"), { recursive: true });
  writeFileSync(join(caDir, "index.txt"), "");
  writeFileSync(join(caDir, "serial"), "1000\n");
  writeFileSync(join(caDir, "crlnumber"), "1000\n");
  const config = join(caDir, "openssl.cnf");
  writeFileSync(config, caConfig(caDir));
  if (parent) {
    newKeyAndCsr(caDir, "ca", cn);
    openssl(["ca", "-config", parent.config, "-batch", "-notext", "-extensions", "ca_ext", "-in", "ca.csr", "-out", "ca.crt"], { cwd: caDir });
  } else {
    openssl(["req", "-x509", "-new", "-config", config, "-extensions", "ca_ext", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-subj", `/CN=${cn}`, "-days", "30"], { cwd: caDir });
  }
  return { subject: `CN=${cn}`, cert: `${slug}/ca.crt`, config };
}

interface IssueOptions {
  readonly profile: "client" | "server";
  readonly keyType?: "ec" | "rsa:1024";
  readonly validity?: { readonly from: Date; readonly until: Date };
}

/** Issues `name.crt` with `name.key` in the test directory from `ca`, via `openssl ca`. */
function issue(dir: TempDir, ca: TestCa, name: string, options: IssueOptions): { cert: string; key: string } {
  newKeyAndCsr(dir.path, name, name, options.keyType);
  const dates = options.validity ? ["-startdate", opensslDate(options.validity.from), "-enddate", opensslDate(options.validity.until)] : [];
  openssl(["ca", "-config", ca.config, "-batch", "-notext", "-extensions", `${options.profile}_ext`, ...dates, "-in", `${name}.csr`, "-out", `${name}.crt`], { cwd: dir.path });
  return { cert: `${name}.crt`, key: `${name}.key` };
}

/** Writes `ca`'s CRL to `out`, optionally with explicit (e.g. long past) update times. */
function generateCrl(dir: TempDir, ca: TestCa, out: string, updates?: { readonly last: Date; readonly next: Date }): string {
  const times = updates ? ["-crl_lastupdate", opensslDate(updates.last), "-crl_nextupdate", opensslDate(updates.next)] : [];
  openssl(["ca", "-config", ca.config, "-gencrl", ...times, "-out", out], { cwd: dir.path });
  return out;
}

/** Concatenates PEM files into one bundle, in the order given (`cat a.crt b.crt > out`). */
function bundle(dir: TempDir, out: string, ...files: string[]): string {
  writeFileSync(dir.file(out), files.map((f) => readFileSync(dir.file(f), "utf8")).join(""));
  return out;
}

/** A root CA, an intermediate it signed and a client certificate `device` the intermediate issued, in `dir`. */
function deviceUnderIntermediate(dir: TempDir): { root: TestCa; intermediate: TestCa; leaf: { cert: string; key: string } } {
  const root = createCa(dir, "root", "Test Root CA");
  const intermediate = createCa(dir, "intermediate", "Test Intermediate CA", root);
  return { root, intermediate, leaf: issue(dir, intermediate, "device", { profile: "client" }) };
}

describe("pier doctor accepts the seeds' openssl set", () => {
  it("as a server set for the name in its SAN", async () => {
    await using dir = tempDir("doctor-seed");
    copySeeds(dir, "ca.cert", "server.cert", "server.key");
    const result = doctor(dir, ["--ca", "ca.cert", "--cert", "server.cert", "--key", "server.key", "--role", "server", "--host", seedServerName]);
    expectAccepted(result, "server");
    expect(result.stdout).toMatch(/^✓ the private key matches the certificate$/m);
  });

  it("as a client set", async () => {
    await using dir = tempDir("doctor-seed");
    copySeeds(dir, "ca.cert", "client.cert", "client.key");
    const result = doctor(dir, ["--ca", "ca.cert", "--cert", "client.cert", "--key", "client.key", "--role", "client"]);
    expectAccepted(result, "client");
    expect(result.stdout).toMatch(/^✓ CN=client chains to /m);
  });
});

describe("pier doctor names the chain's defects", () => {
  it("a certificate signed by a different CA", async () => {
    await using dir = tempDir("doctor-foreign");
    copySeeds(dir, "client.cert", "client.key");
    const foreign = createCa(dir, "foreign", "Foreign CA");
    const result = doctor(dir, ["--ca", foreign.cert, "--cert", "client.cert", "--key", "client.key", "--role", "client"]);
    const { problem, fix } = expectDefect(result, "client.cert", /which is not the CA in foreign\/ca\.crt/);
    expect(problem).toContain("CN=Foreign CA");
    expect(fix).toMatch(/use the matching CA file or re-issue it/);
  });

  it("a CA re-created under the same name (the seeds' default DN)", async () => {
    await using dir = tempDir("doctor-recreated");
    copySeeds(dir, "client.cert", "client.key");
    // Like the seeds' CA command: -batch takes openssl's default DN, so every such CA has the same name.
    openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "new-ca.key", "-out", "new-ca.cert", "-days", "30", "-batch"], { cwd: dir.path });
    const result = doctor(dir, ["--ca", "new-ca.cert", "--cert", "client.cert", "--key", "client.key", "--role", "client"]);
    expectDefect(result, "client.cert", /as issuer, but that CA's key did not sign it/);
  });

  it("an intermediate CA missing from the certificate file", async () => {
    await using dir = tempDir("doctor-intermediate");
    const { root, leaf } = deviceUnderIntermediate(dir);
    const result = doctor(dir, ["--ca", root.cert, "--cert", leaf.cert, "--key", leaf.key, "--role", "client"]);
    const { problem, fix } = expectDefect(result, "device.crt", /was issued by "CN=Test Intermediate CA", which is not the CA in root\/ca\.crt/);
    expect(problem).toContain("(CN=Test Root CA)");
    expect(fix).toMatch(/append it to device\.crt after the leaf/);
  });

  it("accepts the same chain when the bundle is leaf then intermediate", async () => {
    await using dir = tempDir("doctor-intermediate");
    const { root, intermediate, leaf } = deviceUnderIntermediate(dir);
    const chain = bundle(dir, "device-chain.crt", leaf.cert, intermediate.cert);
    const result = doctor(dir, ["--ca", root.cert, "--cert", chain, "--key", leaf.key, "--role", "client"]);
    expectAccepted(result, "client");
    expect(result.stdout).toMatch(/^✓ CN=device chains to CN=Test Root CA$/m);
  });

  it("a bundle in the wrong order (intermediate before the leaf)", async () => {
    await using dir = tempDir("doctor-order");
    const { root, intermediate, leaf } = deviceUnderIntermediate(dir);
    const chain = bundle(dir, "device-chain.crt", intermediate.cert, leaf.cert);
    const result = doctor(dir, ["--ca", root.cert, "--cert", chain, "--key", leaf.key, "--role", "client"]);
    const { problem, fix } = expectDefect(result, chain, /the bundle starts with CN=Test Intermediate CA \(a CA\)/);
    expect(problem).toMatch(/CN=device comes at position 2/);
    expect(fix).toMatch(/put the client certificate first/);
  });

  it("a CA file that holds a server certificate, not a CA", async () => {
    await using dir = tempDir("doctor-not-ca");
    copySeeds(dir, "server.cert", "client.cert", "client.key");
    const result = doctor(dir, ["--ca", "server.cert", "--cert", "client.cert", "--key", "client.key", "--role", "client"]);
    const { fix } = expectDefect(result, "server.cert", /is not a CA certificate \(basicConstraints CA:TRUE is missing\)/);
    expect(fix).toMatch(/pass the CA certificate that issued your certificates/);
  });
});

describe("pier doctor names the certificate's defects", () => {
  it("an expired certificate, with its dates", async () => {
    await using dir = tempDir("doctor-expired");
    const ca = createCa(dir, "ca", "Test CA");
    const validity = { from: new Date("2020-01-01T00:00:00Z"), until: new Date("2021-01-01T00:00:00Z") };
    const leaf = issue(dir, ca, "old", { profile: "client", validity });
    const result = doctor(dir, ["--ca", ca.cert, "--cert", leaf.cert, "--key", leaf.key, "--role", "client"]);
    const { problem, fix } = expectDefect(result, "old.crt", /certificate \(CN=old\) expired on 2021-01-01T00:00:00Z/);
    expect(problem).toContain("valid 2020-01-01T00:00:00Z → 2021-01-01T00:00:00Z");
    expect(fix).toMatch(/issue a new certificate/);
  });

  it("a certificate that is not valid yet", async () => {
    await using dir = tempDir("doctor-future");
    const ca = createCa(dir, "ca", "Test CA");
    const from = new Date(Math.floor(Date.now() / 1000) * 1000 + 2 * 86_400_000);
    const leaf = issue(dir, ca, "early", { profile: "client", validity: { from, until: new Date(from.getTime() + 30 * 86_400_000) } });
    const result = doctor(dir, ["--ca", ca.cert, "--cert", leaf.cert, "--key", leaf.key, "--role", "client"]);
    const { fix } = expectDefect(result, "early.crt", new RegExp(`\\(CN=early\\) is not valid until ${doctorDate(from)}`));
    expect(fix).toMatch(/check the clock/);
  });

  it("a client certificate used as a server certificate", async () => {
    await using dir = tempDir("doctor-eku");
    copySeeds(dir, "ca.cert", "client.cert", "client.key");
    const result = doctor(dir, ["--ca", "ca.cert", "--cert", "client.cert", "--key", "client.key", "--role", "server", "--host", seedServerName]);
    const { fix } = expectDefect(result, "client.cert", /extendedKeyUsage is clientAuth, without serverAuth/);
    expect(fix).toMatch(/pier ca issue server/);
  });

  it("a server certificate used as a client certificate", async () => {
    await using dir = tempDir("doctor-eku");
    copySeeds(dir, "ca.cert", "server.cert", "server.key");
    const result = doctor(dir, ["--ca", "ca.cert", "--cert", "server.cert", "--key", "server.key", "--role", "client"]);
    const { fix } = expectDefect(result, "server.cert", /extendedKeyUsage is serverAuth, without clientAuth/);
    expect(fix).toMatch(/extendedKeyUsage=clientAuth/);
  });

  it("a server certificate without a subjectAltName", async () => {
    await using dir = tempDir("doctor-no-san");
    copySeeds(dir, "ca.cert", "ca.key", "server.csr", "server.key");
    // The seeds' server command with the -extfile forgotten.
    openssl(["x509", "-req", "-days", "365", "-in", "server.csr", "-CA", "ca.cert", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.cert"], { cwd: dir.path });
    const result = doctor(dir, ["--ca", "ca.cert", "--cert", "server.cert", "--key", "server.key", "--role", "server", "--host", seedServerName]);
    const { fix } = expectDefect(result, "server.cert", /has no subjectAltName/);
    expect(fix).toContain(`--san DNS:${seedServerName}`);
  });

  it("a server certificate whose SAN does not cover --host", async () => {
    await using dir = tempDir("doctor-san");
    copySeeds(dir, "ca.cert", "server.cert", "server.key");
    const result = doctor(dir, ["--ca", "ca.cert", "--cert", "server.cert", "--key", "server.key", "--role", "server", "--host", "other.example.com"]);
    const { problem, fix } = expectDefect(result, "server.cert", /do not cover "other\.example\.com"/);
    expect(problem).toContain(`DNS:${seedServerName}`);
    expect(fix).toContain("--san DNS:other.example.com");
  });

  it("a weak RSA 1024 key", async () => {
    await using dir = tempDir("doctor-weak");
    const ca = createCa(dir, "ca", "Test CA");
    const leaf = issue(dir, ca, "weak", { profile: "client", keyType: "rsa:1024" });
    const result = doctor(dir, ["--ca", ca.cert, "--cert", leaf.cert, "--key", leaf.key, "--role", "client"]);
    const { fix } = expectDefect(result, "weak.crt", /CN=weak has a weak RSA 1024 key/);
    expect(fix).toMatch(/RSA ≥ 2048/);
  });
});

describe("pier doctor names the key's defects", () => {
  it("a key that does not belong to the certificate", async () => {
    await using dir = tempDir("doctor-key");
    copySeeds(dir, "ca.cert", "server.cert", "client.key");
    const result = doctor(dir, ["--ca", "ca.cert", "--cert", "server.cert", "--key", "client.key", "--role", "server", "--host", seedServerName]);
    const { fix } = expectDefect(result, "client.key", /the private key does not belong to /);
    expect(fix).toMatch(/openssl pkey -pubout/);
  });

  it("an encrypted private key", async () => {
    await using dir = tempDir("doctor-encrypted");
    copySeeds(dir, "ca.cert", "client.cert", "client.key");
    openssl(["pkey", "-in", "client.key", "-aes256", "-passout", "pass:x", "-out", "client-encrypted.key"], { cwd: dir.path });
    const result = doctor(dir, ["--ca", "ca.cert", "--cert", "client.cert", "--key", "client-encrypted.key", "--role", "client"]);
    const { fix } = expectDefect(result, "client-encrypted.key", /encrypted with a passphrase/);
    expect(fix).toContain("openssl pkey -in client-encrypted.key");
  });

  it("an empty key file", async () => {
    await using dir = tempDir("doctor-empty");
    copySeeds(dir, "ca.cert", "client.cert");
    writeFileSync(dir.file("client.key"), "");
    const result = doctor(dir, ["--ca", "ca.cert", "--cert", "client.cert", "--key", "client.key", "--role", "client"]);
    expectDefect(result, "client.key", /the file is empty/);
  });
});

describe("pier doctor recognises files of the wrong kind", () => {
  it("a DER certificate where PEM is expected", async () => {
    await using dir = tempDir("doctor-der");
    copySeeds(dir, "ca.cert", "client.cert", "client.key");
    openssl(["x509", "-in", "client.cert", "-outform", "der", "-out", "client.der"], { cwd: dir.path });
    const result = doctor(dir, ["--ca", "ca.cert", "--cert", "client.der", "--key", "client.key", "--role", "client"]);
    const { fix } = expectDefect(result, "client.der", /the certificate is DER \(binary\)/);
    expect(fix).toContain("openssl x509 -inform der -in client.der");
  });

  it("a private key passed as the certificate", async () => {
    await using dir = tempDir("doctor-key-as-cert");
    copySeeds(dir, "ca.cert", "client.key");
    const result = doctor(dir, ["--ca", "ca.cert", "--cert", "client.key", "--key", "client.key", "--role", "client"]);
    const { fix } = expectDefect(result, "client.key", /expected a certificate, found a private key/);
    expect(fix).toMatch(/pass the key with --key and a certificate here/);
  });

  it("a signing request passed as the certificate", async () => {
    await using dir = tempDir("doctor-csr");
    copySeeds(dir, "ca.cert", "client.csr", "client.key");
    const result = doctor(dir, ["--ca", "ca.cert", "--cert", "client.csr", "--key", "client.key", "--role", "client"]);
    const { fix } = expectDefect(result, "client.csr", /expected a certificate, found a certificate signing request/);
    expect(fix).toMatch(/sign it first/);
  });

  it("random bytes passed as the certificate", async () => {
    await using dir = tempDir("doctor-garbage");
    copySeeds(dir, "ca.cert", "client.key");
    writeFileSync(dir.file("client.cert"), randomBytes(1024));
    const result = doctor(dir, ["--ca", "ca.cert", "--cert", "client.cert", "--key", "client.key", "--role", "client"]);
    expectDefect(result, "client.cert", /this is neither PEM nor DER/);
  });
});

describe("pier doctor checks revocation with --crl", () => {
  it("a revoked certificate, with the reason", async () => {
    await using dir = tempDir("doctor-revoked");
    const ca = createCa(dir, "ca", "Test CA");
    const leaf = issue(dir, ca, "lost-laptop", { profile: "client" });
    openssl(["ca", "-config", ca.config, "-revoke", leaf.cert, "-crl_reason", "keyCompromise"], { cwd: dir.path });
    const crl = generateCrl(dir, ca, "crl.pem");
    const result = doctor(dir, ["--ca", ca.cert, "--cert", leaf.cert, "--key", leaf.key, "--role", "client", "--crl", crl]);
    const { fix } = expectDefect(result, leaf.cert, /\(CN=lost-laptop\) was revoked on .*, reason keyCompromise \(according to crl\.pem\)/);
    expect(fix).toMatch(/issue the device a new certificate/);
  });

  it("accepts a certificate absent from a current CRL", async () => {
    await using dir = tempDir("doctor-crl-ok");
    const ca = createCa(dir, "ca", "Test CA");
    const leaf = issue(dir, ca, "device", { profile: "client" });
    const crl = generateCrl(dir, ca, "crl.pem");
    expectAccepted(doctor(dir, ["--ca", ca.cert, "--cert", leaf.cert, "--key", leaf.key, "--role", "client", "--crl", crl]), "client");
  });

  it("an out-of-date CRL", async () => {
    await using dir = tempDir("doctor-crl-expired");
    const ca = createCa(dir, "ca", "Test CA");
    const leaf = issue(dir, ca, "device", { profile: "client" });
    const crl = generateCrl(dir, ca, "crl.pem", { last: new Date("2020-01-01T00:00:00Z"), next: new Date("2020-01-08T00:00:00Z") });
    const { fix } = expectDefect(doctor(dir, ["--ca", ca.cert, "--cert", leaf.cert, "--key", leaf.key, "--role", "client", "--crl", crl]), "crl.pem", /the CRL is out of date: its next update was due 2020-01-08T00:00:00Z/);
    expect(fix).toMatch(/publish a fresh CRL/);
  });

  it("a CRL from another CA", async () => {
    await using dir = tempDir("doctor-crl-issuer");
    const ca = createCa(dir, "ca", "Test CA");
    const other = createCa(dir, "other", "Other CA");
    const leaf = issue(dir, ca, "device", { profile: "client" });
    const crl = generateCrl(dir, other, "other-crl.pem");
    const result = doctor(dir, ["--ca", ca.cert, "--cert", leaf.cert, "--key", leaf.key, "--role", "client", "--crl", crl]);
    const { problem } = expectDefect(result, "other-crl.pem", /the CRL was issued by CN=Other CA/);
    expect(problem).toContain("not by the CA that issued the certificate (CN=Test CA)");
  });
});

describe("pier doctor rejects a malformed command line", () => {
  it("without --role", async () => {
    await using dir = tempDir("doctor-usage");
    copySeeds(dir, "client.cert");
    const result = doctor(dir, ["--cert", "client.cert"]);
    expect(result.status, result.output).toBe(2);
    expect(result.output).toMatch(/--role is required/);
  });

  it("with an unknown flag", async () => {
    await using dir = tempDir("doctor-usage");
    copySeeds(dir, "client.cert");
    const result = doctor(dir, ["--cert", "client.cert", "--role", "client", "--certificate", "client.cert"]);
    expect(result.status, result.output).toBe(2);
    expect(result.output).toMatch(/--certificate/);
    expect(result.output).toMatch(/pier doctor --help/);
  });
});
