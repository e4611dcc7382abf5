import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import type { CertificateAuthority } from "@pier/pki";
import type { AlertService } from "../alerts/alert-service.ts";
import type { BrowserConsole } from "../console/index.ts";
import type { ClusterEvents } from "../cluster/cluster-events.ts";
import type { EdgeService } from "../edge/edge-service.ts";
import type { FleetServices } from "../fleet/fleet-runtime.ts";
import type { CaRotation } from "../identity/rotation.ts";
import type { PublishedCrl } from "../identity/crl-publisher.ts";
import type { DeviceRevocation } from "../identity/device-revocation.ts";
import type { EnvironmentScope, FailedLoginNames, LoginThrottle } from "../auth/index.ts";
import type { FirstAdminGate } from "../bootstrap/first-admin.ts";
import type { ServerTls } from "../tls/index.ts";
import type { Store, User } from "../store/store.ts";

/** What the API needs from the rest of the server. */
export interface ApiDependencies {
  readonly store: Store;
  readonly edge: EdgeService;
  /** Announces what must act at once on every replica (removal, settings, association…); in-process on a single server. */
  readonly events: Pick<ClusterEvents, "publish">;
  /**
   * Which of these environments have an open edge session (`Pier.Connected`), the same answer on
   * every replica: on replicas the session directory (this replica's sessions, and rows naming a
   * live replica, one query per 1,000 ids). Absent (single server): this server's sessions.
   */
  readonly connected?: (environmentIds: readonly number[]) => Promise<ReadonlySet<number>>;
  /** Freshest check-in time of an environment (memory first, then the store). */
  readonly lastCheckIn: (environmentId: number, stored: Date | null) => Date | null;
  /** Signs, checks and logs out session tokens. */
  readonly sessions: {
    issue(user: User): Promise<string> | string;
    verify(token: string): Promise<{ userId: number; issuedAt: Date }> | { userId: number; issuedAt: Date };
    /** Refuses the token from now until it expires. */
    revoke(token: string): Promise<void> | void;
  };
  /** Limits login attempts per client and per user name; `allowed: false` answers 429. */
  readonly loginThrottle: Pick<LoginThrottle, "admit" | "succeeded">;
  /** What the audit trail keeps of the user names typed into failed logins. */
  readonly failedLoginNames: Pick<FailedLoginNames, "describe">;
  /** Creates the first administrator, with the one-time setup token. */
  readonly firstAdmin: Pick<FirstAdminGate, "setupTokenRequired" | "createAdministrator" | "administratorExists">;
  /** Facts for edge keys: where agents reach us, and the fingerprint they pin. */
  readonly edgeEndpoint: (requestUrl: URL) => Promise<{ apiUrl: string; tunnelAddress: string; serverFingerprint: string }>;
  /** Re-reads the TLS files now; resolves with what is in force or rejects with the reason. */
  readonly reloadTls: () => Promise<{ message: string }>;
  /** The certificates in force, and the separate mTLS set's upload and removal. */
  readonly tls: Pick<ServerTls, "main" | "mtls" | "source" | "upload" | "removeUpload" | "replaceCrl">;
  /** The built-in CA (`DATA/ca`), or `undefined` when there is none. */
  readonly builtInCa: () => CertificateAuthority | undefined;
  /** PEM of every CA whose device certificates are accepted (both during a CA rotation); absent: the built-in CA's. */
  readonly deviceTrustBundle?: () => string | undefined;
  /** The built-in CA's rotation (`/api/pki/rotation`); absent or `undefined`: the routes answer 409. */
  readonly rotation?: () => Pick<CaRotation, "status" | "start" | "finish" | "rollback"> | undefined;
  /** Revokes devices' certificates (`POST /api/endpoints/{id}/certificate/revoke`, removal); absent: the route answers 409. */
  readonly revocation?: () => Pick<DeviceRevocation, "revokeEnvironment" | "revokeForRemoval"> | undefined;
  /** The built-in CA's current CRL (`GET /api/pki/crl`); absent or `undefined`: 404. */
  readonly deviceCrl?: (caId?: string) => PublishedCrl | undefined;
  /** Tags, edge groups, edge stacks, registries, edge jobs (docs/fleet.md). */
  readonly fleet: FleetServices;
  /** Alerts kept in memory (`GET /api/pier/alerts`); absent: an empty list. */
  readonly alerts?: Pick<AlertService, "list">;
  /** The browser console's tickets (`POST /api/endpoints/{id}/console/tickets`); absent: 501. */
  readonly console?: Pick<BrowserConsole, "issue">;
  readonly log: (level: "debug" | "info" | "warn" | "error", message: string) => void;
}

/** Variables set on the request context by the authentication middleware. */
export interface ApiVariables {
  user: User;
  /** The caller's environment scope, once a route asked for it (api/request-scope.ts). */
  scope?: EnvironmentScope;
}

/** The Hono environment type shared by all routes. */
export interface ApiEnv {
  Variables: ApiVariables;
  /** Set by @hono/node-server: the Node request (for the peer address). */
  Bindings: { incoming?: IncomingMessage | Http2ServerRequest };
}
