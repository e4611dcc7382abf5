import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import type { EdgeService } from "../edge/edge-service.ts";
import type { Store, User } from "../store/store.ts";

/** What the API needs from the rest of the server. */
export interface ApiDependencies {
  readonly store: Store;
  readonly edge: EdgeService;
  /** Freshest check-in time of an environment (memory first, then the store). */
  readonly lastCheckIn: (environmentId: number, stored: Date | null) => Date | null;
  /** Signs and checks session tokens. */
  readonly sessions: {
    issue(user: User): Promise<string> | string;
    verify(token: string): Promise<{ userId: number }> | { userId: number };
  };
  /** Limits login attempts; `allowed: false` answers 429. */
  readonly loginLimiter: { take(key: string): { allowed: boolean; retryAfterSeconds: number } };
  /** Facts for edge keys: where agents reach us, and the fingerprint they pin. */
  readonly edgeEndpoint: (requestUrl: URL) => Promise<{ apiUrl: string; tunnelAddress: string; serverFingerprint: string }>;
  /** Re-reads the TLS files now; resolves with what is in force or rejects with the reason. */
  readonly reloadTls: () => Promise<{ message: string }>;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
}

/** Variables set on the request context by the authentication middleware. */
export interface ApiVariables {
  user: User;
}

/** The Hono environment type shared by all routes. */
export interface ApiEnv {
  Variables: ApiVariables;
  /** Set by @hono/node-server: the Node request (for the peer address). */
  Bindings: { incoming?: IncomingMessage | Http2ServerRequest };
}
