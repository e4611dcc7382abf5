import { join } from "node:path";
import type { RegistryCredential } from "@pier/protocol";
import { loadOrCreateSecret } from "../auth/jwt.ts";
import { SecretBox } from "../cluster/secret-box.ts";
import { ServerError } from "../errors.ts";
import type { RegistryRecord, RegistryStore, StackNamingRegistry } from "../store/registries.ts";
import type { FleetChanges } from "./fleet-contracts.ts";

/**
 * Registries (docs/fleet.md "Registries"): where edge stacks pull private images from. The
 * password is sealed at rest (AES-256-GCM, `SecretBox`) with the cluster secret on replicas, or
 * with `DATA/secrets/registry.key` on a single server, and leaves the server only inside the
 * desired state of a device that runs a stack naming the registry (`credentialsFor`).
 */

/** The bounds of a registry's fields (each tested at the API). */
export const registryLimits = {
  name: 128,
  url: 255,
  username: 255,
  password: 4096,
} as const;

/** Portainer's registry type "Custom registry" (`portainer.CustomRegistry`), the one Pier keeps. */
export const customRegistryType = 3;

/** What the API creates a registry with (Portainer's names). */
export interface RegistryInput {
  name: string;
  url: string;
  authentication: boolean;
  username?: string;
  /** Absent on update: the stored password stays. */
  password?: string;
}

/** A registry as answered (never the password). */
export type RegistryView = Omit<RegistryRecord, "passwordSealed">;

const hostLabel = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
const hostPattern = new RegExp(`^(?:${hostLabel}(?:\\.${hostLabel})*|\\[[0-9A-Fa-f:.]+\\])(?::(\\d{1,5}))?$`);

/**
 * Checks a registry URL in the form an image reference names it, `host[:port]` (Docker's
 * registry part: `registry.example.com`, `10.0.0.5:5000`, `[::1]:5000`), and returns it without
 * surrounding white space. A scheme, a path or a port outside 1–65535 is refused (`bad_request`,
 * field `URL`).
 *
 * @example
 * registryAddress("registry.example.com:5000"); // "registry.example.com:5000"
 * registryAddress("https://registry.example.com"); // throws: give host[:port]
 */
export function registryAddress(url: string): string {
  const value = url.trim();
  const refuse = (why: string) =>
    new ServerError("bad_request", `Invalid request: URL: "${value.slice(0, 80)}" ${why}.`, {
      field: "URL",
      fix: "Give the registry as an image reference names it: host[:port], e.g. registry.example.com:5000 (no https://, no path).",
    });
  if (value === "") throw refuse("is empty");
  if (value.length > registryLimits.url) throw refuse(`is ${value.length} characters long; at most ${registryLimits.url} are allowed`);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) throw refuse("has a scheme");
  if (value.includes("/")) throw refuse("has a path");
  const match = hostPattern.exec(value);
  if (!match) throw refuse("is not host[:port]");
  const port = match[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) throw refuse(`names port ${port}, outside 1–65535`);
  return value;
}

/**
 * The box registry passwords are sealed with: the cluster's (replicas, `--secret-file`) when
 * given, else one made from `DATA/secrets/registry.key` (32 random bytes, 0600, created at the
 * first start like `secrets/jwt.key`).
 *
 * @example
 * const box = registrySecretBox({ clusterBox: cluster.box, dataDir });
 */
export function registrySecretBox(options: { readonly clusterBox?: SecretBox; readonly dataDir: string }): SecretBox {
  return options.clusterBox ?? new SecretBox(loadOrCreateSecret(join(options.dataDir, "secrets", "registry.key")));
}

/** The associated data a password is sealed under: tied to its row, so one cannot be moved to another. */
export function registryPasswordName(id: number): string {
  return `registries/${id}/password`;
}

/** What `RegistryService` is built from. */
export interface RegistryServiceOptions {
  readonly store: RegistryStore;
  readonly box: SecretBox;
  readonly changes: FleetChanges;
  /** The associated environments in any of the groups (H1's `membersOf`); absent: every environment is recomputed. */
  readonly membersOf?: (groupIds: readonly number[]) => Promise<number[]>;
  readonly log: (level: "debug" | "info" | "warn" | "error", message: string) => void;
  readonly now?: () => Date;
}

function view(record: RegistryRecord): RegistryView {
  const { passwordSealed, ...rest } = record;
  void passwordSealed;
  return rest;
}

function notFound(id: number): ServerError {
  return new ServerError("not_found", `No registry with id ${id}.`, { fix: "List the registries with GET /api/registries." });
}

/**
 * Creates, lists, updates and deletes registries; seals passwords; gives stacks' credentials.
 *
 * @example
 * const registries = new RegistryService({ store: store.registries, box, changes, log });
 * const { id } = await registries.create({ name: "lab", url: "registry.lab:5000", authentication: true, username: "ci", password });
 * await registries.credentialsFor([id]); // [{ serverAddress: "registry.lab:5000", username: "ci", password }]
 */
export class RegistryService {
  readonly #store: RegistryStore;
  readonly #box: SecretBox;
  readonly #changes: FleetChanges;
  readonly #membersOf: RegistryServiceOptions["membersOf"];
  readonly #log: RegistryServiceOptions["log"];
  readonly #now: () => Date;

