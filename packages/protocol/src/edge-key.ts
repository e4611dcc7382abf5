import { ProtocolError } from "./errors.ts";

/** The fields of an `EDGE_KEY`: Portainer's four (with Pier's fingerprint), and a fifth for one environment. */
export interface EdgeKey {
  /** Where the agent reaches the HTTPS API, e.g. `https://pier.example.com:9443`. */
  readonly apiUrl: string;
  /** `host:port` of the edge channel (tunnel) listener. */
  readonly tunnelAddress: string;
  /** SHA-256 of the server certificate's SubjectPublicKeyInfo, 64 lowercase hex digits. */
  readonly serverFingerprint: string;
  /** 0 for a fleet-wide key (devices land in the waiting room), else one environment. */
  readonly environmentId: number;
  /**
   * Per-environment keys only: the random secret (base64url, at least 128 bits) that proves the
   * device was given this key, not just the environment's id. The server keeps only its hash.
   * Absent in fleet-wide keys and in keys made before Pier had it (Portainer's four fields).
   */
  readonly secret?: string;
}

/** What a per-environment key's secret looks like: base64url, 22 characters (132 bits) to 128. */
export const edgeKeySecretPattern = /^[A-Za-z0-9_-]{22,128}$/;

/** Limits on an `EDGE_KEY` and its fields, checked before anything else is done with them. */
export const edgeKeyLimits = { encodedChars: 4096, apiUrlChars: 2048, tunnelAddressChars: 262, environmentIdDigits: 15 } as const;

// Unpadded standard base64 without Node's Buffer, so browsers (the UI) share this codec.
function toBase64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/=+$/, "");
}

function fromBase64(encoded: string): string {
  const trimmed = encoded.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) throw new ProtocolError("edge_key_malformed", "EDGE_KEY is not base64; copy it again from the Pier UI or API without extra characters.");
  const padded = trimmed.replace(/=+$/, "").padEnd(Math.ceil(trimmed.replace(/=+$/, "").length / 4) * 4, "=");
  const binary = atob(padded);
  return new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
}

/**
 * Encodes an edge key: unpadded standard base64 of `apiUrl|tunnelAddress|fingerprint|id`, with
 * `|secret` appended for a per-environment key that has one.
 *
 * @example
 * encodeEdgeKey({ apiUrl: "https://pier.example.com:9443", tunnelAddress: "pier.example.com:8000", serverFingerprint: "ab…", environmentId: 0 });
 */
export function encodeEdgeKey(key: EdgeKey): string {
  validate(key);
  return toBase64([key.apiUrl, key.tunnelAddress, key.serverFingerprint, String(key.environmentId), ...(key.secret === undefined ? [] : [key.secret])].join("|"));
}

/** Decodes and validates an `EDGE_KEY`, naming the field that is wrong. */
export function decodeEdgeKey(encoded: string): EdgeKey {
  if (encoded.length > edgeKeyLimits.encodedChars) throw new ProtocolError("edge_key_malformed", `EDGE_KEY is ${encoded.length} characters long; a key has at most ${edgeKeyLimits.encodedChars}. Copy it again from the Pier UI or API.`);
  let text: string;
  try {
    text = fromBase64(encoded);
  } catch (error) {
    if (error instanceof ProtocolError) throw error;
    throw new ProtocolError("edge_key_malformed", "EDGE_KEY does not decode to text; copy it again from the Pier UI or API.", { cause: error });
  }
  const parts = text.split("|");
  if (parts.length !== 4 && parts.length !== 5) {
    throw new ProtocolError(
      "edge_key_malformed",
      `EDGE_KEY must hold 4 fields (api url|tunnel address|fingerprint|environment id), or 5 with the environment's secret, found ${parts.length}; copy it again from the Pier UI or API.`,
    );
  }
  const [apiUrl = "", tunnelAddress = "", serverFingerprint = "", id = "", secret] = parts;
  const environmentId = id.length <= edgeKeyLimits.environmentIdDigits && /^\d+$/.test(id) ? Number(id) : Number.NaN;
  const key = { apiUrl, tunnelAddress, serverFingerprint: serverFingerprint.toLowerCase().replace(/:/g, ""), environmentId, ...(secret === undefined ? {} : { secret }) };
  validate(key);
  return key;
}

// An unpaired UTF-16 surrogate: TextEncoder would silently turn it into U+FFFD.
const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function validate(key: EdgeKey): void {
  // Found by fuzzing: such a field encoded into a key that decoded to other fields, or not at all.
  for (const [name, value] of [["API URL", key.apiUrl], ["tunnel address", key.tunnelAddress]] as const) {
    if (value.includes("|") || loneSurrogate.test(value)) throw new ProtocolError("edge_key_field_invalid", `EDGE_KEY's ${name} cannot contain "|" (the field separator) or broken Unicode; use a URL-encoded %7C for a literal "|".`);
  }
  if (key.apiUrl.length > edgeKeyLimits.apiUrlChars) throw new ProtocolError("edge_key_field_invalid", `EDGE_KEY's API URL is ${key.apiUrl.length} characters long; at most ${edgeKeyLimits.apiUrlChars} are allowed.`);
  if (key.tunnelAddress.length > edgeKeyLimits.tunnelAddressChars) throw new ProtocolError("edge_key_field_invalid", `EDGE_KEY's tunnel address is ${key.tunnelAddress.length} characters long; host:port has at most ${edgeKeyLimits.tunnelAddressChars}.`);
  let url: URL | undefined;
  try {
    url = new URL(key.apiUrl);
  } catch {
    url = undefined;
  }
  if (!url || url.protocol !== "https:") throw new ProtocolError("edge_key_field_invalid", `EDGE_KEY's API URL "${key.apiUrl}" must be an https:// URL (Pier never talks to agents in plaintext).`);
  if (!/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/.test(key.tunnelAddress)) throw new ProtocolError("edge_key_field_invalid", `EDGE_KEY's tunnel address "${key.tunnelAddress}" must be host:port.`);
  if (!/^[0-9a-f]{64}$/.test(key.serverFingerprint)) throw new ProtocolError("edge_key_field_invalid", "EDGE_KEY's server fingerprint must be a SHA-256 in hex (64 digits).");
  if (!Number.isSafeInteger(key.environmentId) || key.environmentId < 0 || String(key.environmentId).length > edgeKeyLimits.environmentIdDigits) {
    throw new ProtocolError("edge_key_field_invalid", `EDGE_KEY's environment id must be a whole number of at most ${edgeKeyLimits.environmentIdDigits} digits (0 for a fleet-wide key).`);
  }
  if (key.secret === undefined) return;
  if (key.environmentId === 0) throw new ProtocolError("edge_key_field_invalid", "EDGE_KEY names environment 0 (fleet-wide) but carries a 5th field: only a key for one environment carries a secret. Copy it again from the Pier UI or API.");
  if (!edgeKeySecretPattern.test(key.secret)) throw new ProtocolError("edge_key_field_invalid", "EDGE_KEY's 5th field (the environment's secret) must be 22 to 128 base64url characters (A-Z a-z 0-9 - _); copy the key again from the Pier UI or API.");
}

/** Splits a `host:port` tunnel address (IPv6 in brackets). */
export function splitHostPort(address: string): { host: string; port: number } {
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  if (!match?.[1]) throw new ProtocolError("edge_key_field_invalid", `"${address}" is not host:port.`);
  return { host: match[1], port: Number(match[2]) };
}
