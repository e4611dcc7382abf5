/**
 * Benchmark: two devices with one identity (issue 16, "Clones do not flap").
 *
 *   npx node bench/clone-flap.ts [--seconds 30] [--same-address]
 *
 * Starts a real `pier server` and one `pier agent` on loopback, copies the agent's data directory
 * (agent.json: its device token) and starts a second agent with it, each leaving from its own
 * loopback address (127.0.0.2, 127.0.0.3; --same-address: both from the default one). Then counts,
 * for --seconds: the sessions the server opened (its log), and the database writes, by SQLite
 * triggers the benchmark adds to the server's database (needs the `sqlite3` command):
 * environment rows written whole (a hello that changed something, the clone flag), check-in
 * batch updates, snapshot writes and audit events.
 */
import { cpSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { parseArgs } from "node:util";
import { startPierAgent, startPierServer, tempDir } from "@pier/e2e";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "30" }, "same-address": { type: "boolean", default: false } } });
const seconds = Number(values.seconds);
if (!(seconds > 0 && seconds <= 600)) throw new Error("--seconds must be from 1 to 600");
const addresses = values["same-address"] ? [undefined, undefined] : ["127.0.0.2", "127.0.0.3"];

await using dir = tempDir("bench-clone");
writeFileSync(dir.file("admin-password"), "correct horse battery staple\n", { mode: 0o600 });
await using server = await startPierServer({ dataDir: dir.file("data"), args: ["--admin-password-file", dir.file("admin-password")] });
const sql = (query: string) => execFileSync("sqlite3", [dir.file("data/pier.db"), query], { encoding: "utf8" }).trim();
const counters = ["hello_rows", "checkin_updates", "snapshots", "audit"] as const;
const count = (name: string) => `BEGIN UPDATE bench_writes SET n = n + 1 WHERE what = '${name}'; END;`;
sql(
  [
    "CREATE TABLE bench_writes (what TEXT PRIMARY KEY, n INTEGER NOT NULL);",
    `INSERT INTO bench_writes VALUES ${counters.map((name) => `('${name}', 0)`).join(", ")};`,
    // Whole-row writes set every column, name included; check-in batches set last_check_in_at only.
    `CREATE TRIGGER bench_hello AFTER UPDATE OF name ON environments ${count("hello_rows")}`,
    `CREATE TRIGGER bench_checkin AFTER UPDATE OF last_check_in_at ON environments WHEN OLD.name IS NEW.name AND OLD.source_address IS NEW.source_address AND OLD.agent IS NEW.agent ${count("checkin_updates")}`,
    `CREATE TRIGGER bench_snapshot_insert AFTER INSERT ON snapshots ${count("snapshots")}`,
    `CREATE TRIGGER bench_snapshot_update AFTER UPDATE ON snapshots ${count("snapshots")}`,
    `CREATE TRIGGER bench_audit AFTER INSERT ON audit_events ${count("audit")}`,
  ].join("\n"),
);
const writes = () => Object.fromEntries(sql("SELECT what || '=' || n FROM bench_writes").split("\n").map((line) => line.split("=")).map(([what = "", n = "0"]) => [what, Number(n)]));

const env = (address: string | undefined) => (address === undefined ? {} : { env: { PIER_AGENT_SOURCE_ADDRESS: address } });
await using first = startPierAgent({ edgeId: "bench-clone-1", edgeKey: server.edgeKey, dataDir: dir.file("a"), ...env(addresses[0]) });
const [, id = ""] = await first.waitFor(/as environment (\d+)/);
cpSync(dir.file("a"), dir.file("b"), { recursive: true });
const offset = server.output().length;
const before = writes();
await using second = startPierAgent({ edgeId: "bench-clone-1", edgeKey: server.edgeKey, dataDir: dir.file("b"), ...env(addresses[1]) });
await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
const after = writes();
const opened = server.output().slice(offset).split(`edge session open: environment ${id} `).length - 1;
console.log(`two agents sharing one data directory${values["same-address"] ? " (same address)" : " from 127.0.0.2 and 127.0.0.3"}, ${seconds} s:`);
console.log(`  sessions opened: ${opened}`);
for (const name of counters) console.log(`  ${name}: ${(after[name] ?? 0) - (before[name] ?? 0)}`);
console.log(`  clone flagged: ${/its identity is used from/.test(server.output()) ? "yes" : "no"}`);
console.log(`  agent log lines: ${first.output().split("\n").length - 1} + ${second.output().split("\n").length - 1}`);
