import { describe, expect, it } from "vitest";
import { agentUpdateRows, agentUpdateStatusCounts, agentUpdateStatusLabel } from "./agent-update-status.ts";

describe("agent update statuses", () => {
  it("names each status the API sends", () => {
    expect(agentUpdateStatusLabel("pending").name).toBe("Pending");
    expect(agentUpdateStatusLabel("updated")).toEqual({ name: "Updated", color: "green" });
    expect(agentUpdateStatusLabel("rolled_back").name).toBe("Rolled back");
    expect(agentUpdateStatusLabel("failed")).toEqual({ name: "Failed", color: "red" });
  });

  it("shows an unknown status rather than hiding it", () => {
    expect(agentUpdateStatusLabel("paused").name).toBe("Unknown status paused");
  });

  it("counts devices per status in display order, leaving out zero counts", () => {
    const counts = agentUpdateStatusCounts({ "3": { status: "failed" }, "1": { status: "pending" }, "2": { status: "pending" }, "4": { status: "odd" } });
    expect(counts.map(({ name, count }) => [name, count])).toEqual([
      ["Pending", 2],
      ["Failed", 1],
      ["Unknown status odd", 1],
    ]);
    expect(agentUpdateStatusCounts({})).toEqual([]);
  });

  it("lists the devices by environment id, as numbers", () => {
    const rows = agentUpdateRows({ "10": { status: "updated", agentVersion: "2.1.0" }, "9": { status: "pending" } });
    expect(rows.map((row) => [row.environmentId, row.status])).toEqual([
      [9, "pending"],
      [10, "updated"],
    ]);
  });
});
