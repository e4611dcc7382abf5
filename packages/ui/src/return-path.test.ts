import { describe, expect, it } from "vitest";
import { loginPathFor, returnPathOf } from "./return-path.ts";

describe("returning to the page asked for after login", () => {
  it("carries the page, with its query, through /login and back", () => {
    const login = loginPathFor("/environments/4?tab=images");
    expect(login).toBe("/login?next=%2Fenvironments%2F4%3Ftab%3Dimages");
    expect(returnPathOf(new URL(login, "https://pier.test").search)).toBe("/environments/4?tab=images");
    expect(loginPathFor("/")).toBe("/login");
  });

  it("never leaves the site, and falls back to Home for anything else", () => {
    for (const next of ["//evil.example/x", "https://evil.example", "/\\evil.example", "evil", "/login?next=/x", `/${"a".repeat(2048)}`]) {
      expect(returnPathOf(`?${new URLSearchParams({ next }).toString()}`), next).toBe("/");
    }
    expect(returnPathOf("")).toBe("/");
  });
});
