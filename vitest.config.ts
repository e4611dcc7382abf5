import { defineConfig } from "vitest/config";

/**
 * End-to-end files that run in the first group, beside the unit tests: they use no Docker Engine
 * (or only containers on the main one that publish nothing and need no swarm, said beside them),
 * time no certificate lifetime or rate against the CPU and listen on ports of their own (HAProxy
 * included); some only take long (testssl.sh, openssl interop, the CLI's processes, idle waits).
 */
const independentEndToEnd = [
  // An agent in a container on the main engine (host network, nothing published, no swarm),
  // mostly waiting out an update's 30 s deadline; image builds take the machine-wide lock.
  "agent-update",
  "agent-chart",
  "agent-config",
  "bench-fleet",
  "bench-handshakes",
  "bundle",
  "device-ca-cli",
  "doctor-defects",
  "edge-groups-request",
  "edge-key-trust",
  "first-admin",
  // One agent and one job container on the main engine (no published port, no swarm): mostly a
  // wait for the next minute of the job's cron schedule, which costs half as much beside the unit tests.
  "fleet-jobs",
  // Agents on a server of its own (restarted on its own ports), no Docker container: a third of
  // it is the 22 s until a stopped agent turns red. identity-clone stays serial: its Chromium
  // saw ERR_NETWORK_CHANGED while the swarm tests beside it made networks.
  "onboarding-default",
  "openssl-interop",
  "pier-cli",
  "postgres-fixture",
  "prometheus",
  "proxy-protocol",
  "store-copy",
  "tls-handshake",
  "tls-profile",
  // Chromium against a server of its own with no Docker and no certificate timing (the 300
  // waiting devices are written into its store before it starts; the screens in two languages).
  "web-ui-lists",
  "web-ui-languages",
  // The chaos scenarios that use no Docker Engine (docs/chaos.md), each on its own ports, servers,
  // PostgreSQL and agents; chaos-partition runs stacks on the main engine and makes network
  // interfaces (Chromium beside it would see ERR_NETWORK_CHANGED): serial. A third project of
  // one worker beside the serial group is not possible: vitest runs a groupOrder's projects with
  // one maxWorkers (they ran one after the other, 171 s).
  "chaos-server-crash",
  "chaos-certificate-swap",
  "chaos-disk-full",
  "chaos-clock-skew",
  "chaos-database-outage",
].map((name) => `packages/e2e/test/${name}.test.ts`);

export default defineConfig({
  test: {
    globalSetup: ["packages/e2e/src/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    projects: [
      {
        extends: true,
        // Unit and in-process integration tests, two files at a time on two cores. Those that
        // share the host's Docker swarm take a machine-wide lock (scripts/host-lock.ts). bench/:
        // the benchmarks' own logic (the simulated agents' reconnect policy). Modules are kept
        // between files (isolate: false): re-importing them for each of ~240 files left a worker
        // idle ~260 s of the group's 660 (the group took 535 s after); no file here mocks a
        // module, and the few that fake timers or globals restore them.
        test: { name: "parallel", include: ["packages/*/src/**/*.test.ts", "bench/**/*.test.ts", "packages/fuzz/test/**/*.test.ts", ...independentEndToEnd], maxWorkers: 2, isolate: false, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        // The other end-to-end files, after those and one at a time: they share the main Docker
        // engine's published ports and swarm, and some time certificate lifetimes against the
        // CPU; two at a time made them fail now and then (issue 19 closing note). One worker keeps
        // its modules between files (isolate: false): the fixtures' imports took 2-5 s per file,
        // and no file here mocks a module or changes the process's environment.
        test: { name: "serial", include: ["packages/*/test/**/*.test.ts"], exclude: ["packages/fuzz/test/**", ...independentEndToEnd], maxWorkers: 1, isolate: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
