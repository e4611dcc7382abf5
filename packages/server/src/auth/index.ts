/** Authentication: password hashing, session tokens, access tokens, login rate limits. */
export { checkPasswordPolicy, hashPassword, maximumConcurrentDerivations, maximumPasswordLength, minimumPasswordLength, passwordHashNeedsUpgrade, scryptParameters, verifyPassword } from "./passwords.ts";
export { type LoginAdmission, LoginThrottle, type LoginThrottleOptions, loginThrottleDefaults } from "./login-throttle.ts";
export { type AuditedUsername, FailedLoginNames, unknownUsernameVisibleChars } from "./login-audit.ts";
export {
  type Session,
  type SessionClaims,
  clockSkewSeconds,
  defaultSessionLifetimeSeconds,
  loadOrCreateSecret,
  minimumSecretBytes,
  signSessionToken,
  verifySessionToken,
} from "./jwt.ts";
export {
  type GeneratedApiToken,
  apiTokenPrefix,
  apiTokenTouchIntervalMs,
  defaultApiTokenLifetimeDays,
  generateApiToken,
  hashApiToken,
  maximumApiTokenLifetimeDays,
  verifyApiToken,
} from "./api-tokens.ts";
export { type RateLimitDecision, RateLimiter, type RateLimiterOptions, loginRateLimit } from "./rate-limiter.ts";
export { type SessionTokens, SessionDenyList, createSessionTokens } from "./session-tokens.ts";
export { type LogoutRecords, PersistedLogouts, type PersistedLogoutsOptions } from "./persisted-logouts.ts";
export { type RouteAccess, dockerPermission, publicPaths, requirePermission, routeAccess, routePermissions } from "./route-permissions.ts";
export {
  type EnvironmentScope,
  anyGroupInScope,
  requireEveryGroupInScope,
  edgeGroupInScope,
  environmentInScope,
  environmentNotFound,
  environmentScope,
  everyEnvironment,
  requireEnvironmentInScope,
  scopeFilter,
} from "./environment-scope.ts";
