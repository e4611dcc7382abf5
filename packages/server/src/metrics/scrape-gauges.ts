import { Gauge, type Registry } from "prom-client";

/** A certificate whose expiry is exported, by kind (`server`, `mtls`, `device_ca`). */
export interface WatchedCertificate {
  readonly kind: string;
  readonly notAfter: Date;
}

/** Device certificates in use by time left, in the inventory's windows (expired, < 1 h, < 1 d, < 7 d, < 30 d, later). */
export interface DeviceExpiryWindows {
  readonly expired: number;
  readonly hour: number;
  readonly day: number;
  readonly week: number;
  readonly month: number;
  readonly later: number;
}

/** What the gauges read at scrape, from what the server already holds. */
export interface ScrapeSources {
  /** Agent sessions this replica holds. */
  readonly agentsConnected: () => number;
  /** Devices in the waiting room (one counting query). */
  readonly waitingRoom: () => Promise<number>;
  /** The server's own certificates and the device CAs. */
  readonly certificates: () => readonly WatchedCertificate[];
  /** Device certificates by expiry window (one aggregate query). */
  readonly deviceExpiry: () => Promise<DeviceExpiryWindows>;
  readonly now?: () => number;
}

/**
 * How long a store-backed gauge's value is reused: several Prometheus servers (or a scrape every
 * second) cost one query per period, and a waiting room or expiry window moves slower than that.
 */
export const storeGaugeCacheMs = 10_000;

/** `read`, called at most once per `ms`; a failed read is not kept. */
function cachedFor<T>(ms: number, now: () => number, read: () => Promise<T>): () => Promise<T> {
  let kept: { at: number; value: Promise<T> } | undefined;
  return () => {
    if (kept && now() - kept.at < ms) return kept.value;
    const value = read();
    const entry = { at: now(), value };
    kept = entry;
    value.catch(() => {
      if (kept === entry) kept = undefined;
    });
    return value;
  };
}

const windows: readonly (keyof DeviceExpiryWindows)[] = ["expired", "hour", "day", "week", "month", "later"];

/**
 * Registers the gauges computed at scrape: `pier_agents_connected`, `pier_waiting_room_devices`,
 * `pier_certificate_expiry_seconds{certificate}` and `pier_device_certificates{expires}`.
 *
 * @example
 * registerScrapeGauges(registry, { agentsConnected: () => edge.heldSessions().length, … });
 */
export function registerScrapeGauges(registry: Registry, sources: ScrapeSources): void {
  const registers = [registry];
  const now = sources.now ?? Date.now;
  const waitingRoom = cachedFor(storeGaugeCacheMs, now, sources.waitingRoom);
  const deviceExpiry = cachedFor(storeGaugeCacheMs, now, sources.deviceExpiry);
  new Gauge({
    name: "pier_agents_connected",
    help: "Agent sessions (HTTP/2 edge sessions) this replica holds now.",
    registers,
    collect() {
      this.set(sources.agentsConnected());
    },
  });
  new Gauge({
    name: "pier_waiting_room_devices",
    help: "Devices in the waiting room, across the cluster (read at most every 10 s).",
    registers,
    async collect() {
      this.set(await waitingRoom());
    },
  });
  new Gauge({
    name: "pier_certificate_expiry_seconds",
    help: "Seconds until the certificate expires (negative: expired), by certificate: server (HTTPS), mtls (the separate agent certificate), device_ca (each CA that device certificates are accepted from).",
    labelNames: ["certificate"],
    registers,
    collect() {
      this.reset();
      const at = now();
      // The earliest per kind: two device CAs during a rotation, the one that expires first matters.
      const earliest = new Map<string, number>();
      for (const { kind, notAfter } of sources.certificates()) {
        const left = (notAfter.getTime() - at) / 1000;
        earliest.set(kind, Math.min(left, earliest.get(kind) ?? Infinity));
      }
      for (const [certificate, seconds] of earliest) this.set({ certificate }, Math.round(seconds));
    },
  });
  new Gauge({
    name: "pier_device_certificates",
    help: "Device certificates in use (not revoked, not superseded) by time left: expired, hour (< 1 h), day (< 1 d), week (< 7 d), month (< 30 d), later (read at most every 10 s).",
    labelNames: ["expires"],
    registers,
    async collect() {
      const counts = await deviceExpiry();
      for (const expires of windows) this.set({ expires }, counts[expires]);
    },
  });
}
