import { Oid } from "../asn1/oids.ts";
import type { CertificateInfo } from "../certificate.ts";

/**
 * Stable codes for why a TLS connection failed. The same code is used by both sides: it names
 * the fault ("the client certificate's CA is unknown"), while `cause` and `fix` are written
 * from the point of view of whoever observed it.
 */
export type TlsFailureCode =
  | "connection_refused"
  | "host_not_found"
  | "host_unreachable"
  | "connection_timeout"
  | "connection_reset"
  | "handshake_timeout"
  | "handshake_cancelled"
  | "not_tls"
  | "protocol_version_mismatch"
  | "no_shared_cipher"
  | "handshake_failure"
  | "server_name_unrecognized"
  | "server_certificate_untrusted"
  | "server_certificate_expired"
  | "server_certificate_not_yet_valid"
  | "server_certificate_revoked"
  | "server_certificate_wrong_purpose"
  | "server_certificate_rejected"
  | "server_name_mismatch"
  | "client_certificate_required"
  | "client_certificate_unknown_ca"
  | "client_certificate_expired"
  | "client_certificate_not_yet_valid"
  | "client_certificate_revoked"
  | "client_certificate_wrong_purpose"
  | "client_certificate_rejected"
  | "revocation_unknown"
  | "client_key_mismatch"
  | "unreadable_credentials"
  | "tls_alert"
  | "tls_error";

/** A failure explained for an operator: a stable code, what happened, and what to do. */
export interface TlsFailure {
  readonly code: TlsFailureCode;
  readonly cause: string;
  readonly fix: string;
  /** The raw evidence (Node error code and OpenSSL reason), for `--verbose` output and bug reports. */
  readonly detail: string;
  /** Set when the peer gave no reason and the code was deduced from local evidence. */
  readonly inferred?: string;
}

/** What the client knew when its handshake failed; it decides between look-alike causes. */
export interface ClientTlsContext {
  readonly side: "client";
  readonly haveClientCertificate: boolean;
  /** The name checked against the server certificate (SNI or the host). */
  readonly servername?: string;
  /** Whether the server sent a CertificateRequest, when known (see `probeEndpoint`). */
  readonly clientCertificateRequested?: "yes" | "no" | "unknown";
  /** How the operator passes credentials, for the fix text. Defaults to `pier doctor`'s flags. */
  readonly flags?: { readonly cert?: string; readonly key?: string; readonly ca?: string };
}

type Side = "client" | "server";

interface View {
  readonly side: Side;
  readonly haveClientCertificate: boolean;
  readonly servername: string | undefined;
  readonly certFlags: string;
  readonly caFlag: string;
  /** Error-specific words appended to the cause, e.g. the OpenSSL verify reason. */
  readonly specific: string;
}

// TLS alert descriptions (RFC 8446 §6, RFC 5246 §7.2).
const alertNames: Readonly<Record<number, string>> = {
  0: "close_notify",
  10: "unexpected_message",
  20: "bad_record_mac",
  22: "record_overflow",
  40: "handshake_failure",
  42: "bad_certificate",
  43: "unsupported_certificate",
  44: "certificate_revoked",
  45: "certificate_expired",
  46: "certificate_unknown",
  47: "illegal_parameter",
  48: "unknown_ca",
  49: "access_denied",
  50: "decode_error",
  51: "decrypt_error",
  70: "protocol_version",
  71: "insufficient_security",
  80: "internal_error",
  86: "inappropriate_fallback",
  90: "user_canceled",
  109: "missing_extension",
  110: "unsupported_extension",
  112: "unrecognized_name",
  113: "bad_certificate_status_response",
  115: "unknown_psk_identity",
  116: "certificate_required",
  120: "no_application_protocol",
};
const alertNumbers = new Map(Object.entries(alertNames).map(([n, name]) => [name, Number(n)]));

/** The name of a TLS alert number, e.g. `48` → `unknown_ca`. */
export function tlsAlertName(description: number): string {
  return alertNames[description] ?? `alert ${description}`;
}

