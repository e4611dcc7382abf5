/**
 * The server's TLS front: SNI routing between an mTLS and a UI server, certificate loading
 * with `pier doctor`'s checks, and reloads when the files change.
 */
export { readServerName, type ClientHelloScan } from "./client-hello.ts";
export { loadTlsMaterial, type TlsFiles, type TlsMaterial, type TlsMaterialProblem, type TlsMaterialRequest } from "./tls-material.ts";
export {
  TlsFront,
  connectionIdentity,
  describeWithdrawnTrust,
  defaultHttpLimits,
  type HttpLimits,
  type ConnectionIdentity,
  type FrontMaterial,
  type RequestHandler,
  type UpgradeHandler,
  type RoutingPolicy,
  type TlsFrontOptions,
  type ProxyRefusal,
  type TlsRefusal,
  type TlsRequest,
  type TlsResponse,
  type WithdrawnTrust,
} from "./tls-front.ts";
export { ProxySources, maxProxyV1Bytes, maxProxyV2Bytes, proxyRefusalLogger, readProxyHeader, type ProxyHeaderScan } from "./proxy-protocol.ts";
export { ConnectionBudget, defaultConnectionBudget, shedLogger, type Admission, type ConnectionBudgetOptions, type ConnectionShed } from "./connection-budget.ts";
export { HandshakeGate, defaultHandshakeGate, type HandshakeGateOptions, type HandshakeTicket } from "./handshake-gate.ts";
export { SessionTicketKeys } from "./session-tickets.ts";
export { watchFiles, type FileWatch, type WatchFilesOptions } from "./file-watcher.ts";
export { loadFrontMaterial, watchTlsMaterial, type FrontFiles, type TlsReloader, type TlsReloaderOptions } from "./tls-reloader.ts";
export { ServerTls, type MtlsSource, type ServerFronts, type ServerTlsOptions } from "./server-tls.ts";
export { checkMtlsUpload, mtlsUploadPaths, uploadRefusalOf, type MtlsUpload, type MtlsUploadField, type MtlsUploadRefusal } from "./mtls-upload.ts";
export { checkOperatorCrl, crlLimits, describeCrls, revocationEntriesOf, type CrlLimits, type CrlMaterial, type CrlProblem, type OperatorCrl } from "./crl-material.ts";
