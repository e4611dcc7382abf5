/** Object identifiers Pier reads and writes, with the short names tools print. */
export const Oid = {
  commonName: "2.5.4.3",
  serialNumber: "2.5.4.5",
  country: "2.5.4.6",
  locality: "2.5.4.7",
  state: "2.5.4.8",
  organization: "2.5.4.10",
  organizationalUnit: "2.5.4.11",
  emailAddress: "1.2.840.113549.1.9.1",
  domainComponent: "0.9.2342.19200300.100.1.25",

  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  crlNumber: "2.5.29.20",
  crlReason: "2.5.29.21",
  nameConstraints: "2.5.29.30",
  crlDistributionPoints: "2.5.29.31",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  anyExtendedKeyUsage: "2.5.29.37.0",

  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
  codeSigning: "1.3.6.1.5.5.7.3.3",
  emailProtection: "1.3.6.1.5.5.7.3.4",
  ocspSigning: "1.3.6.1.5.5.7.3.9",

  extensionRequest: "1.2.840.113549.1.9.14",

  rsaEncryption: "1.2.840.113549.1.1.1",
  ecPublicKey: "1.2.840.10045.2.1",
  ed25519: "1.3.101.112",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  ecdsaWithSha384: "1.2.840.10045.4.3.3",
  ecdsaWithSha512: "1.2.840.10045.4.3.4",
  sha256WithRsa: "1.2.840.113549.1.1.11",
  sha384WithRsa: "1.2.840.113549.1.1.12",
  sha512WithRsa: "1.2.840.113549.1.1.13",
  sha1WithRsa: "1.2.840.113549.1.1.5",
  md5WithRsa: "1.2.840.113549.1.1.4",
  rsassaPss: "1.2.840.113549.1.1.10",
  ecdsaWithSha1: "1.2.840.10045.4.1",
} as const;

/** Name attribute short names, as in openssl and RFC 4514. */
export const attributeShortNames: Readonly<Record<string, string>> = {
  [Oid.commonName]: "CN",
  [Oid.serialNumber]: "serialNumber",
  [Oid.country]: "C",
  [Oid.locality]: "L",
  [Oid.state]: "ST",
  [Oid.organization]: "O",
  [Oid.organizationalUnit]: "OU",
  [Oid.emailAddress]: "emailAddress",
  [Oid.domainComponent]: "DC",
};

/** Signature algorithms: display name and the digest `crypto.verify` needs (null for EdDSA). */
export const signatureAlgorithms: Readonly<Record<string, { name: string; hash: string | null; weak: boolean }>> = {
  [Oid.ecdsaWithSha256]: { name: "ecdsa-with-SHA256", hash: "sha256", weak: false },
  [Oid.ecdsaWithSha384]: { name: "ecdsa-with-SHA384", hash: "sha384", weak: false },
  [Oid.ecdsaWithSha512]: { name: "ecdsa-with-SHA512", hash: "sha512", weak: false },
  [Oid.sha256WithRsa]: { name: "sha256WithRSAEncryption", hash: "sha256", weak: false },
  [Oid.sha384WithRsa]: { name: "sha384WithRSAEncryption", hash: "sha384", weak: false },
  [Oid.sha512WithRsa]: { name: "sha512WithRSAEncryption", hash: "sha512", weak: false },
  [Oid.ed25519]: { name: "ED25519", hash: null, weak: false },
  [Oid.sha1WithRsa]: { name: "sha1WithRSAEncryption", hash: "sha1", weak: true },
  [Oid.ecdsaWithSha1]: { name: "ecdsa-with-SHA1", hash: "sha1", weak: true },
  [Oid.md5WithRsa]: { name: "md5WithRSAEncryption", hash: "md5", weak: true },
};

/** Extended key usage display names. */
export const extKeyUsageNames: Readonly<Record<string, string>> = {
  [Oid.serverAuth]: "serverAuth",
  [Oid.clientAuth]: "clientAuth",
  [Oid.codeSigning]: "codeSigning",
  [Oid.emailProtection]: "emailProtection",
  [Oid.ocspSigning]: "OCSPSigning",
  [Oid.anyExtendedKeyUsage]: "anyExtendedKeyUsage",
};
