import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../server.ts";
import { verifyAuditExport } from "../../store/audit-verify.ts";
import { type TempDir, tempDir } from "../../store/temp-dir.testkit.ts";
import { startAdminServer } from "../admin-server.testkit.ts";
import type { ApiClient } from "../api-client.testkit.ts";
import { auditFilterLimits, csvCell } from "./audit.ts";

const adminPassword = "correct horse battery staple";

const linesOf = (text: string) => text.split("\n");

/** `/api/audit` through the API of a real server on loopback (SQLite in its --data). */
describe("activity log API", () => {
  let dir: TempDir;
  let server: RunningServer;
  let api: ApiClient;

  beforeAll(async () => {
    dir = tempDir("audit-api");
    ({ server, api } = await startAdminServer(dir, adminPassword));
    for (const name of ["production", "=cmd|' /C calc'!A0"]) expect((await api.call("POST", "/api/tags", { body: { Name: name } })).status).toBe(200);
    // A failed login: an entry with a source address and no actor.
    expect((await api.call("POST", "/api/auth", { body: { Username: "admin", Password: "wrong" }, token: null })).status).toBe(422);
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await dir?.[Symbol.asyncDispose]();
  });

  it("lists entries newest first, filtered by kind and user, with X-Total-Count", async () => {
    const all = await api.call("GET", "/api/audit");
    expect(all.status).toBe(200);
    const entries = all.json as unknown as { Id: number; Kind: string; Actor: string | null; Hash: string; PrevHash: string }[];
    expect(entries.length).toBeGreaterThanOrEqual(3);
    expect(Number(all.headers["x-total-count"])).toBe(entries.length);
    expect(entries.map((entry) => entry.Id)).toEqual([...entries.map((entry) => entry.Id)].sort((a, b) => b - a));

    const tags = await api.call("GET", "/api/audit?kind=tag_created&limit=1");
    expect(tags.headers["x-total-count"]).toBe("2");
    const [newest] = tags.json as unknown as { Kind: string; Actor: string; Detail: { name: string } }[];
    expect(newest).toMatchObject({ Kind: "tag_created", Actor: "admin", Detail: { name: "=cmd|' /C calc'!A0" } });
    const byAdmin = (await api.call("GET", "/api/audit?actor=admin")).json as unknown as { Actor: string }[];
    expect(byAdmin.length).toBe(2);
    const kinds = (await api.call("GET", "/api/audit/kinds")).json as unknown as string[];
    expect(kinds).toEqual(expect.arrayContaining(["login_failed", "tag_created"]));
  });

  it("exports JSON lines, oldest first, that verify; an edited or missing line is named", async () => {
    const answer = await api.call("GET", "/api/audit/export?format=jsonl");
    expect(answer.status).toBe(200);
    expect(answer.headers["content-type"]).toContain("application/x-ndjson");
    expect(answer.headers["content-disposition"]).toMatch(/^attachment; filename="pier-activity-\d{8}T\d{6}Z\.jsonl"$/);
    const lines = answer.text.trimEnd().split("\n");
    expect(lines.length).toBeGreaterThanOrEqual(3);
    const ids = lines.map((line) => (JSON.parse(line) as { id: number }).id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(await verifyAuditExport(linesOf(answer.text))).toMatchObject({ checked: lines.length, broken: null });

    // The second tag's line: neither the first (whose prevHash an export takes as given) nor the last.
    const tagged = lines.findIndex((line) => line.includes("calc"));
    expect(tagged).toBeGreaterThan(0);
    expect(tagged).toBeLessThan(lines.length - 1);
    const edited = lines.map((line, index) => (index === tagged ? line.replace("calc", "notepad") : line));
    expect((await verifyAuditExport(linesOf(edited.join("\n")))).broken).toMatchObject({ id: ids[tagged], problem: "altered" });
    const missing = lines.filter((_, index) => index !== tagged);
    expect((await verifyAuditExport(linesOf(missing.join("\n")))).broken).toMatchObject({ id: ids[tagged + 1], problem: "unlinked" });
  });

  it("exports CSV with a header, quoting, and formulas defused", async () => {
    const answer = await api.call("GET", "/api/audit/export?format=csv&kind=tag_created");
    expect(answer.status).toBe(200);
    expect(answer.headers["content-disposition"]).toMatch(/filename="pier-activity-.*\.csv"/);
    const rows = answer.text.trimEnd().split("\r\n");
    expect(rows[0]).toBe("id,at,kind,environmentId,edgeId,sourceAddress,actor,detail,prevHash,hash");
    expect(rows).toHaveLength(3);
    expect(rows[2]).toContain(`""name"":""=cmd|' /C calc'!A0""`);
    expect(csvCell("=1+1")).toBe("'=1+1");
    expect(csvCell("-2")).toBe("'-2");
    expect(csvCell('a,"b"')).toBe('"a,""b"""');
  });

  it("refuses each parameter past its limit, naming it", async () => {
    const long = (length: number) => "a".repeat(length);
    for (const [query, field] of [
      ["limit=1001", "limit"],
      ["limit=0", "limit"],
      ["start=-1", "start"],
      ["environmentId=0", "environmentId"],
      [`edgeId=${long(auditFilterLimits.edgeId + 1)}`, "edgeId"],
      [`actor=${long(auditFilterLimits.actor + 1)}`, "actor"],
      [`kind=${long(auditFilterLimits.kind + 1)}`, "kind"],
      ["kind=Not-A-Kind", "kind"],
      ["since=yesterday", "since"],
      [`until=2026-12-07T10:00:00.000000000000000000000000000Z`, "until"],
      ["since=2026-12-08T00:00:00Z&until=2026-12-07T00:00:00Z", "since"],
    ] as const) {
      const answer = await api.call("GET", `/api/audit?${query}`);
      expect(answer.status, query).toBe(400);
      expect(answer.json["field"] ?? answer.text, query).toContain(field);
    }
    const format = await api.call("GET", "/api/audit/export?format=xml");
    expect(format.status).toBe(400);
    expect(format.text).toContain("format");
    expect((await api.call("GET", "/api/audit", { token: null })).status).toBe(401);
    expect((await api.call("GET", "/api/audit/export?format=jsonl", { token: null })).status).toBe(401);
  });
});
