import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type KeyType,
  type SubjectAltName,
  createCsr,
  encodeName,
  generateKeyPairSync,
  keyIdentifier,
  parsePem,
  profileExtensions,
  signCertificate,
  signCrl,
} from "@pier/pki";

/** Real certificates, CSRs and CRLs made for this run, by Pier's pki and by openssl. */
export interface PkiCorpus {
  readonly certificates: Buffer[];
  readonly csrs: Buffer[];
  readonly crls: Buffer[];
  /** PEM texts (single objects and bundles) of the same objects. */
  readonly pems: string[];
  readonly description: string;
}

const sans: SubjectAltName[] = [
  { type: "dns", value: "pier.example.com" },
  { type: "dns", value: "*.edge.example.com" },
  { type: "ip", value: "10.0.0.5" },
  { type: "ip", value: "2001:db8::1" },
  { type: "uri", value: "spiffe://pier/edge/17" },
  { type: "email", value: "ops@example.com" },
];

function ours(): { certificates: Buffer[]; csrs: Buffer[]; crls: Buffer[] } {
  const day = 86_400_000;
  const now = Date.now();
  const types: KeyType[] = ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048"];
  const keys = types.map((type) => generateKeyPairSync(type));
  const [caKey, , , rsaKey] = keys;
  const caName = encodeName({ commonName: "Pier fuzz CA", organization: "Pier", organizationalUnit: "fuzz" });
  const caKeyId = keyIdentifier(caKey!.publicKey);
  const ca = signCertificate({
    subject: caName,
    issuer: caName,
    publicKey: caKey!.publicKey,
    signingKey: caKey!.privateKey,
    notBefore: new Date(now - day),
    notAfter: new Date(now + 3650 * day),
    extensions: profileExtensions("ca", { subjectKey: caKey!.publicKey, issuerKeyId: caKeyId, pathLength: 0 }),
  });
  const certificates = [ca];
  keys.forEach((key, index) => {
    const profile = index % 2 === 0 ? "server" : "client";
    certificates.push(
      signCertificate({
        subject: encodeName({ commonName: `device-${index}` }),
        issuer: caName,
        publicKey: key.publicKey,
        signingKey: (index === 3 ? rsaKey! : caKey!).privateKey,
        notBefore: new Date(now - day),
        // One certificate past 2049 so GeneralizedTime is exercised (RFC 5280 §4.1.2.5).
        notAfter: new Date(index === 2 ? Date.UTC(2061, 0, 1) : now + 90 * day),
        extensions: profileExtensions(profile, { subjectKey: key.publicKey, issuerKeyId: caKeyId, subjectAltNames: index === 0 ? sans : sans.slice(0, 2) }),
        serial: index === 1 ? Buffer.from([0x00, 0x80, 0x01]) : undefined,
      }),
    );
  });
  const csrs = keys.map((key, index) => createCsr({ privateKey: key.privateKey, subject: { commonName: `edge-${index}`, ...(index % 2 ? { organization: "Acme" } : {}) }, ...(index < 2 ? { subjectAltNames: sans } : {}) }));
  const crlBase = { issuer: caName, issuerKeyId: caKeyId, signingKey: caKey!.privateKey, thisUpdate: new Date(now), nextUpdate: new Date(now + 7 * day) };
  const crls = [
    signCrl({ ...crlBase, crlNumber: 1, revoked: [] }),
    signCrl({
      ...crlBase,
      crlNumber: 300,
      revoked: [
        { serialNumber: "01", revokedAt: new Date(now - day), reason: "keyCompromise" },
        { serialNumber: "7f3a9c00112233445566778899aabbcc", revokedAt: new Date(now - 2 * day), reason: "unspecified" },
        { serialNumber: "80", revokedAt: new Date(Date.UTC(2055, 5, 1)), reason: "cessationOfOperation" },
      ],
    }),
  ];
  return { certificates, csrs, crls };
}

