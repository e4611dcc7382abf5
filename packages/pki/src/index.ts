/**
 * `@pier/pki`: keys, CSRs, certificate issuance, CRLs, parsing and diagnostics.
 * Everything else in Pier reaches certificates through this entry point.
 */
export { PkiError, type PkiErrorCode } from "./errors.ts";
export { parsePem, toPem, looksLikePem, type PemBlock } from "./pem.ts";
export {
  keyTypes,
  defaultKeyType,
  parseKeyType,
  isSlowKeyType,
  generateKeyPair,
  generateKeyPairSync,
  privateKeyToPem,
  loadPrivateKey,
  isEncryptedPrivateKey,
  describeKey,
  spkiDer,
  spkiSha256,
  keysMatch,
  type KeyType,
  type KeyPair,
  type KeyDescription,
} from "./keys.ts";
export { encodeName, formatName, formatNameDer, commonNameOf, parseSanList, formatSan, type NameAttribute, type SubjectInput, type SubjectAltName } from "./names.ts";
export { signCertificate, certificateToPem, parseCertificate, isIssuedBy, randomSerial, colonHex, type CertificateSpec, type CertificateInfo } from "./certificate.ts";
export { profiles, profileExtensions, type Profile, type ProfileInput } from "./profiles.ts";
export { parseDuration, formatDuration } from "./duration.ts";
export { certificateSpkiSha256 } from "./certificate-spki.ts";
export { verifyCrl, crlMaxBytes, type CrlVerification, type CrlProblem, type CrlProblemCode } from "./crl-verify.ts";
export { keyIdentifier, crlDistributionPointMaxLength, keyUsageNames, extKeyUsageName, type KeyUsage, type DecodedExtensions } from "./extensions.ts";
export { createCsr, csrToPem, parseCsr, type CsrInfo } from "./csr.ts";
export { signCrl, crlToPem, parseCrl, parseRevocationReason, revocationReasons, type RevocationReason, type RevokedEntry, type CrlInfo, type CrlSpec } from "./crl.ts";
export { readPkiFile, classifyDer, describeKind, type PkiObject, type PkiObjectKind, type PkiFile } from "./pki-object.ts";
export { inspectPkiFile, describeCertificate } from "./inspect.ts";
export {
  CertificateAuthority,
  caPaths,
  canonicalSerial,
  defaultDays,
  leafLifetimeLimits,
  type IssuedRecord,
  type ExternalRevocation,
  type LeafSigner,
  type SignedLeaf,
  type SignedCrl,
  type ListedCertificate,
  type LeafProfile,
  type LeafRequest,
  type IssuedCertificate,
} from "./authority/certificate-authority.ts";
export { writeFileAtomic, writeNewFile } from "./authority/files.ts";
export {
  diagnoseCertificateSet,
  type CertificateSetInput,
  type CertificateSetReport,
  type Finding,
  type FindingCode,
  type InputFile,
  type TlsRole,
} from "./diagnose/certificate-set.ts";
export {
  explainTlsFailure,
  explainServerSideTlsError,
  inferClientCertificateRejection,
  tlsAlertName,
  type TlsFailure,
  type TlsFailureCode,
  type ClientTlsContext,
} from "./diagnose/tls-failure.ts";
export { tlsProfile, type TlsProfile } from "./tls-profile.ts";
export { probeEndpoint, formatEndpointReport, type EndpointProbeOptions, type EndpointReport, type PresentedCertificate } from "./diagnose/endpoint-probe.ts";
