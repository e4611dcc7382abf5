import { ServerError } from "../errors.ts";
import type { AuditLog } from "../store/store.ts";
import type { EdgeGroupStore } from "../store/edge-groups.ts";
import type { Tag, TagStore } from "../store/tags.ts";
import type { FleetChanges } from "./fleet-contracts.ts";

/** The bounds of tags (docs/fleet.md "Limits"). */
export const tagLimits = {
  /** A tag's (and an edge group's) name, in characters. */
  name: 128,
  /** Tags that may exist. */
  tags: 1_000,
  /** Tags one environment may carry. */
  perEnvironment: 100,
} as const;

/**
 * Refuses (`bad_request`, naming `field`) a name that is empty, only blanks, longer than 128
 * characters, or holds control characters. Shared by tags and edge groups.
 *
 * @example
 * checkFleetName("production", "Name", "tag"); // ok
 */
export function checkFleetName(name: string, field: string, what: string): void {
  const bad = (rule: string) => new ServerError("bad_request", `The ${what} name ${rule}.`, { field, fix: `Give a name of 1 to ${tagLimits.name} characters.` });
  if (name.trim() === "") throw bad("is empty");
  if (name.length > tagLimits.name) throw bad(`is ${name.length} characters long; at most ${tagLimits.name} are allowed`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) throw bad("holds a control character");
}

/** What the tag service acts on. */
export interface TagServiceOptions {
  readonly store: { readonly tags: TagStore; readonly edgeGroups: EdgeGroupStore; readonly audit: AuditLog };
  readonly changes: FleetChanges;
}

/**
 * Tags (docs/fleet.md "Tags and edge groups"): validation, limits, audit, and the membership
 * changes that follow (a tag set on an environment; a deleted tag that dynamic groups used).
 *
 * @example
 * const tags = new TagService({ store, changes });
 * const tag = await tags.create("production", "admin");
 * await tags.setEnvironmentTags(7, [tag.id], "admin");
 */
export class TagService {
  readonly #store: TagServiceOptions["store"];
  readonly #changes: FleetChanges;

  constructor(options: TagServiceOptions) {
    this.#store = options.store;
    this.#changes = options.changes;
  }

  list(): Promise<Tag[]> {
    return this.#store.tags.list();
  }

  /** `bad_request` for a bad name, `conflict` for a taken name or when 1,000 tags exist. */
  async create(name: string, by: string): Promise<Tag> {
    checkFleetName(name, "Name", "tag");
    // The count, the tag and its audit entry commit together, so neither a crash nor concurrent
    // creates get past the limit or leave a tag unaudited (chaos suite, server-crash).
    let tag: Tag | undefined;
    await this.#store.audit.append(
      () => ({ kind: "tag_created", detail: { tagId: tag?.id, name: tag?.name, by } }),
      async (transaction) => {
        const count = await this.#store.tags.countForInsert(transaction);
        if (count >= tagLimits.tags) {
          throw new ServerError("conflict", `There are already ${count} tags, the most Pier keeps (${tagLimits.tags}).`, { field: "Name", fix: "Delete tags no environment or group uses (DELETE /api/tags/{id}), then create this one." });
        }
        tag = await this.#store.tags.create(name, transaction);
      },
    );
    if (tag === undefined) throw new ServerError("store_failed", `The tag "${name}" was not stored.`);
    return tag;
  }

  /**
   * Removes the tag from every environment and group rule, then the tag; `not_found` when it
   * does not exist. The members of dynamic groups that used it, before and after, are recomputed.
   */
  async delete(id: number, by: string): Promise<void> {
    const [tag] = await this.#store.tags.getMany([id]);
    if (tag === undefined) throw new ServerError("not_found", `Tag ${id} does not exist.`, { fix: "List the tags with GET /api/tags." });
    const groups = (await this.#store.edgeGroups.list()).filter((group) => group.dynamic && group.tagIds.includes(id)).map((group) => group.id);
    const before = groups.length === 0 ? [] : await this.#store.edgeGroups.membersOf(groups);
    if (!(await this.#store.tags.delete(id))) throw new ServerError("not_found", `Tag ${id} does not exist.`);
    const after = groups.length === 0 ? [] : await this.#store.edgeGroups.membersOf(groups);
    await this.#store.audit.append({ kind: "tag_deleted", detail: { tagId: id, name: tag.name, by, groups } });
    const affected = union(before, after);
    if (affected.length > 0) await this.#changes.changed(affected);
  }

  /**
   * Replaces the tags an environment carries: at most 100, each existing (`bad_request` naming
   * those that do not). The environment's desired state is recomputed.
   */
  async setEnvironmentTags(environmentId: number, tagIds: readonly number[], by: string): Promise<number[]> {
    const wanted = [...new Set(tagIds)].sort((a, b) => a - b);
    if (wanted.length > tagLimits.perEnvironment) {
      throw new ServerError("bad_request", `TagIDs lists ${wanted.length} tags; an environment carries at most ${tagLimits.perEnvironment}.`, { field: "TagIDs", fix: `Keep at most ${tagLimits.perEnvironment} tags on one environment.` });
    }
    await this.checkTagsExist(wanted, "TagIDs");
    const before = await this.#store.tags.setEnvironmentTags(environmentId, wanted);
    if (before.join(",") !== wanted.join(",")) {
      await this.#store.audit.append({ kind: "environment_tags_set", environmentId, detail: { before, after: wanted, by } });
      await this.#changes.changed([environmentId]);
    }
    return wanted;
  }

  /** `bad_request` naming (in `field`) the tag ids that do not exist. */
  async checkTagsExist(tagIds: readonly number[], field: string): Promise<void> {
    if (tagIds.length === 0) return;
    const found = new Set((await this.#store.tags.getMany(tagIds)).map((tag) => tag.id));
    const missing = [...new Set(tagIds)].filter((id) => !found.has(id));
    if (missing.length > 0) {
      throw new ServerError("bad_request", `${missing.length === 1 ? "Tag" : "Tags"} ${missing.join(", ")} ${missing.length === 1 ? "does" : "do"} not exist.`, {
        field,
        details: { missing },
        fix: "List the tags with GET /api/tags, or create the tag first (POST /api/tags).",
      });
    }
  }
}

/** The ids in either list, ascending. */
export function union(a: readonly number[], b: readonly number[]): number[] {
  return [...new Set([...a, ...b])].sort((x, y) => x - y);
}
