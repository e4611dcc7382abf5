import { DEFAULT_THEME } from "@mantine/core";
import { describe, expect, it } from "vitest";
import { contrastRatio, cssVariablesResolver, readable } from "./theme.ts";

const { colors } = DEFAULT_THEME;
const resolved = cssVariablesResolver(DEFAULT_THEME);

describe("the theme's colours", () => {
  it("computes WCAG contrast ratios", () => {
    expect(contrastRatio("#ffffff", "#000000")).toBeCloseTo(21, 5);
    // Mantine's default dimmed text on white, which axe-core refused.
    expect(contrastRatio(colors.gray[6], "#ffffff")).toBeCloseTo(3.32, 2);
  });

  it("moves a colour only as far as needed", () => {
    expect(readable(colors.gray[9], ["#ffffff"], "dark")).toBe(colors.gray[9]);
    expect(contrastRatio(readable(colors.gray[6], ["#ffffff"], "dark"), "#ffffff")).toBeGreaterThanOrEqual(4.5);
    expect(contrastRatio(readable(colors.dark[2], [colors.dark[5]], "light"), colors.dark[5])).toBeGreaterThanOrEqual(4.5);
  });

  it("gives dimmed text, errors and links at least 4.5:1 on every surface of each scheme", () => {
    for (const surface of ["#ffffff", colors.gray[0], colors.gray[1], colors.blue[1]]) {
      for (const name of ["--mantine-color-dimmed", "--mantine-color-error", "--mantine-color-anchor"] as const) expect(contrastRatio(resolved.light[name] ?? "", surface), `${name} on ${surface}`).toBeGreaterThanOrEqual(4.5);
    }
    for (const surface of [colors.dark[7], colors.dark[6], colors.dark[5]]) {
      for (const name of ["--mantine-color-dimmed", "--mantine-color-error"] as const) expect(contrastRatio(resolved.dark[name] ?? "", surface), `${name} on ${surface}`).toBeGreaterThanOrEqual(4.5);
    }
  });

  it("keeps white text on every filled colour, and light badges' text on their background, at 4.5:1", () => {
    for (const name of Object.keys(colors).filter((color) => color !== "dark")) {
      for (const scheme of ["light", "dark"] as const) expect(contrastRatio(resolved[scheme][`--mantine-color-${name}-filled`] ?? "", "#ffffff"), `${name} filled, ${scheme}`).toBeGreaterThanOrEqual(4.5);
      expect(contrastRatio(resolved.light[`--mantine-color-${name}-light-color`] ?? "", colors[name]?.[1] ?? ""), `${name} light`).toBeGreaterThanOrEqual(4.5);
    }
  });
});