// X.509 verification results as Node reports them (socket.authorizationError, error.code).
type VerifyKind = "untrusted" | "expired" | "not_yet_valid" | "revoked" | "wrong_purpose" | "name_mismatch" | "crl";
const verifyCodes: Readonly<Record<string, VerifyKind>> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "untrusted",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "untrusted",
  UNABLE_TO_GET_ISSUER_CERT: "untrusted",
  SELF_SIGNED_CERT_IN_CHAIN: "untrusted",
  DEPTH_ZERO_SELF_SIGNED_CERT: "untrusted",
  CERT_UNTRUSTED: "untrusted",
  CERT_REJECTED: "untrusted",
  CERT_SIGNATURE_FAILURE: "untrusted",
  UNABLE_TO_DECRYPT_CERT_SIGNATURE: "untrusted",
  UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY: "untrusted",
  INVALID_CA: "untrusted",
  PATH_LENGTH_EXCEEDED: "untrusted",
  CERT_CHAIN_TOO_LONG: "untrusted",
  CERT_HAS_EXPIRED: "expired",
  ERROR_IN_CERT_NOT_AFTER_FIELD: "expired",
  CERT_NOT_YET_VALID: "not_yet_valid",
  ERROR_IN_CERT_NOT_BEFORE_FIELD: "not_yet_valid",
  CERT_REVOKED: "revoked",
  INVALID_PURPOSE: "wrong_purpose",
  ERR_TLS_CERT_ALTNAME_INVALID: "name_mismatch",
  HOSTNAME_MISMATCH: "name_mismatch",
  IP_ADDRESS_MISMATCH: "name_mismatch",
  UNABLE_TO_GET_CRL: "crl",
  CRL_HAS_EXPIRED: "crl",
  CRL_NOT_YET_VALID: "crl",
  CRL_SIGNATURE_FAILURE: "crl",
};

const verifyWords: Readonly<Record<string, string>> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "only the certificate itself was sent and its issuer is not among the trusted CAs",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "the CA that issued it is not among the trusted CAs",
  UNABLE_TO_GET_ISSUER_CERT: "the CA that issued it is not among the trusted CAs",
  SELF_SIGNED_CERT_IN_CHAIN: "its chain ends in a self-signed CA that is not trusted",
  DEPTH_ZERO_SELF_SIGNED_CERT: "it is self-signed",
  CERT_SIGNATURE_FAILURE: "its signature does not verify with the CA of that name (a different CA with the same name?)",
  INVALID_CA: "a certificate in its chain is not a valid CA certificate",
  PATH_LENGTH_EXCEEDED: "its chain is longer than a CA's path length allows",
  UNABLE_TO_GET_CRL: "no CRL is loaded for its issuing CA",
  CRL_HAS_EXPIRED: "the loaded CRL is past its next-update date",
};

// Message fragments, for peers and logs that carry only text (OpenSSL reasons, nginx logs).
const messagePatterns: ReadonlyArray<readonly [RegExp, string]> = [
  [/unable to verify the first certificate/i, "UNABLE_TO_VERIFY_LEAF_SIGNATURE"],
  [/unable to get local issuer certificate/i, "UNABLE_TO_GET_ISSUER_CERT_LOCALLY"],
  [/unable to get issuer certificate/i, "UNABLE_TO_GET_ISSUER_CERT"],
  [/self[- ]signed certificate in certificate chain/i, "SELF_SIGNED_CERT_IN_CHAIN"],
  [/self[- ]signed certificate/i, "DEPTH_ZERO_SELF_SIGNED_CERT"],
  [/certificate signature failure/i, "CERT_SIGNATURE_FAILURE"],
  [/certificate (has )?expired/i, "CERT_HAS_EXPIRED"],
  [/certificate is not yet valid/i, "CERT_NOT_YET_VALID"],
  [/certificate revoked/i, "CERT_REVOKED"],
  [/(unsuitable|unsupported) certificate purpose/i, "INVALID_PURPOSE"],
  [/unable to get certificate CRL/i, "UNABLE_TO_GET_CRL"],
  [/Hostname\/IP does not match|hostname mismatch/i, "ERR_TLS_CERT_ALTNAME_INVALID"],
  [/peer did not return a certificate/i, "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE"],
  [/http request/i, "ERR_SSL_HTTP_REQUEST"],
  [/wrong version number|packet length too long|record layer failure/i, "ERR_SSL_WRONG_VERSION_NUMBER"],
  [/unsupported protocol|no protocols available|version too low/i, "ERR_SSL_UNSUPPORTED_PROTOCOL"],
  [/no shared cipher/i, "ERR_SSL_NO_SHARED_CIPHER"],
  [/key values mismatch/i, "ERR_OSSL_X509_KEY_VALUES_MISMATCH"],
];

