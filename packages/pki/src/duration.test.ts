import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "./duration.ts";

describe("parseDuration", () => {
  it("reads 90s, 15m, 12h and 30d as seconds", () => {
    expect(["90s", "15m", "12h", "30d", " 7d "].map((text) => parseDuration(text))).toEqual([90, 900, 43_200, 2_592_000, 604_800]);
  });

  it("refuses anything else with a PkiError naming the accepted forms and the flag", () => {
    for (const text of ["30", "d", "1.5h", "-5m", "10w", "1d12h", "", "9999999999s"]) {
      expect(() => parseDuration(text, "--device-cert-lifetime"), text).toThrow(/^--device-cert-lifetime must be a whole number followed by s, m, h or d \(e\.g\. 90s, 15m, 12h, 30d\), got "/);
      expect(() => parseDuration(text), text).toThrow(expect.objectContaining({ code: "invalid_argument" }));
    }
  });

  it("formats seconds in the largest unit that divides them", () => {
    expect([30 * 86_400, 43_200, 900, 90, 60].map(formatDuration)).toEqual(["30d", "12h", "15m", "90s", "1m"]);
  });
});
