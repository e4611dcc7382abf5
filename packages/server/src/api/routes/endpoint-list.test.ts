import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { summarizeDockerSnapshot } from "../../docker/docker-summary.ts";
import type { RunningServer } from "../../server.ts";
import { sampleSnapshot } from "../../store/snapshot.testkit.ts";
import { type TempDir, tempDir } from "../../store/temp-dir.testkit.ts";
import { startAdminServer } from "../admin-server.testkit.ts";
import type { ApiClient } from "../api-client.testkit.ts";

const password = "correct horse battery staple";

interface Listed {
  Id: number;
  Name: string;
  EdgeID: string;
  UserTrusted: boolean;
  Snapshots: Record<string, unknown>[];
}

/** `GET /api/endpoints` paged, searched and sorted on a real server, with its limits. */
describe("GET /api/endpoints: pages, search, sort, X-Total-Count", () => {
  let dir: TempDir;
  let server: RunningServer;
  let api: ApiClient;

  const list = async (query: string) => {
    const answer = await api.call("GET", `/api/endpoints${query}`);
    expect(answer.status, answer.text).toBe(200);
    return { items: JSON.parse(answer.text) as Listed[], total: answer.headers["x-total-count"] };
  };

  beforeAll(async () => {
    dir = tempDir("endpoint-list");
    ({ server, api } = await startAdminServer(dir, password));
    // 12 environments named out of order, mixed case; 3 of them wait in the Waiting Room.
    const labels = ["kilo", "Alpha", "juliet", "bravo", "India", "charlie", "hotel", "Delta", "golf", "echo", "Foxtrot", "lima"];
    for (const [index, name] of labels.entries()) {
      const created = await server.store.environments.create({ name, type: "edge-agent", userTrusted: index >= 3 });
      if (index < 3) await server.store.environments.update(created.id, { edgeId: `waiting-${index}` });
    }
    const snapshot = sampleSnapshot();
    const alpha = await server.store.environments.page({ search: "alpha" });
    const id = alpha.items[0]?.id ?? 0;
    await server.store.snapshots.put(id, snapshot, new Date("2026-06-01T00:00:00Z"), summarizeDockerSnapshot(snapshot));
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await dir?.[Symbol.asyncDispose]();
  });

  it("answers a page with X-Total-Count; consecutive pages cover the list once, sorted by Name", async () => {
    const whole = await list("?sort=Name");
    expect(whole.total).toBe("12");
    expect(whole.items.map((e) => e.Name)).toEqual(["Alpha", "bravo", "charlie", "Delta", "echo", "Foxtrot", "golf", "hotel", "India", "juliet", "kilo", "lima"]);
    const pages = [await list("?sort=Name&start=0&limit=5"), await list("?sort=Name&start=5&limit=5"), await list("?sort=Name&start=10&limit=5")];
    expect(pages.map((page) => [page.items.length, page.total])).toEqual([
      [5, "12"],
      [5, "12"],
      [2, "12"],
    ]);
    expect(pages.flatMap((page) => page.items.map((e) => e.Name))).toEqual(whole.items.map((e) => e.Name));
    expect((await list("?sort=Name&order=desc&limit=2")).items.map((e) => e.Name)).toEqual(["lima", "kilo"]);
    expect((await list("?sort=LastCheckInDate&limit=1")).items).toHaveLength(1);
  });

  it("searches case-insensitively, and pages within the search", async () => {
    const found = await list("?search=OTE&sort=Name");
    expect(found.items.map((e) => e.Name)).toEqual(["hotel"]);
    expect(found.total).toBe("1");
    // "a" is in six names and in the EDGE_IDs of the waiting kilo and juliet.
    const page = await list("?search=a&sort=Name&limit=2&start=2");
    expect(page.total).toBe("8");
    expect(page.items.map((e) => e.Name)).toEqual(["charlie", "Delta"]);
  });

  it("keeps edgeDeviceUntrusted (and the Waiting Room filter) working with paging", async () => {
    const untrusted = await list("?edgeDeviceUntrusted=true&limit=2&sort=EdgeID");
    expect(untrusted.total).toBe("3");
    expect(untrusted.items.map((e) => e.EdgeID)).toEqual(["waiting-0", "waiting-1"]);
    expect(untrusted.items.every((e) => !e.UserTrusted)).toBe(true);
    expect((await list("?edgeDeviceUntrusted=false")).total).toBe("9");
    expect((await list("?waitingRoom=true")).total).toBe("3");
    expect((await list("?waitingRoom=false&search=alpha")).total).toBe("0");
  });

  it("gives each entry its Docker summary (Portainer's Snapshots[0]) without the snapshot's lists", async () => {
    const { items } = await list("?search=alpha");
    expect(items[0]?.Snapshots).toEqual([
      { Time: 1_780_272_000, DockerVersion: "27.3.1", RunningContainerCount: 2, StoppedContainerCount: 2, HealthyContainerCount: 0, UnhealthyContainerCount: 0, ImageCount: 3, VolumeCount: 1, TotalCPU: 4, TotalMemory: 8_254_390_272 },
    ]);
    const answer = await api.call("GET", "/api/endpoints");
    expect(answer.text).not.toContain("nginx:1.27");
    // Without limit the whole list, as before paging (scripts), with its total.
    expect(JSON.parse(answer.text)).toHaveLength(12);
    expect(answer.headers["x-total-count"]).toBe("12");
  });

  it.each([
    ["limit=0", "limit"],
    ["limit=1001", "limit"],
    ["limit=ten", "limit"],
    ["start=-1", "start"],
    [`search=${"x".repeat(201)}`, "search"],
    ["sort=Color", "sort"],
    ["order=up", "order"],
    ["status=3", "status"],
  ])("refuses %s with 400 naming the parameter", async (query, field) => {
    const answer = await api.call("GET", `/api/endpoints?${query}`);
    expect(answer.status, answer.text).toBe(400);
    expect(answer.json).toMatchObject({ code: "bad_request", field });
  });

  it("names the accepted sort keys when refusing one; the limits themselves are accepted", async () => {
    const answer = await api.call("GET", "/api/endpoints?sort=Color");
    expect(answer.json["message"]).toBe("Invalid request: sort: must be one of Id, Name, EdgeID, LastCheckIn, LastCheckInDate, CreatedAt");
    expect((await list(`?limit=1000&start=0&search=${"x".repeat(200)}`)).total).toBe("0");
    expect((await list("?limit=1")).items).toHaveLength(1);
  });

  it("is refused without credentials", async () => {
    const answer = await api.call("GET", "/api/endpoints?limit=5", { token: null });
    expect(answer.status).toBe(401);
    expect(answer.headers["x-total-count"]).toBeUndefined();
  });

  it("answers 304 with no body while a polled page is unchanged, and 200 once it changes (ETag)", async () => {
    const first = await api.call("GET", "/api/endpoints?waitingRoom=false&limit=5&sort=Name");
    expect(first.status).toBe(200);
    const etag = first.headers["etag"];
    expect(etag).toMatch(/^"[\w-]{27}"$/);
    expect(first.headers["cache-control"]).toBe("private, no-cache");
    const again = await api.call("GET", "/api/endpoints?waitingRoom=false&limit=5&sort=Name", { headers: { "if-none-match": String(etag) } });
    expect([again.status, again.text]).toEqual([304, ""]);
    expect(again.headers["etag"]).toBe(etag);
    // Another environment beyond the page leaves its rows alone but changes the total: not 304.
    const zulu = await server.store.environments.create({ name: "zulu", type: "edge-agent", userTrusted: true });
    try {
      const changed = await api.call("GET", "/api/endpoints?waitingRoom=false&limit=5&sort=Name", { headers: { "if-none-match": String(etag) } });
      expect(changed.status).toBe(200);
      expect(changed.headers["x-total-count"]).toBe("10");
      expect(changed.headers["etag"]).not.toBe(etag);
    } finally {
      await server.store.environments.delete(zulu.id);
    }
  });

  it("counts environments by status: Home's online and offline, and the Waiting Room", async () => {
    const answer = await api.call("GET", "/api/endpoints/counts");
    expect(answer.status, answer.text).toBe(200);
    // No device ever checked in: the 9 on Home are offline; the 3 that asked wait.
    expect(answer.json).toEqual({ Environments: 9, Online: 0, Offline: 9, Waiting: 3 });
    const delta = (await server.store.environments.page({ search: "Delta" })).items[0];
    expect(delta?.name).toBe("Delta");
    await server.store.environments.recordCheckIns([{ id: delta?.id ?? 0, at: new Date() }]);
    expect((await api.call("GET", "/api/endpoints/counts")).json).toEqual({ Environments: 9, Online: 1, Offline: 8, Waiting: 3 });
    expect((await api.call("GET", "/api/endpoints/counts", { token: null })).status).toBe(401);
  });
});
