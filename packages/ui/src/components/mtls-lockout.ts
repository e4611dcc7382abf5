import type { MtlsImpact } from "../api/types.ts";
import { i18n } from "../i18n/index.ts";
import { joinList } from "../list-format.ts";

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
  const t = i18n.getFixedT(null, "environments", "mtlsLockout");
  const parts: string[] = [];
  if (impact.CoversHost) {
    const keeps = impact.KeepsWorking.slice(0, 3).map((url) => (loopback.test(url) ? t("onServer", { url }) : url));
    parts.push(keeps.length > 0 ? t("coversHostKeeps", { host, addresses: joinList(keeps, "disjunction") }) : t("coversHost", { host }));
  }
  parts.push(impact.Disconnected > 0 ? t("disconnected", { count: impact.Disconnected, connected: impact.ConnectedAgents }) : t("noneDisconnected", { connected: impact.ConnectedAgents }));
  return parts.join(" ");
}
