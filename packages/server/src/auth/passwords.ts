import { randomBytes, scrypt, type ScryptOptions, timingSafeEqual } from "node:crypto";
import { ServerError } from "../errors.ts";

/** The scrypt cost Pier hashes new passwords with (docs/architecture.md, "Auth"). */
export const scryptParameters = Object.freeze({ N: 2 ** 15, r: 8, p: 1, keyLength: 64, saltLength: 16 });

/** The shortest password `checkPasswordPolicy` accepts, in characters. */
export const minimumPasswordLength = 12;
/** The longest, so a login request cannot make the server hash megabytes. */
export const maximumPasswordLength = 1024;

// Bounds for parameters read back from a stored hash, so a damaged record cannot make one login
// allocate gigabytes or run for minutes.
const maxN = 2 ** 20;
const maxR = 32;
const maxP = 16;

function deriveKey(password: string, salt: Buffer, keyLength: number, cost: { N: number; r: number; p: number }): Promise<Buffer> {
  // scrypt needs 128·N·r·p bytes; Node's default maxmem (32 MiB) is exactly 2^15·8·128 and refuses it.
  const options: ScryptOptions = { ...cost, maxmem: 256 * cost.N * cost.r * cost.p };
  return new Promise((resolve, reject) => {
    // NFKC: the same password typed on another keyboard or OS composes to the same bytes (NIST SP 800-63B §5.1.1.2).
    scrypt(password.normalize("NFKC"), salt, keyLength, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

/**
 * Hashes a password with scrypt and a fresh 16-byte salt, off the event loop (libuv thread pool).
 *
 * @returns `scrypt$N$r$p$saltBase64$hashBase64`
 * @example
 * const passwordHash = await hashPassword("correct horse battery staple");
 */
export async function hashPassword(password: string): Promise<string> {
  const { N, r, p, keyLength, saltLength } = scryptParameters;
  const salt = randomBytes(saltLength);
  const key = await deriveKey(password, salt, keyLength, { N, r, p });
  return `scrypt$${N}$${r}$${p}$${salt.toString("base64")}$${key.toString("base64")}`;
}

interface ParsedHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

function parseHash(encoded: string): ParsedHash {
  const malformed = () => new ServerError("internal", "A stored password hash is malformed; reset that user's password.");
  const parts = encoded.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") throw malformed();
  const [N, r, p] = parts.slice(1, 4).map((part) => (/^\d{1,8}$/.test(part) ? Number(part) : Number.NaN));
  const base64 = /^[A-Za-z0-9+/]+={0,2}$/;
  const [salt, key] = [parts[4] ?? "", parts[5] ?? ""];
  if (N === undefined || r === undefined || p === undefined || !base64.test(salt) || !base64.test(key)) throw malformed();
  // N must be a power of two greater than 1 (scrypt's definition).
  if (!(N > 1 && N <= maxN && (N & (N - 1)) === 0 && r >= 1 && r <= maxR && p >= 1 && p <= maxP)) throw malformed();
  const parsed = { N, r, p, salt: Buffer.from(salt, "base64"), key: Buffer.from(key, "base64") };
  if (parsed.salt.length < 8 || parsed.key.length < 16) throw malformed();
  return parsed;
}

// Verified against when the user does not exist, so the answer takes as long as for a real user
// and response times do not reveal which user names exist.
const absentUserHash = `scrypt$${scryptParameters.N}$${scryptParameters.r}$${scryptParameters.p}$${Buffer.alloc(16).toString("base64")}$${Buffer.alloc(64).toString("base64")}`;

/**
 * Checks a password against a hash made by `hashPassword`, comparing in constant time. Pass `null`
 * as the hash when the user does not exist: it does the same work and answers `false`.
 * Throws `internal` if the stored hash is malformed (a data problem, not a wrong password).
 *
 * @example
 * const user = await store.users.getByUsername(name);
 * const ok = await verifyPassword(password, user?.passwordHash ?? null);
 */
export async function verifyPassword(password: string, encoded: string | null): Promise<boolean> {
  const { N, r, p, salt, key } = parseHash(encoded ?? absentUserHash);
  if (password.length > maximumPasswordLength) return false;
  const candidate = await deriveKey(password, salt, key.length, { N, r, p });
  return timingSafeEqual(candidate, key) && encoded !== null;
}

/**
 * The password policy: at least 12 characters (counted as Unicode code points), at most 1024.
 *
 * @returns `null` if the password is acceptable, else a message to show the user
 * @example
 * const problem = checkPasswordPolicy(body.Password);
 * if (problem) throw new ServerError("bad_request", problem);
 */
export function checkPasswordPolicy(password: string): string | null {
  const length = [...password].length;
  if (length < minimumPasswordLength) return `The password must be at least ${minimumPasswordLength} characters long (it has ${length}).`;
  if (password.length > maximumPasswordLength) return `The password must be at most ${maximumPasswordLength} characters long.`;
  return null;
}
