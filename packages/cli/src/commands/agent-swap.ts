import { AgentError, parseDockerHost, streamLogger, swapAgentContainer } from "@pier/agent";
import { parseCommand, required } from "../args.ts";
import { CliError, exitCodes } from "../errors.ts";
import type { Output } from "../output.ts";

const usage = `Usage: pier agent-swap --container ID --image IMAGE --id N --deadline SECONDS [--data DIR]

Replaces a Pier agent's container with one of IMAGE (docs/fleet.md "Agent updates"). The agent
starts it itself, in a short-lived container of the new image with the old container's volumes
(its /data and the Docker socket): not meant to be run by hand.

Flags:
  --container ID   the running agent's container
  --image IMAGE    the new agent image
  --id N           the update's id (written in DIR/fleet/agent-update.json)
  --deadline S     seconds the new agent has to check in (5-3600) before the old one is put back
  --data DIR       the agents' data directory (default /data)
Environment:
  DOCKER_HOST      the Docker Engine (default unix:///var/run/docker.sock)`;

/** `pier agent-swap`: exits 0 when the new agent checked in, 1 after a rollback or a failure. */
export async function agentSwapCommand(argv: string[], out: Output): Promise<number> {
  const { values } = parseCommand("agent-swap", argv, {
    container: { type: "string" },
    image: { type: "string" },
    id: { type: "string" },
    deadline: { type: "string" },
    data: { type: "string" },
  });
  if (values.help) return out.help(usage);
  const container = required(values.container, "--container", "agent-swap");
  const image = required(values.image, "--image", "agent-swap");
  const id = Number(required(values.id, "--id", "agent-swap"));
  const deadlineSeconds = Number(required(values.deadline, "--deadline", "agent-swap"));
  if (!Number.isSafeInteger(id) || id < 1) throw new CliError("usage", "--id must be a positive integer.");
  if (!Number.isInteger(deadlineSeconds) || deadlineSeconds < 5 || deadlineSeconds > 3600) throw new CliError("usage", "--deadline must be a whole number of seconds from 5 to 3600.");
  const log = streamLogger(process.stderr, "info");
  try {
    const result = await swapAgentContainer({ docker: parseDockerHost(process.env.DOCKER_HOST), container, image, id, deadlineSeconds, dataDir: values.data ?? "/data", log });
    return result.state === "updated" ? exitCodes.ok : exitCodes.failed;
  } catch (error) {
    if (error instanceof AgentError) throw new CliError("input", error.message, { cause: error });
    throw error;
  }
}