interface ErrorFacts {
  code: string;
  message: string;
  alert: number | undefined;
  /** `host:port` or the host name the network error names, when it does. */
  where: string;
  /** The peer certificate's subjectAltName, when the error carries the certificate. */
  names?: string;
}

function factsOf(error: unknown): ErrorFacts {
  // A string is a verification code (socket.authorizationError) or a line from a log.
  if (typeof error === "string") return factsOf(/^[A-Z0-9_/]+$/.test(error) ? { code: error, message: error } : { message: error });
  const e = (typeof error === "object" && error !== null ? error : {}) as Record<string, unknown>;
  const text = (v: unknown) => (typeof v === "string" ? v : typeof v === "number" ? String(v) : "");
  let code = text(e.code);
  const message = text(e.message) || (error instanceof Error ? "" : text(error));
  // AbortSignal.timeout() aborts with an AbortError whose cause is the TimeoutError.
  const cause = e.cause as { name?: unknown } | undefined;
  if (e.name === "TimeoutError" || (code === "ABORT_ERR" && cause?.name === "TimeoutError")) code = "ETIMEDOUT";
  const numbered = /SSL alert number (\d+)/.exec(message);
  // Node derives the code from the OpenSSL reason: OpenSSL 3 spells TLS 1.2 alerts
  // "ssl/tls alert bad certificate" (ERR_SSL_SSL/TLS_ALERT_BAD_CERTIFICATE), 1.1.1 said "sslv3 alert".
  const named = /_ALERT_([A-Z_]+)$|TLSV1_(UNRECOGNIZED_NAME)$/.exec(code);
  const alertName = (named?.[1] ?? named?.[2])?.toLowerCase();
  const alert = numbered?.[1] !== undefined ? Number(numbered[1]) : alertName !== undefined ? alertNumbers.get(alertName) : undefined;
  const address = text(e.address) || text(e.hostname);
  const where = address && e.port !== undefined ? `${address}:${text(e.port)}` : address;
  // ERR_TLS_CERT_ALTNAME_INVALID carries the peer certificate; its message lists only the SANs
  // of the kind checked (IPs for an IP), so take the names from the certificate itself.
  const certificate = e.cert as { subjectaltname?: unknown } | undefined;
  const names = text(certificate?.subjectaltname);
  return { code, message, alert, where, ...(names ? { names } : {}) };
}

function detailOf(facts: ErrorFacts): string {
  const firstLine = facts.message.split("\n")[0] ?? "";
  // OpenSSL messages read "<hex>:error:<hex>:SSL routines:<function>:<reason>:<file>:<line>:".
  const reason = /:SSL routines:[^:]*:([^:]+):/.exec(firstLine)?.[1] ?? firstLine;
  const alert = facts.alert === undefined ? "" : ` (alert ${facts.alert} ${tlsAlertName(facts.alert)})`;
  return [facts.code, reason].filter(Boolean).join(": ") + alert;
}

function verifyCodeFrom(facts: ErrorFacts): string | undefined {
  if (verifyCodes[facts.code]) return facts.code;
  if (facts.code.startsWith("ERR_SSL_") || facts.code.startsWith("ERR_OSSL_") || facts.code === "") {
    return messagePatterns.find(([pattern]) => pattern.test(facts.message))?.[1];
  }
  return undefined;
}

function fromVerifyKind(kind: VerifyKind, whose: "server" | "client"): TlsFailureCode {
  switch (kind) {
    case "untrusted":
      return whose === "server" ? "server_certificate_untrusted" : "client_certificate_unknown_ca";
    case "expired":
      return whose === "server" ? "server_certificate_expired" : "client_certificate_expired";
    case "not_yet_valid":
      return whose === "server" ? "server_certificate_not_yet_valid" : "client_certificate_not_yet_valid";
    case "revoked":
      return whose === "server" ? "server_certificate_revoked" : "client_certificate_revoked";
    case "wrong_purpose":
      return whose === "server" ? "server_certificate_wrong_purpose" : "client_certificate_wrong_purpose";
    case "name_mismatch":
      return "server_name_mismatch";
    case "crl":
      return "revocation_unknown";
  }
}

