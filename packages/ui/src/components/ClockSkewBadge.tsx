import { Badge, Tooltip } from "@mantine/core";
import { useTranslation } from "react-i18next";
import type { Endpoint } from "../api/types.ts";
import { formatAgo } from "../format.ts";

/** From this many seconds either way a device's clock skew is shown (`clockSkewLimits.reportSeconds`). */
const reportSeconds = 60;

/**
 * The device's clock skew (`Pier.ClockSkew`, docs/identity.md "Clock skew"): an orange "Clock
 * 5 h 2 min behind" beside the heartbeat from a minute either way, what to do in its tooltip;
 * nothing when the clocks agree or the skew is unknown.
 */
export function ClockSkewBadge({ skew }: { skew: Endpoint["Pier"]["ClockSkew"] }) {
  const { t } = useTranslation("environments");
  if (!skew || Math.abs(skew.Seconds) < reportSeconds) return null;
  const exact = Math.abs(skew.Seconds);
  // Rounded to the unit shown last, as the agent's and the server's logs say it.
  const total = exact >= 86_400 ? Math.round(exact / 3600) * 3600 : exact >= 3600 ? Math.round(exact / 60) * 60 : exact;
  const [days, hours, minutes, seconds] = [Math.floor(total / 86_400), Math.floor((total % 86_400) / 3600), Math.floor((total % 3600) / 60), total % 60];
  const amount = days > 0 ? t("clockSkew.days", { days, hours }) : hours > 0 ? t("clockSkew.hours", { hours, minutes }) : t("clockSkew.minutes", { minutes, seconds });
  const ago = formatAgo(Math.floor(new Date(skew.MeasuredAt).getTime() / 1000));
  const behind = skew.Seconds < 0;
  return (
    <Tooltip label={behind ? t("clockSkew.behindReason", { amount, ago }) : t("clockSkew.aheadReason", { amount, ago })} multiline w={360} withArrow>
      <Badge variant="light" color="orange" size="md" tabIndex={0} data-testid="clock-skew" styles={{ label: { textTransform: "none" } }}>
        {behind ? t("clockSkew.behind", { amount }) : t("clockSkew.ahead", { amount })}
      </Badge>
    </Tooltip>
  );
}
