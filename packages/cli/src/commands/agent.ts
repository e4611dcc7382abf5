import { AgentError, EdgeAgent, loadAgentConfig, logLevels, streamLogger, type LogLevel } from "@pier/agent";
import { parseCommand } from "../args.ts";
import { CliError, exitCodes } from "../errors.ts";
import type { Output } from "../output.ts";

const usage = `Usage: pier agent [--mtlscacert F --mtlscert F --mtlskey F] [--data DIR] [--log-level LEVEL]

The Pier edge agent. It dials out to the server named in EDGE_KEY and keeps one mutual-TLS
session open (or polls with PIER_EDGE_MODE=poll).

Environment:
  EDGE=1                 edge mode (the only mode)
  EDGE_ID                this device's unique id
  EDGE_KEY               the key from the Pier UI or POST /api/endpoints/edge/generate-key
  EDGE_INSECURE_POLL=1   skip the CA file's check (chain, host name, dates); the server must still
                         hold the key whose fingerprint EDGE_KEY pins
  MTLS_SSL_CA / MTLS_SSL_CERT / MTLS_SSL_KEY   same as the --mtls* flags
  DOCKER_HOST            the Docker Engine to report and reach through the tunnel
                         (default unix:///var/run/docker.sock; tcp://host:port also works)
  EDGE_GROUPS            accepted
  AGENT_CLUSTER_ADDR     set in a Swarm global service (tasks.<service>): only the agent on
                         the swarm's leader speaks for the cluster, the others wait their turn
  PIER_AGENT_SOURCE_ADDRESS   the local IP address to connect from (a device with several)
  PIER_JOB_IMAGE         same as --job-image
  PIER_JOB_PRIVILEGED=false   edge job containers keep Docker's default capabilities (default: privileged)
Flags:
  --mtlscacert F   CA that issued the server's mTLS certificate (else the EDGE_KEY fingerprint is checked)
  --mtlscert F     this device's client certificate;  --mtlskey F  its key
  --sslcacert/--sslcert/--sslkey   deprecated names of the three above
  --data DIR       state directory (default /data)
  --job-image IMG  image whose sh runs edge job scripts, host root at /host (default busybox:latest)
  --log-level L    debug, info (default), warn, error`;

/** `pier agent`: runs until SIGINT/SIGTERM. */
export async function agentCommand(argv: string[], out: Output): Promise<number> {
  const { values } = parseCommand("agent", argv, {
    mtlscacert: { type: "string" },
    mtlscert: { type: "string" },
    mtlskey: { type: "string" },
    sslcacert: { type: "string" },
    sslcert: { type: "string" },
    sslkey: { type: "string" },
    data: { type: "string" },
    "job-image": { type: "string" },
    "log-level": { type: "string" },
  });
  if (values.help) return out.help(usage);
  const level = values["log-level"] ?? "info";
  if (!(logLevels as readonly string[]).includes(level)) throw new CliError("usage", `--log-level must be one of ${logLevels.join(", ")}.`);
  const flags: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(values)) if (typeof value === "string") flags[name] = value;
  let agent: EdgeAgent;
  const log = streamLogger(process.stderr, level as LogLevel);
  try {
    agent = new EdgeAgent(loadAgentConfig({ flags, env: process.env }), log, process.env);
  } catch (error) {
    if (error instanceof AgentError) throw new CliError("input", error.message, { cause: error });
    throw error;
  }
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  await agent.run(controller.signal);
  return exitCodes.ok;
}
