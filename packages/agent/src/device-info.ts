import { arch, hostname, platform, release } from "node:os";
import type { AgentInfo } from "@pier/protocol";

/** The agent's version, reported to the server. */
export const agentVersion = "0.1.0";

/** What the agent says about the device in its hello. */
export function deviceInfo(edgeId: string, env: Readonly<Record<string, string | undefined>>): AgentInfo {
  return {
    edgeId,
    agentVersion,
    // Inside a pod the kubelet sets KUBERNETES_SERVICE_HOST; everywhere else Pier manages Docker.
    platform: env.KUBERNETES_SERVICE_HOST ? "kubernetes" : "docker",
    hostname: hostname(),
    os: `${platform()} ${release()}`.slice(0, 64),
    arch: arch(),
  };
}
