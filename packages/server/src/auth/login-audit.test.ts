import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { FailedLoginNames } from "./login-audit.ts";

describe("FailedLoginNames", () => {
  const names = new FailedLoginNames(randomBytes(32));

  it("keeps an existing user's name as it is", () => {
    expect(names.describe("admin", true)).toEqual({ username: "admin" });
  });

  it("keeps two characters and a keyed tag of any other text, never the text", () => {
    const typed = "correct horse battery staple";
    const described = names.describe(typed, false);
    expect(described).toEqual({ username: "co…", unknownUser: true, usernameTag: expect.stringMatching(/^[0-9a-f]{16}$/) as unknown });
    expect(JSON.stringify(described)).not.toContain("horse");
    // The same text gets the same tag (attempts can be grouped); other text another one.
    expect(names.describe(typed, false)).toEqual(described);
    expect(names.describe(`${typed}!`, false)).not.toEqual(described);
    // Another server secret, another tag: the tag cannot be checked against guesses without it.
    expect(new FailedLoginNames(randomBytes(32)).describe(typed, false)).not.toEqual(described);
  });

  it("counts characters as the user sees them, and caps the length whatever was typed", () => {
    expect(names.describe("🔑🔑secret", false).username).toBe("🔑🔑…");
    expect(JSON.stringify(names.describe("x".repeat(100_000), false)).length).toBeLessThan(100);
  });
});