  constructor(options: RegistryServiceOptions) {
    this.#store = options.store;
    this.#box = options.box;
    this.#changes = options.changes;
    this.#membersOf = options.membersOf;
    this.#log = options.log;
    this.#now = options.now ?? (() => new Date());
  }

  async list(): Promise<RegistryView[]> {
    return (await this.#store.list()).map(view);
  }

  async get(id: number): Promise<RegistryView> {
    const record = await this.#store.get(id);
    if (!record) throw notFound(id);
    return view(record);
  }

  async create(input: RegistryInput): Promise<RegistryView> {
    const fields = this.#fields(input);
    if (input.authentication && !input.password) {
      throw new ServerError("bad_request", "Invalid request: Password: a registry with Authentication needs a password.", { field: "Password", fix: "Send Password, or Authentication: false for a registry that needs none." });
    }
    const password = input.password ?? "";
    return view(await this.#store.create(fields, (id) => this.#box.seal(registryPasswordName(id), password), this.#now()));
  }

  /**
   * Changes the fields given (Portainer's PUT: each optional; a missing or empty `password` keeps
   * the stored one) and recomputes the desired state of the devices whose stacks name it.
   */
  async update(id: number, patch: Partial<RegistryInput>): Promise<RegistryView> {
    const before = await this.#store.get(id);
    if (!before) throw notFound(id);
    const input: RegistryInput = {
      name: patch.name ?? before.name,
      url: patch.url ?? before.url,
      authentication: patch.authentication ?? before.authentication,
      username: patch.username ?? before.username,
      ...(patch.password === undefined ? {} : { password: patch.password }),
    };
    const fields = this.#fields(input);
    if (input.authentication && !input.password && before.passwordSealed === null) {
      throw new ServerError("bad_request", "Invalid request: Password: this registry had no authentication; turning it on needs a password.", { field: "Password", fix: "Send Password with Authentication: true." });
    }
    const password = input.password;
    const seal = password === undefined || password === "" ? undefined : (rowId: number) => this.#box.seal(registryPasswordName(rowId), password);
    const updated = await this.#store.update(id, fields, seal, this.#now());
    if (!updated) throw notFound(id);
    await this.#changes.changed(await this.#affected(await this.#store.stacksNaming(id)));
    return view(updated);
  }

  /** Deletes the registry; `conflict` (409) naming the stacks while any names it. */
  async delete(id: number): Promise<void> {
    const result = await this.#store.delete(id);
    if (result.outcome === "missing") throw notFound(id);
    if (result.outcome === "in_use") {
      const names = result.stacks.map((stack) => `"${stack.name}" (${stack.id})`).join(", ");
      throw new ServerError("conflict", `The registry ${id} is used by the edge stack(s) ${names}; it was not deleted.`, {
        fix: "Remove the registry from those stacks (PUT /api/edge_stacks/{id} with registries) or delete them first.",
        details: { stacks: result.stacks.map((stack) => stack.id) },
      });
    }
  }

  /**
   * The credentials, unsealed, of the registries among `registryIds` that use authentication, in
   * the order asked (for the desired state of a device running a stack naming them). A password
   * that cannot be unsealed (another secret) is left out and logged: the device's pull then fails
   * and reports why.
   */
  async credentialsFor(registryIds: readonly number[]): Promise<RegistryCredential[]> {
    const unique = [...new Set(registryIds)];
    const records = new Map((await this.#store.getMany(unique)).map((record) => [record.id, record]));
    const credentials: RegistryCredential[] = [];
    for (const id of unique) {
      const record = records.get(id);
      if (!record?.authentication || record.passwordSealed === null) continue;
      try {
        credentials.push({ serverAddress: record.url, username: record.username, password: this.#box.open(registryPasswordName(id), record.passwordSealed).toString("utf8") });
      } catch (error) {
        this.#log("error", `registry ${id} (${record.name}): cannot unseal its password, so devices get no credentials for ${record.url}: ${(error as Error).message} Set the password again (PUT /api/registries/${id}).`);
      }
    }
    return credentials;
  }

  #fields(input: RegistryInput): { name: string; url: string; authentication: boolean; username: string } {
    const name = input.name.trim();
    if (name === "") throw new ServerError("bad_request", "Invalid request: Name: must not be empty.", { field: "Name", fix: "Give the registry a name." });
    const username = input.authentication ? (input.username ?? "") : "";
    if (input.authentication && username === "") {
      throw new ServerError("bad_request", "Invalid request: Username: a registry with Authentication needs a user name.", { field: "Username", fix: "Send Username and Password, or Authentication: false." });
    }
    return { name, url: registryAddress(input.url), authentication: input.authentication, username };
  }

  async #affected(stacks: readonly StackNamingRegistry[]): Promise<readonly number[] | "all"> {
    if (stacks.length === 0) return [];
    const groupIds = [...new Set(stacks.flatMap((stack) => stack.groupIds))];
    return this.#membersOf ? await this.#membersOf(groupIds) : "all";
  }
}
