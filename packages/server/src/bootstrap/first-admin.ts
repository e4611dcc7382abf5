import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkPasswordPolicy, hashPassword } from "../auth/index.ts";
import { ServerError } from "../errors.ts";
import type { Store, User } from "../store/index.ts";

/** The file in `--data` that holds the one-time setup token while no administrator exists. */
export const setupTokenFileName = "admin-setup-token";
/** The header that carries the setup token (or `SetupToken` in the JSON body). */
export const setupTokenHeader = "X-Pier-Setup-Token";
/** The longest setup token a request may present; ours are 43 characters. */
export const maximumSetupTokenLength = 256;

const tokenShape = /^[A-Za-z0-9_-]{43}$/;
const where = `${setupTokenFileName} in the server's data directory (--data; /data in the pier-server image)`;
// The pier-server image has no shell and no cat, but it has node.
const readInImage = `node -p "fs.readFileSync('/data/${setupTokenFileName}','utf8')"`;
const fix = `Read the token where the server runs: cat DATA/${setupTokenFileName} (the start-up log names the full path); in the pier-server image: docker exec CONTAINER ${readInImage}, or kubectl exec deploy/pier -- ${readInImage}. Send it as ${setupTokenHeader} or SetupToken.`;

/** What `prepareFirstAdmin` needs. */
export interface FirstAdminOptions {
  readonly dataDir: string;
  /** `--admin-password-file`: creates user `admin` with this password when no user exists. */
  readonly adminPasswordFile?: string;
  readonly log: (level: "info" | "warn", message: string) => void;
}

/**
 * The gate in front of `POST /api/users/admin/init`: nobody who merely reaches the port may
 * create the first administrator; the caller must show the one-time token the server wrote to
 * `DATA/admin-setup-token` (issue 16).
 */
export class FirstAdminGate {
  readonly #store: Store;
  readonly #tokenPath: string;
  /** SHA-256 of the token, compared in constant time; `undefined` once an administrator exists. */
  #tokenDigest: Buffer | undefined;
  /** An administrator is known to exist (and so always will: the last can be neither deleted nor demoted). */
  #administratorKnown: boolean;

  constructor(store: Store, tokenPath: string, token: string | undefined) {
    this.#store = store;
    this.#tokenPath = tokenPath;
    this.#tokenDigest = token === undefined ? undefined : digest(token);
    this.#administratorKnown = token === undefined;
  }

  /**
   * Whether an administrator exists (`GET /api/system/status`: health checks, the UI's first
   * screen). Asked of the store until one is known to, then answered from memory, so it keeps
   * answering while the database cannot be reached (chaos suite, database-outage).
   *
   * @example
   * const adminExists = await gate.administratorExists();
   */
  async administratorExists(): Promise<boolean> {
    if (!this.#administratorKnown) this.#administratorKnown = (await this.#store.users.count()) > 0;
    return this.#administratorKnown;
  }

  /** Whether `admin/init` asks for a setup token (there is no administrator yet). */
  get setupTokenRequired(): boolean {
    return this.#tokenDigest !== undefined;
  }

  /**
   * Creates the first administrator if `presentedToken` is the setup token: `forbidden` (403)
   * naming the token file without it or with another one, `bad_request` for a weak password,
   * `conflict` (409) when an administrator exists, also when another request made one meanwhile.
   *
   * @example
   * const user = await gate.createAdministrator({ username: "admin", password, presentedToken: c.req.header("x-pier-setup-token") });
   */
  async createAdministrator(input: { username: string; password: string; presentedToken: string | undefined }): Promise<User> {
    const exists = () => new ServerError("conflict", "An administrator already exists; log in with POST /api/auth.");
    if ((await this.#store.users.count()) > 0) throw exists();
    this.#checkToken(input.presentedToken);
    const weak = checkPasswordPolicy(input.password);
    if (weak) throw new ServerError("bad_request", weak, { field: "Password" });
    const user = await this.#store.users.createFirst({ username: input.username, passwordHash: await hashPassword(input.password), role: "admin" });
    if (user === null) throw exists();
    this.#administratorKnown = true;
    this.#forgetToken();
    return user;
  }

  #checkToken(presented: string | undefined): void {
    const expected = this.#tokenDigest;
    // No token is kept once an administrator exists; count() said none, so another request is creating one.
    if (expected === undefined) throw new ServerError("conflict", "An administrator already exists; log in with POST /api/auth.");
    const problem = presented === undefined || presented === "" ? `A setup token is required to create the first administrator: it is in ${where}.` : `The setup token is not the one in ${where}.`;
    if (presented === undefined || presented.length > maximumSetupTokenLength || !timingSafeEqual(digest(presented), expected)) {
      throw new ServerError("forbidden", problem, { field: "SetupToken", fix });
    }
  }

  #forgetToken(): void {
    this.#tokenDigest = undefined;
    rmSync(this.#tokenPath, { force: true });
  }
}

function digest(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

function readPasswordFile(path: string): string {
  let password: string;
  try {
    password = readFileSync(path, "utf8").replace(/\r?\n$/, "");
  } catch (error) {
    throw new ServerError("config_invalid", `Cannot read --admin-password-file ${path}: ${(error as Error).message}.`, { cause: error });
  }
  const weak = checkPasswordPolicy(password);
  if (weak) throw new ServerError("config_invalid", `--admin-password-file ${path}: ${weak}`);
  return password;
}

/** Keeps a well-formed token from an earlier start (the operator may have read it already), else writes a new one, 0600. */
function loadOrWriteToken(path: string): string {
  try {
    const existing = readFileSync(path, "utf8").trim();
    if (tokenShape.test(existing)) {
      chmodSync(path, 0o600);
      return existing;
    }
  } catch {
    // none yet
  }
  const token = randomBytes(32).toString("base64url");
  rmSync(path, { force: true });
  writeFileSync(path, `${token}\n`, { mode: 0o600, flag: "wx" });
  return token;
}

/**
 * At start: creates user `admin` from `--admin-password-file` when no user exists; otherwise,
 * while there is no administrator, keeps a one-time setup token in `DATA/admin-setup-token`
 * (0600) and logs where it is, never the token. Once an administrator exists the file is removed.
 *
 * @example
 * const firstAdmin = await prepareFirstAdmin(store, { dataDir, adminPasswordFile, log });
 */
export async function prepareFirstAdmin(store: Store, options: FirstAdminOptions): Promise<FirstAdminGate> {
  const tokenPath = join(options.dataDir, setupTokenFileName);
  if ((await store.users.count()) === 0 && options.adminPasswordFile !== undefined) {
    const password = readPasswordFile(options.adminPasswordFile);
    const created = await store.users.createFirst({ username: "admin", passwordHash: await hashPassword(password), role: "admin" });
    if (created) options.log("info", "created user admin from --admin-password-file");
  }
  if ((await store.users.count()) > 0) {
    rmSync(tokenPath, { force: true });
    return new FirstAdminGate(store, tokenPath, undefined);
  }
  const token = loadOrWriteToken(tokenPath);
  options.log("info", `no administrator yet: create it in the web UI or with POST /api/users/admin/init, giving the one-time setup token in ${tokenPath} (mode 0600; the token itself is never logged)`);
  return new FirstAdminGate(store, tokenPath, token);
}
