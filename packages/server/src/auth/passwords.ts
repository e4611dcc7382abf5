import { randomBytes, scrypt, type ScryptOptions, timingSafeEqual } from "node:crypto";
import { ServerError } from "../errors.ts";

/**
 * The scrypt cost Pier hashes new passwords with (docs/security.md, "First administrator and
 * logins"): N=2^17, r=8, p=1 is OWASP's recommendation; one hash takes 128 MiB and, measured
 * here, about 0.3 s of one core. Hashes made with other parameters are verified with their own
 * and re-hashed at the next successful login (`passwordHashNeedsUpgrade`).
 */
export const scryptParameters = Object.freeze({ N: 2 ** 17, r: 8, p: 1, keyLength: 64, saltLength: 16 });

/**
 * scrypt derivations run at once at most; others wait their turn. Each holds 128·N·r bytes
 * (128 MiB today), so this bounds what a burst of logins can allocate (256 MiB), below the Helm
 * chart's 512 MiB memory limit, whatever the libuv thread pool's size.
 */
export const maximumConcurrentDerivations = 2;

/** The shortest password `checkPasswordPolicy` accepts, in characters. */
export const minimumPasswordLength = 12;
/** The longest, so a login request cannot make the server hash megabytes. */
export const maximumPasswordLength = 1024;

// Bounds for parameters read back from a stored hash, so a damaged record cannot make one login
// allocate gigabytes or run for minutes.
const maxN = 2 ** 20;
const maxR = 32;
const maxP = 16;

let running = 0;
const waiting: Array<() => void> = [];

/** Derivations running and waiting for a slot now (for tests and metrics). */
export function derivationsInFlight(): { running: number; waiting: number } {
  return { running, waiting: waiting.length };
}

async function deriveKey(password: string, salt: Buffer, keyLength: number, cost: { N: number; r: number; p: number }): Promise<Buffer> {
  // scrypt needs 128·N·r·p bytes; Node's default maxmem (32 MiB) refuses anything above N=2^15 with r=8.
  const options: ScryptOptions = { ...cost, maxmem: 256 * cost.N * cost.r * cost.p };
  if (running >= maximumConcurrentDerivations) await new Promise<void>((resolve) => waiting.push(resolve));
  running += 1;
  try {
    return await new Promise((resolve, reject) => {
      // NFKC: the same password typed on another keyboard or OS composes to the same bytes (NIST SP 800-63B §5.1.1.2).
      scrypt(password.normalize("NFKC"), salt, keyLength, options, (error, key) => (error ? reject(error) : resolve(key)));
    });
  } finally {
    running -= 1;
    waiting.shift()?.();
  }
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
 * Whether a hash that just verified was made with other parameters than today's
 * `scryptParameters` (an older, cheaper N): the caller re-hashes the password and stores it.
 *
 * @example
 * if (ok && passwordHashNeedsUpgrade(user.passwordHash)) await store.users.setPasswordHash(user.id, await hashPassword(password));
 */
export function passwordHashNeedsUpgrade(encoded: string): boolean {
  const { N, r, p, key } = parseHash(encoded);
  return N !== scryptParameters.N || r !== scryptParameters.r || p !== scryptParameters.p || key.length !== scryptParameters.keyLength;
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
