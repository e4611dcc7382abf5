import { resolve } from "node:path";
import { caPaths } from "@pier/pki";
import type { Store } from "../store/index.ts";
import { type FileWatch, watchFiles } from "../tls/file-watcher.ts";
import { CrlPublisher, type PublishedCrl } from "./crl-publisher.ts";
import type { DeviceCa } from "./device-ca.ts";
import { DeviceRevocation, type RevocationFront } from "./device-revocation.ts";
import { RevocationRegistry } from "./revocations.ts";

/** What `startRevocation` needs from the server. */
export interface RevocationRuntimeOptions {
  readonly dataDir: string;
  readonly store: Store;
  readonly sessions: ConstructorParameters<typeof DeviceRevocation>[0]["sessions"];
  readonly tunnels: ConstructorParameters<typeof DeviceRevocation>[0]["tunnels"];
  /** The built-in flow's device CA; without one there is no CRL and no CA state to watch. */
  readonly deviceCa: DeviceCa | undefined;
  /** Called with the CRLs after every signing (for the tunnel listener's secure context). */
  readonly onCrls?: (crls: readonly PublishedCrl[]) => void;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
  /**
   * The registry to fill, when the server made it earlier (the edge service, built before the
   * sessions it closes exist, checks hellos against it); a new one without.
   */
  readonly registry?: RevocationRegistry;
  /** Tells the other replicas of each revocation made here (`DeviceRevocationOptions.announce`). */
  readonly announce?: ConstructorParameters<typeof DeviceRevocation>[0]["announce"];
}

/** The running revocation machinery of a server. */
export interface RevocationRuntime {
  /** The in-memory revoked set both TLS fronts check at every handshake. */
  readonly registry: RevocationRegistry;
  readonly revocation: DeviceRevocation;
  /** The built-in CA's CRLs; `undefined` without a built-in CA. */
  readonly crls: CrlPublisher | undefined;
  /** Hands over the fronts once they exist (connections to close, tickets to re-key). */
  attach(fronts: readonly RevocationFront[]): void;
  close(): void;
}

/**
 * Builds the revocation machinery (docs/identity.md, "Revocation"): the registry loaded from the
 * store and the CAs' state, the CRLs signed at start, daily and at each revocation, and a watch
 * on the device CAs' `ca-state.json`, so `pier ca revoke SERIAL --dir DATA/ca` reaches a
 * running server within a second.
 *
 * @example
 * const revocations = await startRevocation({ dataDir, store, sessions: edge, tunnels, deviceCa, log });
 * revocations.attach([httpsFront, tunnelFront]);
 */
export async function startRevocation(options: RevocationRuntimeOptions): Promise<RevocationRuntime> {
  const { deviceCa, log } = options;
  const registry = options.registry ?? new RevocationRegistry();
  const crls = deviceCa
    ? new CrlPublisher({ store: options.store, authorities: () => deviceCa, dataDir: options.dataDir, ...(options.onCrls ? { onPublished: options.onCrls } : {}), log })
    : undefined;
  const revocation = new DeviceRevocation({ store: options.store, registry, sessions: options.sessions, tunnels: options.tunnels, ...(crls ? { crls } : {}), ...(options.announce ? { announce: options.announce } : {}), log });
  const loaded = await revocation.load(deviceCa ? deviceCa.trusted : []);
  if (loaded > 0) log("info", `${loaded} revoked device certificate(s) refused at handshake`);
  await crls?.publish();
  crls?.start();

  let watch: FileWatch | undefined;
  const watchStates = () => {
    watch?.close();
    if (!deviceCa) return;
    const authorities = deviceCa.trusted;
    watch = watchFiles(
      authorities.map((ca) => caPaths(ca.dir).state),
      (changed) => {
        for (const ca of authorities) {
          if (!changed.includes(resolve(caPaths(ca.dir).state))) continue;
          revocation
            .applyCaRevocations(ca, "pier ca revoke")
            .then((serials) => {
              if (serials.length > 0) log("warn", `${caPaths(ca.dir).state} changed: certificate ${serials.join(", ")} revoked`);
            })
            .catch((error: unknown) => log("error", `could not apply the revocations of ${caPaths(ca.dir).state}: ${(error as Error).message}`));
        }
      },
      { onError: (error) => log("error", `watching the CA state: ${(error as Error).message}`) },
    );
  };
  watchStates();
  // A CA rotation changes which CAs are trusted: their CRLs and state files follow.
  const stopFollowing = deviceCa?.onChange(() => {
    watchStates();
    crls?.publish().catch((error: unknown) => log("error", `could not sign the device CRLs after a CA change: ${(error as Error).message}`));
  });

  return {
    registry,
    revocation,
    crls,
    attach: (fronts) => revocation.attach(fronts),
    close() {
      stopFollowing?.();
      watch?.close();
      crls?.stop();
    },
  };
}
