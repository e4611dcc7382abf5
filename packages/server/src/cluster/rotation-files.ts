import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "@pier/pki";
import type { ClusterEvents } from "./cluster-events.ts";
import type { ClusterFiles } from "./cluster-files.ts";
import { type ClusterStore, maxSessionOwnerIds } from "../store/cluster-store.ts";

/** The files of a CA directory the replicas share (its `issued/` records stay each replica's own). */
const caFiles = ["ca.crt", "ca.key", "ca-state.json"] as const;

/** What `CaRotation` needs on replicas (its `shareNext`, `onChange` and `fetchNext` options). */
export interface ReplicatedRotation {
  readonly onChange: (change: "start" | "rollback" | "finish") => Promise<void>;
  readonly shareNext: () => Promise<void>;
  readonly fetchNext: () => Promise<void>;
}

/**
 * Shares the built-in CA's rotation between replicas (docs/architecture.md "Scale-out"): a start
 * stores `DATA/ca-next/` in the cluster files (sealed) before its phase is written; a finish stores the surviving CA as
 * `ca/` (what a replica starting later takes) and deletes `ca-next/`; each then announces
 * `rotation_changed`, on which the other replicas run `CaRotation.follow`. `fetchNext` writes the
 * stored `ca-next/` to this replica's `--data` (0600 files, 0700 directories), keeping the local
 * `ca-state.json` once it has one for the same CA, as the bootstrap does for `ca/`.
 *
 * @example
 * const shared = replicatedRotation(cluster.files, cluster.events, config.dataDir);
 * const rotation = await CaRotation.open({ ...options, ...shared });
 */
export function replicatedRotation(files: ClusterFiles, events: Pick<ClusterEvents, "publish">, dataDir: string): ReplicatedRotation {
  const local = (dir: string, name: string) => readFileSync(join(dataDir, dir, name));
  return {
    shareNext: () => files.write(caFiles.map((name) => ({ name: `ca-next/${name}`, content: local("ca-next", name) }))),
    onChange: async (change) => {
      if (change === "finish") {
        await files.write(caFiles.map((name) => ({ name: `ca/${name}`, content: local("ca", name) })));
        // Nothing is left in DATA/ca-next/ after a finish: the stored copy goes too.
        await files.publish("ca-next/");
      }
      await events.publish({ type: "rotation_changed" });
    },
    fetchNext: async () => {
      const dir = join(dataDir, "ca-next");
      const certificate = await files.read("ca-next/ca.crt");
      if (certificate === null) return;
      const sameCa = readOr(join(dir, "ca.crt"))?.equals(certificate) === true;
      mkdirSync(join(dir, "issued"), { recursive: true, mode: 0o700 });
      for (const name of caFiles) {
        if (name === "ca-state.json" && sameCa && readOr(join(dir, name)) !== undefined) continue;
        const content = name === "ca.crt" ? certificate : await files.read(`ca-next/${name}`);
        if (content !== null && readOr(join(dir, name))?.equals(content) !== true) writeFileAtomic(join(dir, name), content, 0o600);
      }
    },
  };
}

function readOr(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Which of `environmentIds` hold a session on some replica (`edge_sessions`), read
 * `maxSessionOwnerIds` at a time: the rotation's progress and finish count devices online on any
 * replica (`CaRotationOptions.onlineAnywhere`).
 */
export async function onlineAnywhere(cluster: Pick<ClusterStore, "sessionOwners">, environmentIds: readonly number[]): Promise<ReadonlySet<number>> {
  const online = new Set<number>();
  for (let start = 0; start < environmentIds.length; start += maxSessionOwnerIds) {
    for (const owner of await cluster.sessionOwners(environmentIds.slice(start, start + maxSessionOwnerIds))) online.add(owner.environmentId);
  }
  return online;
}
