/** The device's identity in Pier's built-in flow: key, CSR, two-slot storage, grants, renewal (docs/identity.md). */
export { DeviceIdentity, describePair, serialOf, type DialPlan } from "./device-identity.ts";
export { IdentityStore, crashPoints, type CrashPoint, type IdentityPair, type LoadedIdentity, type Slot } from "./store.ts";
export { deviceCsr, keyFingerprint, newDeviceKey } from "./csr.ts";
export { checkGrant, type CheckedGrant } from "./grant.ts";
export { renewalTime, pushedRenewalTime, renewalSchedule, requestRenewal, requestRenewalOnce, type RenewalAnswer } from "./renewal.ts";
export { retryAfterMs, maxRetryAfterMs } from "./retry-after.ts";
