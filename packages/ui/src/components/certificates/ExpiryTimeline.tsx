import { BarChart } from "@mantine/charts";
import { Paper, Text, Title } from "@mantine/core";
import { daysUntil } from "../../format.ts";

/** One bar: a certificate and the days it has left. */
export interface ExpiryEntry {
  key: string;
  label: string;
  notAfter: string;
}

function colorOf(days: number): string {
  if (days < 30) return "red.6";
  if (days < 90) return "yellow.6";
  return "teal.6";
}

/** Days until expiry per certificate, soonest first; red under 30 days (when Pier re-issues), yellow under 90. */
export function ExpiryTimeline({ entries }: { entries: ExpiryEntry[] }) {
  const data = entries
    .map((entry) => ({ days: daysUntil(entry.notAfter), label: entry.label }))
    .sort((a, b) => a.days - b.days)
    .map(({ days, label }) => ({ certificate: `${label} (${days} d)`, days }));
  return (
    <Paper withBorder radius="md" p="lg">
      <Title order={3}>Expiry timeline</Title>
      <Text size="sm" c="dimmed" mb="md">
        Days until each certificate expires; the red line marks 30 days, when Pier re-issues its own server certificate.
      </Text>
      {data.length === 0 ? (
        <Text c="dimmed" size="sm">
          No certificate to show.
        </Text>
      ) : (
        <BarChart
          h={Math.max(160, data.length * 34 + 50)}
          data={data}
          dataKey="certificate"
          orientation="vertical"
          series={[{ name: "days", label: "Days until expiry", color: "teal.6" }]}
          getBarColor={(value) => colorOf(value)}
          yAxisProps={{ width: 300 }}
          xAxisLabel="days until expiry"
          valueFormatter={(value) => `${value} days`}
          gridAxis="x"
          maxBarWidth={22}
          referenceLines={[{ x: 30, color: "red.4" }]}
          aria-label="Days until expiry per certificate"
        />
      )}
    </Paper>
  );
}
