import { ProtocolError } from "./errors.ts";

/** The four fields of an `EDGE_KEY` (Portainer's layout, Pier's fingerprint). */
export interface EdgeKey {
  /** Where the agent reaches the HTTPS API, e.g. `https://pier.example.com:9443`. */
  readonly apiUrl: string;
  /** `host:port` of the edge channel (tunnel) listener. */
  readonly tunnelAddress: string;
  /** SHA-256 of the server certificate's SubjectPublicKeyInfo, 64 lowercase hex digits. */
  readonly serverFingerprint: string;
  /** 0 for a fleet-wide key (devices land in the waiting room), else one environment. */
  readonly environmentId: number;
}

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
 * Encodes an edge key: unpadded standard base64 of `apiUrl|tunnelAddress|fingerprint|id`.
 *
 * @example
 * encodeEdgeKey({ apiUrl: "https://pier.example.com:9443", tunnelAddress: "pier.example.com:8000", serverFingerprint: "ab…", environmentId: 0 });
 */
export function encodeEdgeKey(key: EdgeKey): string {
  validate(key);
  return toBase64([key.apiUrl, key.tunnelAddress, key.serverFingerprint, String(key.environmentId)].join("|"));
}

/** Decodes and validates an `EDGE_KEY`, naming the field that is wrong. */
export function decodeEdgeKey(encoded: string): EdgeKey {
  let text: string;
  try {
    text = fromBase64(encoded);
  } catch (error) {
    if (error instanceof ProtocolError) throw error;
    throw new ProtocolError("edge_key_malformed", "EDGE_KEY does not decode to text; copy it again from the Pier UI or API.", { cause: error });
  }
  const parts = text.split("|");
  if (parts.length !== 4) {
    throw new ProtocolError("edge_key_malformed", `EDGE_KEY must hold 4 fields (api url|tunnel address|fingerprint|environment id), found ${parts.length}; copy it again from the Pier UI or API.`);
  }
  const [apiUrl = "", tunnelAddress = "", serverFingerprint = "", id = ""] = parts;
  const key = { apiUrl, tunnelAddress, serverFingerprint: serverFingerprint.toLowerCase().replace(/:/g, ""), environmentId: /^\d+$/.test(id) ? Number(id) : Number.NaN };
  validate(key);
  return key;
}

function validate(key: EdgeKey): void {
  let url: URL | undefined;
  try {
    url = new URL(key.apiUrl);
  } catch {
    url = undefined;
  }
  if (!url || url.protocol !== "https:") throw new ProtocolError("edge_key_field_invalid", `EDGE_KEY's API URL "${key.apiUrl}" must be an https:// URL (Pier never talks to agents in plaintext).`);
  if (!/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/.test(key.tunnelAddress)) throw new ProtocolError("edge_key_field_invalid", `EDGE_KEY's tunnel address "${key.tunnelAddress}" must be host:port.`);
  if (!/^[0-9a-f]{64}$/.test(key.serverFingerprint)) throw new ProtocolError("edge_key_field_invalid", "EDGE_KEY's server fingerprint must be a SHA-256 in hex (64 digits).");
  if (!Number.isInteger(key.environmentId) || key.environmentId < 0) throw new ProtocolError("edge_key_field_invalid", "EDGE_KEY's environment id must be a whole number (0 for a fleet-wide key).");
}

/** Splits a `host:port` tunnel address (IPv6 in brackets). */
export function splitHostPort(address: string): { host: string; port: number } {
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  if (!match?.[1]) throw new ProtocolError("edge_key_field_invalid", `"${address}" is not host:port.`);
  return { host: match[1], port: Number(match[2]) };
}
