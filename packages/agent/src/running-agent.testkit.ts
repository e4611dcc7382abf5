import { join } from "node:path";
import { encodeEdgeKey } from "@pier/protocol";
import { loadAgentConfig } from "./config.ts";
import { type RecordingLogger, recordingLogger } from "./docker/recording-logger.testkit.ts";
import { EdgeAgent } from "./edge-agent.ts";

/** An agent running in a test; dispose it to stop it and wait for its loop to end. */
export interface RunningTestAgent extends AsyncDisposable {
  readonly log: RecordingLogger;
  readonly dataDir: string;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Runs an agent with `EDGE_ID=edge-id-1` in `dataDir` (no Docker: `DOCKER_HOST` names a socket
 * that does not exist) and an EDGE_KEY for the server at `address` pinning `fingerprint`; `env`
 * adds to or overrides its environment (`EDGE_KEY`, `PIER_EDGE_MODE`). The caller removes `dataDir`.
 *
 * @example
 * await using agent = runTestAgent({ dataDir, address: "127.0.0.1:9443", fingerprint, environmentId: 3 });
 */
export function runTestAgent(options: {
  readonly dataDir: string;
  readonly address: string;
  readonly fingerprint: string;
  /** The environment id in the EDGE_KEY (0: not known yet). */
  readonly environmentId: number;
  readonly env?: Record<string, string>;
}): RunningTestAgent {
  const { dataDir, address } = options;
  const edgeKey = encodeEdgeKey({ apiUrl: `https://${address}`, tunnelAddress: address, serverFingerprint: options.fingerprint, environmentId: options.environmentId });
  const env = { EDGE_ID: "edge-id-1", DOCKER_HOST: `unix://${join(dataDir, "no-docker.sock")}`, EDGE_KEY: edgeKey, ...options.env };
  const log = recordingLogger();
  const agent = new EdgeAgent(loadAgentConfig({ flags: { data: dataDir }, env }), log, env);
  const controller = new AbortController();
  const running = agent.run(controller.signal);
  return {
    log,
    dataDir,
    async [Symbol.asyncDispose]() {
      controller.abort();
      await running;
    },
  };
}