const networkCodes: Readonly<Record<string, TlsFailureCode>> = {
  ECONNREFUSED: "connection_refused",
  ENOTFOUND: "host_not_found",
  EAI_AGAIN: "host_not_found",
  EAI_NONAME: "host_not_found",
  EHOSTUNREACH: "host_unreachable",
  ENETUNREACH: "host_unreachable",
  EHOSTDOWN: "host_unreachable",
  ETIMEDOUT: "connection_timeout",
  ERR_TLS_HANDSHAKE_TIMEOUT: "handshake_timeout",
  ECONNRESET: "connection_reset",
  EPIPE: "connection_reset",
  ERR_SSL_WRONG_VERSION_NUMBER: "not_tls",
  ERR_SSL_HTTP_REQUEST: "not_tls",
  ERR_SSL_HTTPS_PROXY_REQUEST: "not_tls",
  ERR_SSL_PACKET_LENGTH_TOO_LONG: "not_tls",
  ERR_SSL_RECORD_LAYER_FAILURE: "not_tls",
  ERR_SSL_UNSUPPORTED_PROTOCOL: "protocol_version_mismatch",
  ERR_SSL_NO_PROTOCOLS_AVAILABLE: "protocol_version_mismatch",
  ERR_SSL_VERSION_TOO_LOW: "protocol_version_mismatch",
  ERR_SSL_NO_SHARED_CIPHER: "no_shared_cipher",
  ERR_SSL_NO_SUITABLE_SIGNATURE_ALGORITHM: "no_shared_cipher",
  ERR_OSSL_X509_KEY_VALUES_MISMATCH: "client_key_mismatch",
};

/** Maps an alert the *client* received from the server. */
function clientCodeForAlert(alert: number, context: ClientTlsContext): TlsFailureCode {
  const sentCertificate = context.haveClientCertificate;
  switch (alertNames[alert]) {
    case "certificate_required":
      return "client_certificate_required";
    case "unknown_ca":
      return "client_certificate_unknown_ca";
    case "certificate_expired":
      return "client_certificate_expired";
    case "certificate_revoked":
      return "client_certificate_revoked";
    case "unsupported_certificate":
      return "client_certificate_wrong_purpose";
    // Go servers answer a missing certificate under TLS 1.2 with bad_certificate.
    case "bad_certificate":
    case "certificate_unknown":
      return sentCertificate ? "client_certificate_rejected" : "client_certificate_required";
    case "access_denied":
      return sentCertificate ? "client_certificate_rejected" : "tls_alert";
    // A TLS 1.2 OpenSSL/Node server that requires a certificate sends a bare handshake_failure.
    case "handshake_failure":
      return !sentCertificate && context.clientCertificateRequested === "yes" ? "client_certificate_required" : "handshake_failure";
    case "protocol_version":
      return "protocol_version_mismatch";
    case "insufficient_security":
      return "no_shared_cipher";
    case "unrecognized_name":
      return "server_name_unrecognized";
    default:
      return "tls_alert";
  }
}

/** Maps an alert the *server* received from its client: the client's verdict on our certificate. */
function serverCodeForAlert(alert: number): TlsFailureCode {
  switch (alertNames[alert]) {
    case "unknown_ca":
      return "server_certificate_untrusted";
    case "certificate_expired":
      return "server_certificate_expired";
    case "certificate_revoked":
      return "server_certificate_revoked";
    case "unsupported_certificate":
      return "server_certificate_wrong_purpose";
    case "bad_certificate":
    case "certificate_unknown":
      return "server_certificate_rejected";
    case "protocol_version":
      return "protocol_version_mismatch";
    case "handshake_failure":
      return "handshake_failure";
    case "insufficient_security":
      return "no_shared_cipher";
    case "user_canceled":
      return "handshake_cancelled";
    default:
      return "tls_alert";
  }
}

const isoSeconds = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, "Z");

function sentence(text: string): string {
  return text.endsWith(".") ? text : `${text}.`;
}

