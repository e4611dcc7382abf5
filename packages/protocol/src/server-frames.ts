import { clockSkewLimits } from "./clock-skew.ts";
import { environmentStatuses, identityLimits, renewReasons, retryAfterLimits, tunnelIdPattern } from "./constants.ts";
import { desiredStateVersionPattern } from "./fleet.ts";
import type { Validator } from "./framing.ts";
import type { CertificateGrant, EnvironmentStatus, Refused, RenewMessage, ServerMessage, Welcome } from "./messages.ts";

/*
 * The agent's validators of what the server sends, written without zod: zod and the schemas it
 * builds cost an idle agent ~3 MiB of its 60 MB budget (bench/docker-proxy.ts). They accept
 * exactly what the zod schemas of messages.ts accept and return the same data, unknown keys
 * stripped; server-frames.test.ts holds them to that on valid and broken frames.
 */

class Invalid extends Error {
  readonly path: readonly string[];

  constructor(path: readonly string[], message: string) {
    super(message);
    this.path = path;
  }
}

type Fields = Record<string, unknown>;

function object(value: unknown, path: readonly string[] = []): Fields {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Invalid(path, "expected an object");
  return value as Fields;
}

function string(fields: Fields, key: string, maxLength = Infinity): string {
  const value = fields[key];
  if (typeof value !== "string") throw new Invalid([key], "expected a string");
  if (value.length > maxLength) throw new Invalid([key], `longer than ${maxLength} characters`);
  return value;
}

function number(fields: Fields, key: string, rule: "positive" | "positive integer" | "non-negative integer"): number {
  const value = fields[key];
  if (typeof value !== "number" || !Number.isFinite(value)) throw new Invalid([key], "expected a number");
  if (rule !== "positive" && !Number.isSafeInteger(value)) throw new Invalid([key], "expected an integer");
  if (rule === "non-negative integer" ? value < 0 : value <= 0) throw new Invalid([key], `expected a ${rule}`);
  return value;
}

function status(fields: Fields): EnvironmentStatus {
  const value = fields.status;
  if (!environmentStatuses.includes(value as EnvironmentStatus)) throw new Invalid(["status"], `expected one of ${environmentStatuses.join(", ")}`);
  return value as EnvironmentStatus;
}

function nonEmpty(fields: Fields, key: string, maxLength: number): string {
  const value = string(fields, key, maxLength);
  if (value.length === 0) throw new Invalid([key], "expected a non-empty string");
  return value;
}

function grant(value: unknown, path: readonly string[]): CertificateGrant {
  const fields = object(value, path);
  try {
    return { certificate: nonEmpty(fields, "certificate", identityLimits.certificatePem), chain: nonEmpty(fields, "chain", identityLimits.bundlePem), trustBundle: nonEmpty(fields, "trustBundle", identityLimits.bundlePem) };
  } catch (error) {
    if (error instanceof Invalid) throw new Invalid([...path, ...error.path], error.message);
    throw error;
  }
}

/** `time` of a welcome or ack: absent, or the server's clock as `clockReadingSchema` takes it. */
function time(fields: Fields): { time?: number } {
  if (fields.time === undefined) return {};
  const value = number(fields, "time", "non-negative integer");
  if (value > clockSkewLimits.maxClockMs) throw new Invalid(["time"], `expected at most ${clockSkewLimits.maxClockMs}`);
  return { time: value };
}

/** `desiredStateVersion` of a welcome or status: absent, or 64 lowercase hex digits. */
function desiredStateVersion(fields: Fields): { desiredStateVersion?: string } {
  if (fields.desiredStateVersion === undefined) return {};
  const value = string(fields, "desiredStateVersion");
  if (!desiredStateVersionPattern.test(value)) throw new Invalid(["desiredStateVersion"], "must be 64 lowercase hex digits");
  return { desiredStateVersion: value };
}

