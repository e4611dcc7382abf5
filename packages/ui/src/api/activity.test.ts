import { describe, expect, it } from "vitest";
import { activityParameters } from "./activity.ts";

describe("the Activity screen's filters", () => {
  it("sends only the filters given, trimmed and capped, local times as ISO instants", () => {
    const none = activityParameters({ edgeId: " ", actor: "", kind: "", from: "", to: "" });
    expect(none.toString()).toBe("");
    const all = activityParameters({ edgeId: ` ${"e".repeat(200)} `, actor: " alice ", kind: "removed", from: "2026-12-07T10:00", to: "not a date" });
    expect(all.get("edgeId")).toHaveLength(128);
    expect(all.get("actor")).toBe("alice");
    expect(all.get("kind")).toBe("removed");
    expect(all.get("since")).toBe(new Date("2026-12-07T10:00").toISOString());
    expect(all.has("until")).toBe(false);
  });
});
