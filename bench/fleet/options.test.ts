import { describe, expect, it } from "vitest";
import { benchmarkOptions } from "./options.ts";

describe("benchmarkOptions", () => {
  const options = { "server-args": { type: "string", default: "" }, agents: { type: "string", default: "2000" }, haproxy: { type: "boolean", default: false } } as const;

  it("takes a string option's value that begins with a dash, as --server-args needs", () => {
    const { values } = benchmarkOptions(["--server-args", "--max-concurrent-handshakes 256", "--agents", "15000", "--haproxy"], "usage", options);
    expect(values).toMatchObject({ "server-args": "--max-concurrent-handshakes 256", agents: "15000", haproxy: true });
  });

  it("still refuses an unknown option, and reads --name=value as before", () => {
    expect(() => benchmarkOptions(["--agent", "5"], "usage", options)).toThrow(/Unknown option '--agent'/);
    expect(benchmarkOptions(["--agents=7"], "usage", options).values.agents).toBe("7");
  });
});
