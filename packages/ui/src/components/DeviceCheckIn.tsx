import { Alert, Anchor, Group, Loader, Text } from "@mantine/core";
import { useEffect, useState } from "react";
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
  // Polls until the device is seen, then stops (interval 0), keeping what it showed.
  const polling = usePolling((signal) => api<Endpoint>("GET", path, { signal }), seen ? 0 : checkInPollMs, path, { keepDataOnKeyChange: true });
  const current = polling.data !== undefined && polling.data.LastCheckInDate > 0 ? polling.data : undefined;
  useEffect(() => {
    if (current) setSeen(true);
  }, [current]);
  if (current) {
    const next = current.UserTrusted ? (
      <Anchor component={Link} to={`/environments/${current.Id}`}>
        Open {current.Name}
      </Anchor>
    ) : (
      <Anchor component={Link} to="/waiting-room">
        Associate it in the Waiting Room
      </Anchor>
    );
    return (
      <Alert color="teal" title="The device has checked in" data-testid="device-check-in">
        <Text size="sm">
          {current.Pier.Hostname || current.EdgeID} checked in at {formatDateTime(current.LastCheckInDate * 1000)}
          {current.Pier.SourceAddress ? ` from ${current.Pier.SourceAddress}` : ""}. {next}
        </Text>
      </Alert>
    );
  }
  return (
    <Group gap="xs" data-testid="device-check-in" role="status">
      <Loader size="xs" />
      <Text size="sm" c="dimmed">
        Waiting for the device to check in: run the command on it. {polling.error ? `Could not ask the server: ${polling.error}` : ""}
      </Text>
    </Group>
  );
}
