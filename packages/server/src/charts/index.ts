/** The agent's Helm chart, packaged and served by the server (docs/deploy.md "Kubernetes"). */
export { createChartRoute, chartsPath, type ChartResponse, type ChartRoute, type ChartRouteOptions } from "./chart-route.ts";
export { packageChart, maxChartBytes, type PackagedChart } from "./package-chart.ts";
