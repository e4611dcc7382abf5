/** Prometheus metrics of the server (docs/architecture.md "Metrics"). */
export { createMetricsRegistry, type MetricsRegistry } from "./metrics-registry.ts";
export { createMetricsRoute, metricsCredentials, metricsPath, type MetricsResponse, type MetricsRouteOptions } from "./metrics-route.ts";
export { ServerMetrics, type RefusalPlace } from "./server-metrics.ts";
export { registerScrapeGauges, storeGaugeCacheMs, type DeviceExpiryWindows, type ScrapeSources, type WatchedCertificate } from "./scrape-gauges.ts";