/** The cause and fix for a code, seen from one side. Every code has both wordings. */
function describe(code: TlsFailureCode, view: View, facts: ErrorFacts): { cause: string; fix: string } {
  const client = view.side === "client";
  const specific = view.specific ? ` (${view.specific})` : "";
  const alert = facts.alert === undefined ? "" : ` (${tlsAlertName(facts.alert)} alert)`;
  const at = facts.where ? ` at ${facts.where}` : "";
  switch (code) {
    case "connection_refused":
      return {
        cause: `The connection was refused${at}: nothing is listening on that port, or a firewall rejects it.`,
        fix: "Check the host and port, and that the server is running and listening on that address (not only on 127.0.0.1).",
      };
    case "host_not_found":
      return {
        cause: `The host name${facts.where ? ` ${facts.where}` : ""} does not resolve (DNS lookup failed).`,
        fix: "Check the spelling of the host, and its DNS or /etc/hosts entry on this machine.",
      };
    case "host_unreachable":
      return {
        cause: `There is no network route to the host${at}.`,
        fix: "Check the address, and the VPN, routing and firewalls between this machine and the server.",
      };
    case "connection_timeout":
      return {
        cause: `The server did not answer the TCP connection in time${at}; a firewall may be silently dropping packets.`,
        fix: "Check that the port is open in firewalls and security groups and that the address is right; on a slow link, allow a longer timeout.",
      };
    case "handshake_timeout":
      return client
        ? {
            cause: "The TCP connection opened, but the server did not complete a TLS handshake in time.",
            fix: "Check that this is the service's TLS port (some protocols wait silently for the client) and that the server is not overloaded.",
          }
        : {
            cause: "A client opened a connection but did not complete a TLS handshake in time (a port scanner, a health check, or a client speaking another protocol).",
            fix: "Usually harmless; if a real client is affected, check its network path and that it speaks TLS to this port.",
          };
    case "handshake_cancelled":
      return {
        cause: `The ${client ? "server" : "client"} cancelled the handshake on purpose (user_canceled alert); \`pier doctor --connect\` does this after reading the server's hello.`,
        fix: "Nothing to do if a probe was running; otherwise check the peer's log.",
      };
    case "connection_reset":
      return client
        ? {
            cause: "The server closed the connection during the TLS handshake without saying why.",
            fix: "Check the server's log; a proxy or load balancer in front of it may not speak TLS on this port, or may refuse this client.",
          }
        : {
            cause: "The client closed the connection during the handshake without sending an alert. Node.js clients do this when they reject the server's certificate (unknown CA or name mismatch).",
            fix: "Check that clients trust this server's CA and connect with a name listed in its certificate.",
          };
    case "not_tls":
      return client
        ? {
            cause: "The server answered, but not with TLS: the port speaks plain HTTP or another protocol.",
            fix: "Use the service's TLS port, or enable TLS on this one.",
          }
        : facts.code === "ERR_SSL_HTTP_REQUEST"
          ? { cause: "The client sent a plain HTTP request to this TLS port.", fix: "Make the client use https:// instead of http://." }
          : { cause: "The client did not speak TLS on this TLS port.", fix: "Point the client at the right port, or make it use TLS." };
    case "protocol_version_mismatch":
      return client
        ? {
            cause: `The server does not accept the TLS version we offered${alert}.`,
            fix: "Pier speaks TLS 1.2 and 1.3; make the server allow at least TLS 1.2.",
          }
        : {
            cause: "The client offered only TLS versions this server does not accept.",
            fix: "Upgrade the client to TLS 1.2 or newer, or lower the server's minimum version if you must.",
          };
    case "no_shared_cipher":
      return {
        cause: "Client and server have no cipher suite in common; often the server certificate's key or key usage fits none of the suites offered.",
        fix: "Use an ECDSA P-256 or RSA server certificate whose key usage includes digitalSignature, and compare the cipher settings of both sides.",
      };
    case "handshake_failure":
      return client && !view.haveClientCertificate
        ? {
            cause: "The server aborted the handshake with a bare handshake_failure alert. Most often it requires a client certificate and none was sent; less often there is no common cipher suite.",
            fix: `Pass ${view.certFlags} with a certificate issued by the server's mTLS CA; if that does not help, compare TLS versions and cipher suites.`,
          }
        : {
            cause: `The ${client ? "server" : "client"} aborted the handshake with a bare handshake_failure alert: it rejected a certificate or found no common cipher suite.`,
            fix: `Check the ${client ? "server" : "client"}'s log for the reason; confirm each side's certificate is issued by a CA the other trusts.`,
          };
    case "server_name_unrecognized":
      return {
        cause: `The server does not serve the name we asked for${view.servername ? ` (${view.servername})` : ""} (unrecognized_name alert).`,
        fix: "Pass --servername with a name the server is configured for.",
      };
    case "server_certificate_untrusted":
      return client
        ? {
            cause: `The server's certificate is not signed by a CA we trust${specific}.`,
            fix: `Pass ${view.caFlag} with the CA certificate that issued the server's certificate (without it the system trust store is used), or make the server send its intermediate CA certificates.`,
          }
        : {
            cause: "The client does not trust this server's certificate: it does not know the CA that issued it (unknown_ca alert).",
            fix: "Give the client the CA certificate that issued this server's certificate (its --ca or trust store), or serve the full chain including intermediates.",
          };
    case "server_certificate_expired":
      return {
        cause: client ? "The server's certificate has expired." : "The client rejected this server's certificate as expired (certificate_expired alert).",
        fix: "Renew the server's certificate and reload the server; also check the clocks of both machines.",
      };
    case "server_certificate_not_yet_valid":
      return {
        cause: "The server's certificate is not valid yet: its start date is in the future.",
        fix: "Check the clock on this machine and on the CA that issued the certificate.",
      };
    case "server_certificate_revoked":
      return {
        cause: client ? "The server's certificate has been revoked by its CA." : "The client reports this server's certificate as revoked.",
        fix: "Issue a new server certificate and reload the server.",
      };
    case "server_certificate_wrong_purpose":
      return {
        cause: client
          ? "The server's certificate may not be used by a TLS server: its extended key usage lacks serverAuth."
          : "The client rejected this server's certificate as unsuitable (unsupported_certificate alert); its extended key usage probably lacks serverAuth.",
        fix: "Reissue the server certificate with extended key usage serverAuth.",
      };
    case "server_certificate_rejected":
      return {
        cause: `The client rejected this server's certificate${alert}, most often because the name it connected to is not in the certificate's subjectAltName.`,
        fix: "Compare the host name in the client's URL with the certificate's SANs, and reissue the certificate with the missing name.",
      };
    case "server_name_mismatch":
      return {
        cause: `The server's certificate does not cover the name ${view.servername ? `"${view.servername}"` : "we connected to"}${specific}.`,
        fix: "Connect with a name listed in the certificate's subjectAltName (or pass --servername), or reissue the certificate with this name.",
      };
    case "client_certificate_required":
      return client
        ? {
            cause: "The server requires a client certificate and none was sent.",
            fix: `Pass ${view.certFlags} with a certificate issued by the server's mTLS CA.`,
          }
        : {
            cause: "The client did not send a certificate, but this server requires one.",
            fix: "Configure the client with its certificate and key, issued by this server's mTLS CA.",
          };
    case "client_certificate_unknown_ca":
      return client
        ? {
            cause: `The server does not trust the CA that issued our client certificate${alert}.`,
            fix: "Use a client certificate issued by the CA the server trusts for clients (its mTLS CA), with any intermediate CA included in the certificate file.",
          }
        : {
            cause: `The client presented a certificate from a CA this server does not trust${specific}.`,
            fix: "Issue the client's certificate from this server's mTLS CA, or add the client's CA to the server's trusted client CAs.",
          };
    case "client_certificate_expired":
      return {
        cause: client ? "The server rejected our client certificate because it has expired." : "The client's certificate has expired.",
        fix: client ? "Renew the client certificate, and check this machine's clock." : "Renew the client's certificate; check the clocks of client and server.",
      };
    case "client_certificate_not_yet_valid":
      return {
        cause: client ? "The server rejected our client certificate as not yet valid (its start date is in the future)." : "The client's certificate is not valid yet: its start date is in the future.",
        fix: "Check the clocks of the client, the server and the CA that issued the certificate.",
      };
    case "client_certificate_revoked":
      return {
        cause: client ? "The server reports our client certificate as revoked." : "The client's certificate is revoked (it is on the CRL).",
        fix: client ? "Request a new certificate for this device." : "Expected if the device was retired; otherwise issue the device a new certificate.",
      };
    case "client_certificate_wrong_purpose":
      return {
        cause: client
          ? "The server rejected our client certificate as unsuitable for client authentication; its extended key usage probably lacks clientAuth."
          : "The client's certificate may not be used for client authentication: its extended key usage lacks clientAuth.",
        fix: "Reissue the client certificate with extended key usage clientAuth.",
      };
    case "client_certificate_rejected":
      return client
        ? {
            cause: `The server rejected our client certificate without naming a reason${alert}.`,
            fix: "Check the server's log; make sure the certificate is issued by the server's mTLS CA, is within its validity period and has extended key usage clientAuth.",
          }
        : {
            cause: `The client's certificate failed verification${specific || alert}.`,
            fix: "Check the client's certificate against this server's mTLS CA (pier doctor with --ca and --cert).",
          };
    case "revocation_unknown":
      return {
        cause: `Revocation of the ${client ? "server's" : "client's"} certificate could not be checked${specific}.`,
        fix: "Load a current CRL for every CA in the chain, and regenerate CRLs before their next-update date.",
      };
    case "client_key_mismatch":
      return {
        cause: "The private key does not belong to the certificate it was paired with.",
        fix: `Pass the key that was generated together with this certificate's request (${view.certFlags}).`,
      };
    case "unreadable_credentials":
      return {
        cause: `A certificate, key or CA file could not be loaded${specific}.`,
        fix: "Pass PEM files: certificates as -----BEGIN CERTIFICATE-----, keys as an unencrypted PRIVATE KEY.",
      };
    case "tls_alert":
      return {
        cause: `The ${client ? "server" : "client"} aborted the handshake${alert || " with an alert"}.`,
        fix: `Check the ${client ? "server" : "client"}'s log for the reason.`,
      };
    case "tls_error":
      return {
        cause: sentence(`The TLS connection failed: ${detailOf(facts) || "unknown error"}`),
        fix: `Check the logs of both sides; run again with the ${client ? "server" : "client"} in debug mode if needed.`,
      };
  }
}

