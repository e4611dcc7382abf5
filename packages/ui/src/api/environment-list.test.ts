import { describe, expect, it } from "vitest";
import { environmentListPath, totalOf } from "./environment-list.ts";

describe("the environment lists ask the server for one page", () => {
  it("sends start, limit, sort, order and which list; the search trimmed and capped, absent when empty", () => {
    const path = environmentListPath({ list: "home", search: "  edge-%_ ", sort: "Name", order: "desc", page: 3, pageSize: 25, status: "offline" });
    const query = new URL(path, "https://pier.test").searchParams;
    expect(Object.fromEntries(query)).toEqual({ waitingRoom: "false", start: "50", limit: "25", sort: "Name", order: "desc", search: "edge-%_", status: "2" });
    const waiting = new URL(environmentListPath({ list: "waiting-room", search: "   ", sort: "EdgeID", order: "asc", page: 1, pageSize: 10 }), "https://pier.test").searchParams;
    expect(waiting.get("waitingRoom")).toBe("true");
    expect(waiting.get("start")).toBe("0");
    expect(waiting.has("search")).toBe(false);
    expect(waiting.has("status")).toBe(false);
    expect(new URL(environmentListPath({ list: "home", search: "x".repeat(500), sort: "Name", order: "asc", page: 1, pageSize: 10 }), "https://pier.test").searchParams.get("search")).toHaveLength(200);
  });

  it("filters by tags (all of them, comma-separated) and by edge group when asked, not otherwise", () => {
    const filtered = new URL(environmentListPath({ list: "home", search: "", sort: "Name", order: "asc", page: 1, pageSize: 25, tagIds: [3, 7], edgeGroupId: 2 }), "https://pier.test").searchParams;
    expect(filtered.get("tagIds")).toBe("3,7");
    expect(filtered.get("edgeGroupId")).toBe("2");
    const plain = new URL(environmentListPath({ list: "home", search: "", sort: "Name", order: "asc", page: 1, pageSize: 25, tagIds: [] }), "https://pier.test").searchParams;
    expect(plain.has("tagIds")).toBe(false);
    expect(plain.has("edgeGroupId")).toBe(false);
  });

  it("takes the total from X-Total-Count, else the number of items", () => {
    expect(totalOf(new Response("[]", { headers: { "X-Total-Count": "10000" } }), [])).toBe(10000);
    expect(totalOf(new Response("[]"), [1, 2])).toBe(2);
    expect(totalOf(new Response("[]", { headers: { "X-Total-Count": "many" } }), [1])).toBe(1);
  });
});
