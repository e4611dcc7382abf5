import { Badge, Group, Tooltip } from "@mantine/core";
import { useTranslation } from "react-i18next";
import type { Endpoint } from "../api/types.ts";

/**
 * The heartbeat dot: green "online" while check-ins arrive on time, red "offline" otherwise.
 * Given the device's Docker state (`Pier.DockerStatus`), an online device whose Docker Engine
 * does not answer also gets an orange "Docker down", the agent's reason in its tooltip.
 */
export function HeartbeatBadge({ alive, docker }: { alive: boolean; docker?: Pick<Endpoint["Pier"], "DockerStatus" | "DockerError"> }) {
  const { t } = useTranslation("environments");
  const heartbeat = (
    <Badge variant="dot" color={alive ? "green" : "red"} size="md" styles={{ label: { textTransform: "none" } }}>
      {alive ? t("heartbeat.online") : t("heartbeat.offline")}
    </Badge>
  );
  if (!alive || docker?.DockerStatus !== "down") return heartbeat;
  return (
    <Group gap={6}>
      {heartbeat}
      <Tooltip label={t("heartbeat.dockerDownReason", { reason: docker.DockerError ?? "" })} multiline w={320} withArrow>
        <Badge variant="light" color="orange" size="md" tabIndex={0} styles={{ label: { textTransform: "none" } }}>
          {t("heartbeat.dockerDown")}
        </Badge>
      </Tooltip>
    </Group>
  );
}
