import { Registry, collectDefaultMetrics } from "prom-client";
import { registerScrapeGauges, type ScrapeSources } from "./scrape-gauges.ts";
import { ServerMetrics } from "./server-metrics.ts";

/** One server's metrics: the counters its parts report into, and the text a scrape answers. */
export interface MetricsRegistry {
  /** Where the server's parts count what happens. */
  readonly counts: ServerMetrics;
  /** The exposition's content type (Prometheus text format 0.0.4). */
  readonly contentType: string;
  /** Every metric, this process's first, in Prometheus text format. */
  render(): Promise<string>;
}

// Node's process metrics (CPU, memory, event loop delay, GC) are the process's, not a server's:
// registered once, so a process starting several servers (the tests) enables one event-loop
// monitor and one GC observer, not one per server, each kept forever.
let processRegistry: Registry | undefined;

function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/**
 * The metrics of one server (docs/architecture.md "Metrics"): `pier_*` counters and gauges, and
 * Node's default process metrics.
 *
 * @example
 * const metrics = createMetricsRegistry({ agentsConnected: () => edge.heldSessions().length, … });
 * metrics.counts.checkIn();
 * const text = await metrics.render();
 */
export function createMetricsRegistry(sources: ScrapeSources): MetricsRegistry {
  const registry = new Registry();
  const counts = new ServerMetrics(registry);
  registerScrapeGauges(registry, sources);
  const process = processMetrics();
  return {
    counts,
    contentType: registry.contentType,
    async render() {
      const [own, pier] = await Promise.all([process.metrics(), registry.metrics()]);
      return `${own}\n${pier}`;
    },
  };
}
