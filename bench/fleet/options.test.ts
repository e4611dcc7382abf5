import { describe, expect, it } from "vitest";
import { benchmarkOptions, nodeOptionsFlag, serverNodeOptions } from "./options.ts";

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

describe("--server-node-options", () => {
  it("takes Node flags, and joins them with --server-cpu-prof's for the server", () => {
    const flags = nodeOptionsFlag(" --max-semi-space-size=4   --expose-gc ", "usage");
    expect(flags).toEqual({ serverNodeFlags: "--max-semi-space-size=4 --expose-gc" });
    expect(serverNodeOptions({ serverCpuProfDir: "/tmp/p", ...flags }).serverNodeOptions).toBe("--cpu-prof --cpu-prof-dir=/tmp/p --max-semi-space-size=4 --expose-gc");
    expect(serverNodeOptions({})).toEqual({});
  });

  it("refuses what is not a flag, and a value over 1,000 characters, naming the rule and the usage", () => {
    expect(() => nodeOptionsFlag("--max-semi-space-size=4 rm -rf", "Usage: bench")).toThrow(/--server-node-options must be Node flags such as "--max-semi-space-size=4".*\nUsage: bench/s);
    expect(() => nodeOptionsFlag(`--a=${"x".repeat(1000)}`, "usage")).toThrow(/1000 characters at most/);
  });
});
