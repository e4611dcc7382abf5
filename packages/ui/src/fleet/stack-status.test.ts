import { edgeStackStatusTypes } from "@pier/protocol";
import { describe, expect, it } from "vitest";
import { deviceStatus, stackDeviceStatuses, stackStatusCounts, stackStatusName, stackStatusTypes } from "./stack-status.ts";

describe("stack status names", () => {
  it("names every one of Portainer's status types the protocol defines, by the same number", () => {
    const numbers = Object.values(edgeStackStatusTypes).sort((a, b) => a - b);
    expect(Object.keys(stackStatusTypes).map(Number)).toEqual(numbers);
    expect(stackStatusName(edgeStackStatusTypes.running)).toBe("Running");
    expect(stackStatusName(edgeStackStatusTypes.error)).toBe("Error");
    expect(stackStatusName(edgeStackStatusTypes.imagesPulled)).toBe("Images pulled");
    expect(stackStatusName(edgeStackStatusTypes.rolledBack)).toBe("Rolled back");
    expect(stackStatusName(edgeStackStatusTypes.acknowledged)).toBe("Acknowledged");
  });

  it("shows an unknown number rather than hiding it", () => {
    expect(stackStatusName(42)).toBe("Unknown status 42");
  });
});

describe("a device's status", () => {
  it("is its latest transition, with every error newest first and the rollback's version", () => {
    const row = deviceStatus({
      EndpointID: 4,
      Status: [
        { Type: 3, Time: 10 },
        { Type: 2, Time: 12, Error: "pull access denied for registry.local/web:2: a long reason kept whole" },
        { Type: 12, Time: 13 },
        { Type: 13, Time: 14 },
      ],
      Pier: { Version: 2, RolledBackTo: 1 },
    });
    expect(row).toEqual({ environmentId: 4, latest: { Type: 13, Time: 14 }, errors: ["pull access denied for registry.local/web:2: a long reason kept whole"], version: 2, rolledBackTo: 1 });
  });

  it("reads the version rolled back to from Portainer's RollbackTo on the transition, and ignores empty errors", () => {
    const row = deviceStatus({
      EndpointID: 7,
      Status: [
        { Type: 3, Time: 10, Error: "" },
        { Type: 2, Time: 11, Error: "container web exited with code 1" },
        { Type: 13, Time: 12, Error: "", RollbackTo: 3 },
      ],
      DeploymentInfo: { Version: 4 },
    });
    expect(row).toMatchObject({ latest: { Type: 13 }, errors: ["container web exited with code 1"], version: 4, rolledBackTo: 3 });
  });

  it("has no latest transition while the device reported nothing, and reads Portainer's DeploymentInfo version", () => {
    expect(deviceStatus({ EndpointID: 9, Status: [], DeploymentInfo: { Version: 3 } })).toEqual({ environmentId: 9, latest: undefined, errors: [], version: 3, rolledBackTo: undefined });
  });
});

describe("a stack's counts by status", () => {
  const stack = {
    Status: {
      "3": { EndpointID: 3, Status: [{ Type: 3, Time: 1 }, { Type: 7, Time: 2 }] },
      "1": { EndpointID: 1, Status: [{ Type: 7, Time: 5 }] },
      "2": { EndpointID: 2, Status: [{ Type: 2, Time: 5, Error: "no such image" }] },
      "5": { EndpointID: 0, Status: [] },
    },
  };

  it("counts each device once, by its latest transition, running first", () => {
    expect(stackStatusCounts(stack).map(({ name, count }) => [name, count])).toEqual([
      ["Running", 2],
      ["Error", 1],
      ["No report yet", 1],
    ]);
  });

  it("lists devices by environment id, taking the id from the key when the entry lacks it", () => {
    expect(stackDeviceStatuses(stack).map((row) => row.environmentId)).toEqual([1, 2, 3, 5]);
  });
});
