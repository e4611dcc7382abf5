import { describe, expect, it } from "vitest";
import { Registry } from "prom-client";
import { ServerMetrics } from "./server-metrics.ts";

/** The sample lines of the exposition, without HELP and TYPE. */
async function samples(registry: Registry): Promise<string[]> {
  return (await registry.metrics()).split("\n").filter((line) => line !== "" && !line.startsWith("#"));
}

describe("server metrics: counted where things happen, read at scrape", () => {
  it("counts check-ins and hellos as numbers the scrape turns into counters", async () => {
    const registry = new Registry();
    const metrics = new ServerMetrics(registry);
    expect(await samples(registry)).toEqual(expect.arrayContaining(["pier_check_ins_total 0", 'pier_agent_hellos_total{outcome="accepted"} 0']));
    for (let i = 0; i < 3; i++) metrics.checkIn();
    metrics.hello();
    metrics.hello();
    metrics.hello("unavailable");
    metrics.hello("forbidden");
    metrics.hello("unavailable");
    const lines = await samples(registry);
    expect(lines).toEqual(expect.arrayContaining(["pier_check_ins_total 3", 'pier_agent_hellos_total{outcome="accepted"} 2', 'pier_agent_hellos_total{outcome="unavailable"} 2', 'pier_agent_hellos_total{outcome="forbidden"} 1']));
    // A second scrape reads the same totals, not twice them.
    expect(await samples(registry)).toEqual(lines);
  });

  it("counts refusals by listener and reason, tunnels with their latency, renewals, enrollments, issued certificates and ended deployments", async () => {
    const registry = new Registry();
    const metrics = new ServerMetrics(registry);
    metrics.handshakeRefused("tunnel", "client_certificate_unknown_ca");
    metrics.handshakeRefused("tunnel", "client_certificate_unknown_ca");
    metrics.handshakeRefused("edge", "client_certificate_expired");
    metrics.tunnel(0.02);
    metrics.tunnel(undefined);
    metrics.renewal("renewed");
    metrics.renewal("revoked");
    metrics.enrolled();
    metrics.certificateIssued("enrollment");
    metrics.stackReported(7);
    metrics.stackReported(2);
    // Pending (0) and deploying (8) end nothing.
    metrics.stackReported(0);
    metrics.stackReported(8);
    const lines = await samples(registry);
    expect(lines).toEqual(
      expect.arrayContaining([
        'pier_tls_refusals_total{listener="tunnel",reason="client_certificate_unknown_ca"} 2',
        'pier_tls_refusals_total{listener="edge",reason="client_certificate_expired"} 1',
        'pier_tunnel_opens_total{outcome="opened"} 1',
        'pier_tunnel_opens_total{outcome="failed"} 1',
        'pier_tunnel_open_seconds_bucket{le="0.01"} 0',
        'pier_tunnel_open_seconds_bucket{le="0.025"} 1',
        "pier_tunnel_open_seconds_count 1",
        'pier_certificate_renewals_total{outcome="renewed"} 1',
        'pier_certificate_renewals_total{outcome="revoked"} 1',
        "pier_enrollments_total 1",
        'pier_device_certificates_issued_total{reason="enrollment"} 1',
        'pier_stack_deployments_total{outcome="running"} 1',
        'pier_stack_deployments_total{outcome="error"} 1',
      ]),
    );
    expect(lines.filter((line) => line.startsWith("pier_stack_deployments_total"))).toHaveLength(2);
  });

  it("names every metric pier_* with a HELP text", async () => {
    const registry = new Registry();
    new ServerMetrics(registry);
    const text = await registry.metrics();
    const names = [...text.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1]);
    expect(names.length).toBe(9);
    for (const name of names) {
      expect(name).toMatch(/^pier_/);
      expect(text).toMatch(new RegExp(`^# HELP ${name} \\S.{20,}`, "m"));
    }
  });
});
