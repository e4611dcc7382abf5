/**
 * The agent's Helm chart as the server serves it (packages/server/src/charts): the name and
 * version of deploy/helm/pier-agent/Chart.yaml, which a server test keeps equal to these.
 */
export const agentChart = { name: "pier-agent", version: "0.1.0" } as const;

/** Where the server serves the packaged chart on its HTTPS listener, without credentials (`helm install pier-agent https://<server><path>`). */
export const agentChartPath = `/charts/${agentChart.name}-${agentChart.version}.tgz`;