function classify(facts: ErrorFacts, side: Side, context: ClientTlsContext): { code: TlsFailureCode; verifyCode: string | undefined } {
  if (facts.alert !== undefined) {
    return { code: side === "client" ? clientCodeForAlert(facts.alert, context) : serverCodeForAlert(facts.alert), verifyCode: undefined };
  }
  const verifyCode = verifyCodeFrom(facts);
  const kind = verifyCode === undefined ? undefined : verifyCodes[verifyCode];
  // The client verifies the server's certificate; the server verifies the client's.
  if (kind) return { code: fromVerifyKind(kind, side === "client" ? "server" : "client"), verifyCode };
  const code = verifyCode ?? facts.code;
  if (code === "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE") return { code: "client_certificate_required", verifyCode: undefined };
  if (/^ERR_OSSL_(PEM|ASN1|DECODER|UNSUPPORTED)|^ERR_OSSL_EVP_BAD_DECRYPT/.test(code)) return { code: "unreadable_credentials", verifyCode: undefined };
  const mapped = networkCodes[code];
  if (mapped === "connection_reset" && side === "client") {
    // Node servers reject a client certificate by dropping the socket, without an alert, so a
    // reset mid-handshake after we sent one is the server refusing it (measured, Node 24).
    const midHandshake = /before secure TLS connection was established|during the TLS handshake|right after the TLS 1\.3 handshake/.test(facts.message);
    if (midHandshake && context.haveClientCertificate && context.clientCertificateRequested !== "no") {
      return { code: "client_certificate_rejected", verifyCode: undefined };
    }
  }
  return { code: mapped ?? "tls_error", verifyCode: undefined };
}

