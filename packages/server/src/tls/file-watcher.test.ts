import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { writeFileAtomic } from "@pier/pki";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type FileWatch, watchFiles } from "./file-watcher.ts";

const debounceMs = 50;
// Long enough for fs.watch events and the debounce to have run their course.
const settle = () => sleep(debounceMs * 6);

describe("watchFiles", () => {
  let dir: string;
  let cert: string;
  let key: string;
  const watches: FileWatch[] = [];
  const watch = (paths: string[], onChange: (changed: string[]) => void) => watches.push(watchFiles(paths, onChange, { debounceMs }));
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "pier-watch-"));
    cert = join(dir, "server.crt");
    key = join(dir, "server.key");
    writeFileSync(cert, "cert v1");
    writeFileSync(key, "key v1");
  });
  afterEach(() => {
    for (const started of watches.splice(0)) started.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("sees a file replaced by rename (write temp + rename)", async () => {
    const onChange = vi.fn();
    watch([cert, key], onChange);
    writeFileAtomic(cert, "cert v2");
    await vi.waitFor(() => expect(onChange).toHaveBeenCalledWith([cert]));
    await settle();
    expect(onChange).toHaveBeenCalledTimes(1);
  });

  it("sees a file rewritten in place", async () => {
    const onChange = vi.fn();
    watch([cert], onChange);
    writeFileSync(key, "unwatched");
    writeFileSync(cert, "cert v2");
    await vi.waitFor(() => expect(onChange).toHaveBeenCalledWith([cert]));
  });

  it("reports several quick changes once, naming every changed file", async () => {
    const onChange = vi.fn();
    watch([cert, key], onChange);
    writeFileAtomic(cert, "cert v2");
    writeFileSync(cert, "cert v3");
    writeFileAtomic(key, "key v2");
    await vi.waitFor(() => expect(onChange).toHaveBeenCalled());
    await settle();
    expect(onChange.mock.calls).toEqual([[[cert, key]]]);
  });

  it("ignores rewrites with the same content and changes to other files", async () => {
    const onChange = vi.fn();
    watch([cert], onChange);
    writeFileSync(cert, "cert v1");
    writeFileAtomic(cert, "cert v1");
    writeFileSync(join(dir, "unrelated.txt"), "noise");
    await settle();
    expect(onChange).not.toHaveBeenCalled();
  });

  it("stops when closed", async () => {
    const onChange = vi.fn();
    const stopped = watchFiles([cert], onChange, { debounceMs });
    stopped.close();
    writeFileAtomic(cert, "cert v2");
    await settle();
    expect(onChange).not.toHaveBeenCalled();
  });

  it("refuses to watch a directory that does not exist", () => {
    expect(() => watchFiles([join(dir, "nowhere", "server.crt")], () => undefined)).toThrow(/Cannot watch .*nowhere for certificate changes/);
  });
});
