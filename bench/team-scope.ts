/**
 * Benchmark: the Home list's page at 10,000 environments for an administrator (no scope) and for
 * an operator whose team holds a static group of 3,000 and a dynamic group matching 5,000
 * (docs/security.md "Teams and scope"), on SQLite, in-process on the store (the route's queries
 * without HTTP). Also the per-request scope lookup and the single-environment check the Docker
 * proxy and the environment routes make.
 *
 *   node bench/team-scope.ts [-- --requests 30]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { parseArgs } from "node:util";
import { openStore } from "../packages/server/src/store/open-store.ts";

const { values } = parseArgs({ options: { requests: { type: "string", default: "30" } } });
const requests = Number(values.requests);
if (!Number.isInteger(requests) || requests < 10) throw new Error("--requests must be a whole number of at least 10");

const dir = mkdtempSync(join(tmpdir(), "bench-team-scope-"));
const path = join(dir, "pier.db");
const store = await openStore({ path });
try {
  const tag = await store.tags.create("x");
  // 10,000 environments, every second one tagged: written in two statements, not 10,000 calls.
  const raw = new DatabaseSync(path);
  const series = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)";
  raw.exec(`${series} INSERT INTO environments (name, type, edge_key_environment, user_trusted, created_at) SELECT 'bulk-' || i, 'edge-agent', 0, 1, 0 FROM n`);
  raw.exec(`${series} INSERT INTO environment_tags (environment_id, tag_id) SELECT i, ${tag.id} FROM n WHERE i % 2 = 0`);
  raw.close();
  const fixed = await store.edgeGroups.create({ name: "fixed", dynamic: false, partialMatch: false, tagIds: [], environmentIds: Array.from({ length: 3000 }, (_, i) => i * 3 + 1) });
  const dynamic = await store.edgeGroups.create({ name: "dynamic", dynamic: true, partialMatch: false, tagIds: [tag.id], environmentIds: [] });
  const user = await store.users.create({ username: "olga", passwordHash: "x", role: "operator" });
  await store.teams.create({ name: "team", userIds: [user.id], edgeGroupIds: [fixed.id, dynamic.id] });

  const time = async (label: string, run: () => Promise<unknown>): Promise<void> => {
    for (let i = 0; i < 5; i++) await run();
    const samples: number[] = [];
    for (let i = 0; i < requests; i++) {
      const start = performance.now();
      await run();
      samples.push(performance.now() - start);
    }
    samples.sort((a, b) => a - b);
    const at = (q: number) => (samples[Math.min(samples.length - 1, Math.floor(samples.length * q))] ?? 0).toFixed(2);
    console.log(`${label.padEnd(52)} p50 ${at(0.5)} ms, p90 ${at(0.9)} ms`);
  };

  const query = { waiting: false, sort: "name" as const, limit: 100 };
  console.log(`team scope on SQLite: 10,000 environments, a page of 100 by name, ${requests} requests each`);
  await time("page, administrator (reference: no scope)", () => store.environments.page(query));
  await time("scope lookup (teams.edgeGroupsOfUser)", () => store.teams.edgeGroupsOfUser(user.id));
  await time("page, operator (static 3,000 + dynamic 5,000)", async () => store.environments.page({ ...query, scopeEdgeGroupIds: await store.teams.edgeGroupsOfUser(user.id) }));
  await time("one environment in scope? (environmentInGroups)", () => store.teams.environmentInGroups(9_998, [fixed.id, dynamic.id]));
  const scoped = await store.environments.page({ ...query, scopeEdgeGroupIds: [fixed.id, dynamic.id] });
  console.log(`operator's total ${scoped.total} of 10000 (expected 6500: 3,000 static + 5,000 tagged - 1,500 both), page ${scoped.items.length}`);
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