function explain(error: unknown, side: Side, context: ClientTlsContext): TlsFailure {
  const facts = factsOf(error);
  const { code, verifyCode } = classify(facts, side, context);
  let specific = verifyCode ? (verifyWords[verifyCode] ?? "") : "";
  if (code === "server_name_mismatch") {
    // Node's message names the SANs: "Host: x. is not in the cert's altnames: DNS:localhost".
    const listed = /.*(?:is not in the cert's (?:altnames|list)|does not match certificate's altnames):?\s*(.*)$/.exec(facts.message)?.[1]?.trim();
    const names = facts.names ?? listed;
    if (names !== undefined) specific = names ? `it lists ${names.replace(/IP Address:/g, "IP:")}` : "it lists no names";
  }
  if (code === "unreadable_credentials") specific = detailOf(facts);
  return { code, ...describe(code, { ...viewFor(context), side, specific }, facts), detail: detailOf(facts) };
}

/**
 * Explains why a client's TLS connection failed: a Node/OpenSSL error from `tls.connect`, or a
 * verification code from `socket.authorizationError` (a string such as `CERT_HAS_EXPIRED`).
 * Pure: no I/O, so the CLI, the server and the agent can share it.
 *
 * Alerts are recognised by their number ("SSL alert number 48") or by the code Node derives
 * from OpenSSL's reason, in both the 1.1.1 (`SSLV3_ALERT_…`) and 3.x (`SSL/TLS_ALERT_…`) spelling.
 *
 * @example
 * socket.on("error", (error) => {
 *   const { code, cause, fix } = explainTlsFailure(error, { side: "client", haveClientCertificate: false });
 *   // code === "client_certificate_required"
 * });
 */
