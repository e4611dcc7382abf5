import { Alert, Anchor, Group, Loader, Text } from "@mantine/core";
import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import { api } from "../api/client.ts";
import type { Endpoint } from "../api/types.ts";
import { formatDateTime } from "../format.ts";
import { usePolling } from "../hooks/use-polling.ts";

/** How often the Add environment screen asks whether the new device has checked in. */
const checkInPollMs = 2000;

/**
 * The "verify" step of Add environment: waits for the first check-in of the environment just
 * created, then says when and from where it came and where to go next (the Waiting Room, or the
 * environment). Polling stops once the device is seen.
 */
export function DeviceCheckIn({ environment }: { environment: Endpoint }) {
  const path = `/api/endpoints/${environment.Id}`;
  const [seen, setSeen] = useState(false);
  const { t } = useTranslation("environments");
  // Polls until the device is seen, then stops (interval 0), keeping what it showed.
  const polling = usePolling((signal) => api<Endpoint>("GET", path, { signal }), seen ? 0 : checkInPollMs, path, { keepDataOnKeyChange: true });
  const current = polling.data !== undefined && polling.data.LastCheckInDate > 0 ? polling.data : undefined;
  useEffect(() => {
    if (current) setSeen(true);
  }, [current]);
  if (current) {
    const next = current.UserTrusted ? (
      <Anchor component={Link} to={`/environments/${current.Id}`}>
        {t("agent.checkIn.open", { name: current.Name })}
      </Anchor>
    ) : (
      <Anchor component={Link} to="/waiting-room">
        {t("agent.checkIn.associate")}
      </Anchor>
    );
    const device = current.Pier.Hostname || current.EdgeID;
    const time = formatDateTime(current.LastCheckInDate * 1000);
    return (
      <Alert color="teal" title={t("agent.checkIn.title")} data-testid="device-check-in">
        <Text size="sm">
          {current.Pier.SourceAddress ? t("agent.checkIn.atFrom", { device, time, address: current.Pier.SourceAddress }) : t("agent.checkIn.at", { device, time })} {next}
        </Text>
      </Alert>
    );
  }
  return (
    <Group gap="xs" data-testid="device-check-in" role="status">
      <Loader size="xs" />
      <Text size="sm" c="dimmed">
        {t("agent.checkIn.waiting")} {polling.error ? t("agent.checkIn.askFailed", { error: polling.error }) : ""}
      </Text>
    </Group>
  );
}
