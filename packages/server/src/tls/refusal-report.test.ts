import { describe, expect, it } from "vitest";
import type { TlsFailure } from "@pier/pki";
import { defaultRefusalReportLimits, refusalReport } from "./refusal-report.ts";
import type { TlsRefusal } from "./tls-front.ts";

const closed = { code: "connection_reset", cause: "The client closed the connection during the handshake without sending an alert." } as TlsFailure;
const unknownCa = { code: "client_certificate_unknown_ca", cause: "The client's certificate is not issued by a CA this listener trusts." } as TlsFailure;

function harness() {
  let now = 0;
  const lines: string[] = [];
  const audited: string[] = [];
  const report = refusalReport({
    listener: "tunnel",
    log: (_level, message) => lines.push(message),
    audit: (refusal) => audited.push(refusal.remoteAddress ?? "unknown"),
    now: () => now,
  });
  return { lines, audited, report, advance: (ms: number) => (now += ms) };
}

const refusal = (i: number, failure: TlsFailure = closed): TlsRefusal => ({ remoteAddress: `127.3.${i >> 8}.${i & 255}`, serverName: "localhost", failure });

describe("refused TLS clients: logged and audited one by one up to a rate, then counted", () => {
  it("logs and audits a refusal as before", () => {
    const { lines, audited, report } = harness();
    report.refused(refusal(1, unknownCa));
    expect(lines).toEqual(["tunnel: refused a TLS client from 127.3.0.1 (SNI localhost): The client's certificate is not issued by a CA this listener trusts."]);
    expect(audited).toEqual(["127.3.0.1"]);
    report.stop();
    expect(lines).toHaveLength(1);
  });

  it("a storm of 5,000 refusals from 5,000 addresses makes 20 lines, 50 audit rows and one line counting the rest", () => {
    const { lines, audited, report } = harness();
    for (let i = 0; i < 5_000; i++) report.refused(refusal(i, i % 100 === 0 ? unknownCa : closed));
    // Precondition: the first ones are logged one by one, each from its own address.
    expect(lines.slice(0, 2)).toEqual([
      "tunnel: refused a TLS client from 127.3.0.0 (SNI localhost): The client's certificate is not issued by a CA this listener trusts.",
      "tunnel: refused a TLS client from 127.3.0.1 (SNI localhost): The client closed the connection during the handshake without sending an alert.",
    ]);
    expect(lines).toHaveLength(defaultRefusalReportLimits.logBurst);
    expect(audited).toHaveLength(defaultRefusalReportLimits.auditBurst);
    report.stop();
    expect(lines).toHaveLength(defaultRefusalReportLimits.logBurst + 1);
    expect(lines.at(-1)).toBe("tunnel: 4980 more TLS clients refused in the last 10 s, not logged one by one (4950 not audited): 4931× connection_reset, 49× client_certificate_unknown_ca");
  });

  it("logs and audits one by one again as the limits refill", () => {
    const { lines, audited, report, advance } = harness();
    for (let i = 0; i < 100; i++) report.refused(refusal(i));
    const logged = lines.length;
    advance(10_000);
    report.refused(refusal(500));
    expect(lines.length).toBe(logged + 1);
    expect(lines.at(-1)).toContain("refused a TLS client from 127.3.1.244");
    expect(audited.at(-1)).toBe("127.3.1.244");
    report.stop();
  });
});
