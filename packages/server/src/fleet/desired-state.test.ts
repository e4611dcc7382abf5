import { describe, expect, it } from "vitest";
import { canonicalJson, desiredStateVersion } from "./desired-state.ts";

describe("desired-state version", () => {
  it("is the same whatever order the parts built their objects in, and differs when anything differs", () => {
    const stack = { id: 1, name: "web", version: 2, deploymentType: 0 as const, composeFile: "services: {}\n", envVars: [{ name: "A", value: "1" }], registries: [] };
    const reordered = { registries: [], envVars: [{ value: "1", name: "A" }], composeFile: "services: {}\n", deploymentType: 0 as const, version: 2, name: "web", id: 1 };
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }], u: undefined })).toBe('{"a":[{"c":3,"d":2}],"b":1}');
    const version = desiredStateVersion({ stacks: [stack], jobs: [] });
    expect(version).toMatch(/^[0-9a-f]{64}$/);
    expect(desiredStateVersion({ jobs: [], stacks: [reordered] })).toBe(version);
    expect(desiredStateVersion({ stacks: [{ ...stack, version: 3 }], jobs: [] })).not.toBe(version);
    expect(desiredStateVersion({ stacks: [{ ...stack, envVars: [{ name: "A", value: "2" }] }], jobs: [] })).not.toBe(version);
  });
});