function welcome(fields: Fields): Welcome {
  const token = fields.deviceToken === undefined ? {} : { deviceToken: string(fields, "deviceToken", 128) };
  const certificate = fields.certificate === undefined ? {} : { certificate: grant(fields.certificate, ["certificate"]) };
  return { type: "welcome", environmentId: number(fields, "environmentId", "positive integer"), status: status(fields), checkinIntervalSeconds: number(fields, "checkinIntervalSeconds", "positive"), ...token, ...certificate, ...desiredStateVersion(fields), ...time(fields) };
}

function renew(fields: Fields): RenewMessage {
  const reason = fields.reason;
  if (!renewReasons.includes(reason as RenewMessage["reason"])) throw new Invalid(["reason"], `expected one of ${renewReasons.join(", ")}`);
  const withinSeconds = number(fields, "withinSeconds", "non-negative integer");
  if (withinSeconds > 86_400) throw new Invalid(["withinSeconds"], "expected at most 86400");
  const trustBundle = fields.trustBundle === undefined ? {} : { trustBundle: nonEmpty(fields, "trustBundle", identityLimits.bundlePem) };
  return { type: "renew", reason: reason as RenewMessage["reason"], withinSeconds, ...trustBundle };
}

function refused(fields: Fields): Refused {
  const frame: Refused = { type: "refused", code: string(fields, "code"), message: string(fields, "message") };
  if (fields.retryAfterSeconds === undefined) return frame;
  const retryAfterSeconds = number(fields, "retryAfterSeconds", "positive integer");
  if (retryAfterSeconds > retryAfterLimits.maxSeconds) throw new Invalid(["retryAfterSeconds"], `expected at most ${retryAfterLimits.maxSeconds}`);
  return { ...frame, retryAfterSeconds };
}

const byType: { readonly [Type in ServerMessage["type"]]: (fields: Fields) => Extract<ServerMessage, { type: Type }> } = {
  welcome,
  status: (fields) => ({ type: "status", status: status(fields), checkinIntervalSeconds: number(fields, "checkinIntervalSeconds", "positive"), ...desiredStateVersion(fields) }),
  ack: (fields) => ({ type: "ack", seq: number(fields, "seq", "non-negative integer"), ...time(fields) }),
  tunnel: (fields) => {
    const id = string(fields, "id");
    if (!tunnelIdPattern.test(id)) throw new Invalid(["id"], "expected 8 to 64 URL-safe characters");
    return { type: "tunnel", id };
  },
  refused,
  certificate: (fields) => ({ type: "certificate", grant: grant(fields.grant, ["grant"]) }),
  renew,
};

function validator<T>(decode: (value: unknown) => T): Validator<T> {
  return {
    safeParse(value) {
      try {
        return { success: true, data: decode(value) };
      } catch (error) {
        if (!(error instanceof Invalid)) throw error;
        return { success: false, error: { issues: [{ path: error.path, message: error.message }] } };
      }
    },
  };
}

/** Any frame a server sends (`serverMessageSchema` without zod). */
export const serverMessageValidator: Validator<ServerMessage> = validator((value) => {
  const fields = object(value);
  const type = fields.type;
  if (typeof type !== "string" || !Object.hasOwn(byType, type)) throw new Invalid(["type"], `expected one of ${Object.keys(byType).join(", ")}`);
  return byType[type as ServerMessage["type"]](fields);
});

/** The answer to a polling check-in (`welcomeSchema` without zod). */
export const welcomeValidator: Validator<Welcome> = validator((value) => {
  const fields = object(value);
  if (fields.type !== "welcome") throw new Invalid(["type"], 'expected "welcome"');
  return welcome(fields);
});

/** The answer to a renewal (`certificateGrantSchema` without zod). */
export const certificateGrantValidator: Validator<CertificateGrant> = validator((value) => grant(value, []));

/** Whether `id` is a tunnel id the server may push. */
export function isTunnelId(id: string): boolean {
  return tunnelIdPattern.test(id);
}