export function explainTlsFailure(error: unknown, context: ClientTlsContext): TlsFailure {
  return explain(error, "client", context);
}

/**
 * Explains an error seen on a TLS server's `tlsClientError` event, from the server's point of
 * view ("the client presented a certificate from an unknown CA").
 *
 * Pass the socket too: a Node server that rejects a client certificate destroys the socket and
 * reports only ECONNRESET "socket hang up"; the reason is in `tlsSocket.authorizationError`.
 *
 * @example
 * server.on("tlsClientError", (error, socket) => log.warn(explainServerSideTlsError(error, socket)));
 */
export function explainServerSideTlsError(error: unknown, tlsSocket?: { readonly authorizationError?: unknown }): TlsFailure {
  const context: ClientTlsContext = { side: "client", haveClientCertificate: true };
  const rejection = tlsSocket?.authorizationError;
  const facts = factsOf(error);
  if (rejection && (facts.code === "ECONNRESET" || facts.code === "")) {
    const explained = explain(rejection, "server", context);
    return { ...explained, detail: `${explained.detail} (reported as ${facts.code || "an error"}: ${facts.message})` };
  }
  return explain(error, "server", context);
}

/**
 * Guesses why a server dropped the connection after we sent `certificate`, when it gave no
 * reason (Node servers close silently). Checks, in OpenSSL's order: the issuer against the CA
 * names the server asked for, the extended key usage, then the validity period.
 * Returns undefined when the certificate looks acceptable.
 *
 * @example
 * const guess = inferClientCertificateRejection(parseCertificate(der), request.acceptableCaNames);
 */
export function inferClientCertificateRejection(
  certificate: CertificateInfo,
  acceptableCaNames: readonly Buffer[] = [],
  now: Date = new Date(),
  context: Omit<ClientTlsContext, "side" | "haveClientCertificate"> = {},
): TlsFailure | undefined {
  const facts: ErrorFacts = { code: "", message: "", alert: undefined, where: "" };
  const full: ClientTlsContext = { side: "client", haveClientCertificate: true, ...context };
  const guess = (code: TlsFailureCode, evidence: string): TlsFailure => ({
    code,
    ...describe(code, viewFor(full), facts),
    detail: "the server closed the connection without an alert",
    inferred: `the server gave no reason; ${evidence}`,
  });
  const issuerKnown = acceptableCaNames.length === 0 || acceptableCaNames.some((name) => name.equals(certificate.issuerDer));
  if (!issuerKnown) return guess("client_certificate_unknown_ca", `our certificate is issued by ${certificate.issuerText}, which is not among the CAs it accepts`);
  const eku = certificate.extensions.extKeyUsage;
  if (eku && !eku.includes(Oid.clientAuth) && !eku.includes(Oid.anyExtendedKeyUsage)) {
    return guess("client_certificate_wrong_purpose", "our certificate's extended key usage lacks clientAuth");
  }
  if (now > certificate.notAfter) return guess("client_certificate_expired", `our certificate expired on ${isoSeconds(certificate.notAfter)}`);
  if (now < certificate.notBefore) return guess("client_certificate_not_yet_valid", `our certificate is valid only from ${isoSeconds(certificate.notBefore)}`);
  return undefined;
}

function viewFor(context: ClientTlsContext): View {
  return {
    side: "client",
    haveClientCertificate: context.haveClientCertificate,
    servername: context.servername,
    certFlags: `${context.flags?.cert ?? "--cert"} and ${context.flags?.key ?? "--key"}`,
    caFlag: context.flags?.ca ?? "--ca",
    specific: "",
  };
}
