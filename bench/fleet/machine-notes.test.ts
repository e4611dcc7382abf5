import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { damonNote } from "./machine-notes.ts";

// A copy of the kernel's DAMON sysfs layout (/sys/kernel/mm/damon/admin/kdamonds) in a scratch directory.
const root = mkdtempSync(join(tmpdir(), "pier-damon-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function kdamonds(name: string, states: readonly ("on" | "off")[]): string {
  const admin = join(root, name, "kdamonds");
  states.forEach((state, index) => {
    const context = join(admin, String(index), "contexts", "0");
    mkdirSync(join(context, "schemes", "0"), { recursive: true });
    writeFileSync(join(admin, String(index), "state"), `${state}\n`);
    writeFileSync(join(context, "operations"), "paddr\n");
    writeFileSync(join(context, "schemes", "0", "action"), "pageout\n");
  });
  writeFileSync(join(admin, "nr_kdamonds"), `${states.length}\n`);
  return admin;
}

describe("damonNote", () => {
  it("names each running kdamond with its operations and scheme actions", () => {
    const note = damonNote(kdamonds("running", ["off", "on"]));
    expect(note).toMatch(/^kernel DAMON on \(kdamond 1: paddr, pageout\)/);
    expect(note).not.toContain("kdamond 0");
    expect(note).toContain("echo off >");
  });

  it("says nothing when every kdamond is off, or the kernel has no DAMON", () => {
    expect(damonNote(kdamonds("stopped", ["off"]))).toBeUndefined();
    expect(damonNote(join(root, "absent"))).toBeUndefined();
  });
});