function openssl(dir: string): { certificates: Buffer[]; csrs: Buffer[]; crls: Buffer[] } {
  const sh = (script: string) => execFileSync("bash", ["-euo", "pipefail", "-c", script], { cwd: dir, stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 });
  sh(`
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout ca.key -subj "/C=DE/ST=Berlin/O=Acme Edge/CN=Acme root" -days 40000 -out ca.pem
openssl req -x509 -newkey rsa:2048 -nodes -keyout rsa.key -subj "/CN=rsa.example.com/emailAddress=ops@example.com" -addext "subjectAltName=DNS:rsa.example.com,IP:192.0.2.7,IP:::1" -addext "extendedKeyUsage=serverAuth,clientAuth" -days 30 -out rsa.pem
openssl req -new -newkey ed25519 -nodes -keyout ed.key -subj "/O=Acme/OU=edge/CN=edge-ed25519" -addext "subjectAltName=DNS:edge.example.com" -out ed.csr
openssl x509 -req -in ed.csr -CA ca.pem -CAkey ca.key -set_serial 0x00ff00ff00ff -days 10 -copy_extensions copyall -out ed.pem
openssl req -new -key rsa.key -subj "/C=US/CN=rsa-csr" -outform DER -out rsa.csr.der
openssl req -in ed.csr -outform DER -out ed.csr.der
printf '[ca]\\ndefault_ca=fz\\n[fz]\\ndatabase=index.txt\\ncrlnumber=crlnumber\\ndefault_md=sha384\\ndefault_crl_days=30\\ncrl_extensions=crlext\\n[crlext]\\nauthorityKeyIdentifier=keyid:always\\n' > ca.cnf
printf 'R\\t300101000000Z\\t250101000000Z,keyCompromise\\t1234\\tunknown\\t/CN=x\\nR\\t300101000000Z\\t250201000000Z\\t0AFF\\tunknown\\t/CN=y\\nR\\t300101000000Z\\t250301000000Z,superseded\\t00FF00FF00FF\\tunknown\\t/CN=z\\n' > index.txt
echo 1000 > crlnumber
openssl ca -gencrl -config ca.cnf -keyfile ca.key -cert ca.pem -out crl.pem 2>/dev/null
for f in ca rsa ed; do openssl x509 -in $f.pem -outform DER -out $f.der; done
openssl crl -in crl.pem -outform DER -out crl.der
`);
  const read = (name: string) => readFileSync(join(dir, name));
  return { certificates: [read("ca.der"), read("rsa.der"), read("ed.der")], csrs: [read("rsa.csr.der"), read("ed.csr.der")], crls: [read("crl.der")] };
}

/** Makes the corpus: Pier's CA, leaves (four key types), CSRs and CRLs, and openssl's. */
export function makePkiCorpus(): PkiCorpus {
  const dir = mkdtempSync(join(tmpdir(), "pier-fuzz-corpus-"));
  try {
    const mine = ours();
    const theirs = openssl(dir);
    const certificates = [...mine.certificates, ...theirs.certificates];
    const csrs = [...mine.csrs, ...theirs.csrs];
    const crls = [...mine.crls, ...theirs.crls];
    const pem = (label: string, der: Buffer) => `-----BEGIN ${label}-----\n${der.toString("base64").replace(/.{64}/g, "$&\n").replace(/\n$/, "")}\n-----END ${label}-----\n`;
    const pems = [
      ...certificates.map((der) => pem("CERTIFICATE", der)),
      ...csrs.map((der) => pem("CERTIFICATE REQUEST", der)),
      ...crls.map((der) => pem("X509 CRL", der)),
      certificates.map((der) => pem("CERTIFICATE", der)).join(""),
      `subject=CN=rsa\nissuer=CN=ca\n${pem("CERTIFICATE", certificates[0]!)}`,
      readFileSync(join(dir, "ca.key"), "latin1"),
    ];
    // A sanity check of the corpus itself: every PEM above must parse.
    for (const text of pems) parsePem(text);
    return {
      certificates,
      csrs,
      crls,
      pems,
      description: `corpus made this run: ${certificates.length} certificates, ${csrs.length} CSRs, ${crls.length} CRLs (Pier pki: ${mine.certificates.length}/${mine.csrs.length}/${mine.crls.length}, openssl: ${theirs.certificates.length}/${theirs.csrs.length}/${theirs.crls.length})`,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

let cached: PkiCorpus | undefined;

/** One corpus per process: the PKI targets share it. */
export function pkiCorpus(): PkiCorpus {
  cached ??= makePkiCorpus();
  return cached;
}
