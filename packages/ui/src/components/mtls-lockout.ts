import type { MtlsImpact } from "../api/types.ts";

const loopback = /^https:\/\/(127\.0\.0\.1|\[::1\]|localhost)(:\d+)?$/;

/** Whether applying the set needs the administrator's confirmation: it locks this browser out, or ends agents' sessions. */
export function needsConfirmation(impact: MtlsImpact): boolean {
  return impact.CoversHost || impact.Disconnected > 0;
}

/**
 * The warning shown before an mTLS set is applied: the browser's host that would need a client
 * certificate and the addresses that keep working, and how many connected agents are disconnected.
 *
 * @example
 * lockoutWarning({ CoversHost: true, KeepsWorking: ["https://127.0.0.1:9443"], Disconnected: 2, ConnectedAgents: 3, Names: ["localhost"] }, "localhost");
 * // "This certificate covers localhost, the address you are using: … Use https://127.0.0.1:9443 (on the server itself) instead … 2 of 3 connected agents …"
 */
export function lockoutWarning(impact: MtlsImpact, host: string): string {
  const parts: string[] = [];
  if (impact.CoversHost) {
    const keeps = impact.KeepsWorking.slice(0, 3).map((url) => (loopback.test(url) ? `${url} (on the server itself)` : url));
    parts.push(
      `This certificate covers ${host}, the address you are using: after applying it, this browser needs a client certificate from the new CA to reach Pier at ${host}, and you will be locked out.` +
        (keeps.length > 0 ? ` Use ${keeps.join(" or ")} instead, which keeps working without one.` : ""),
    );
  }
  const agents = impact.Disconnected === 1 ? "1 connected agent" : `${impact.Disconnected} connected agents`;
  parts.push(
    impact.Disconnected > 0
      ? `${agents} of ${impact.ConnectedAgents} will be disconnected: they present no client certificate of the new CA.`
      : `No connected agent will be disconnected (${impact.ConnectedAgents} connected).`,
  );
  return parts.join(" ");
}
