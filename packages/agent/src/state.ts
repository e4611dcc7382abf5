import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "@pier/pki";
import { AgentError } from "./errors.ts";

/** What the agent remembers between restarts (DATA/agent.json, mode 0600). */
export interface AgentState {
  /** The EDGE_ID this state belongs to; another EDGE_ID starts fresh. */
  readonly edgeId: string;
  /** The environment the server made this device, once welcomed. */
  readonly environmentId?: number;
  /** Binding secret from the server when the agent has no client certificate. */
  readonly deviceToken?: string;
}

/** Reads and writes the agent's state file. */
export class StateFile {
  readonly path: string;

  constructor(dataDir: string) {
    this.path = join(dataDir, "agent.json");
    try {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new AgentError("config_invalid", `Cannot create the data directory ${dataDir} (--data): ${(error as Error).message}.`, { cause: error });
    }
  }

  /** The saved state for this EDGE_ID, or a fresh one. */
  load(edgeId: string): AgentState {
    if (!existsSync(this.path)) return { edgeId };
    try {
      const saved = JSON.parse(readFileSync(this.path, "utf8")) as AgentState;
      return saved.edgeId === edgeId ? saved : { edgeId };
    } catch (error) {
      throw new AgentError("state_invalid", `${this.path} is damaged (${(error as Error).message}); remove it and the device will enrol again (the administrator must remove the old entry).`, { cause: error });
    }
  }

  save(state: AgentState): void {
    writeFileAtomic(this.path, `${JSON.stringify(state, null, 2)}\n`, 0o600);
  }
}
