import type { DockerSnapshot } from "@pier/protocol";

/** A small but complete Docker snapshot: two running containers, one exited, one created. */
export function sampleSnapshot(overrides: Partial<DockerSnapshot> = {}): DockerSnapshot {
  return {
    collectedAt: "2026-03-01T10:00:00.000Z",
    engine: { version: "27.3.1", apiVersion: "1.47", os: "linux", arch: "arm64", kernelVersion: "6.6.31" },
    host: { name: "edge-17", cpus: 4, memoryBytes: 8_254_390_272 },
    containers: [
      { id: "c1".repeat(32), names: ["/web"], image: "nginx:1.27", state: "running", status: "Up 2 hours", created: 1_740_000_000 },
      { id: "c2".repeat(32), names: ["/db"], image: "postgres:17", state: "running", status: "Up 2 hours", created: 1_740_000_100 },
      { id: "c3".repeat(32), names: ["/migrate"], image: "app:1.4", state: "exited", status: "Exited (0) 1 hour ago", created: 1_740_000_200 },
      { id: "c4".repeat(32), names: ["/spare"], image: "app:1.4", state: "created", status: "Created", created: 1_740_000_300 },
    ],
    images: [
      { id: "sha256:" + "a1".repeat(32), tags: ["nginx:1.27"], sizeBytes: 192_000_000, created: 1_739_000_000 },
      { id: "sha256:" + "a2".repeat(32), tags: ["postgres:17"], sizeBytes: 435_000_000, created: 1_739_000_100 },
      { id: "sha256:" + "a3".repeat(32), tags: [], sizeBytes: 12_000_000, created: 1_739_000_200 },
    ],
    volumes: [{ name: "pgdata", driver: "local" }],
    networks: [
      { id: "n1".repeat(32), name: "bridge", driver: "bridge" },
      { id: "n2".repeat(32), name: "host", driver: "host" },
    ],
    ...overrides,
  };
}
