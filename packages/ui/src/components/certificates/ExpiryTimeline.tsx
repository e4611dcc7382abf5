import { Box, Paper, Stack, Text, Title, Tooltip } from "@mantine/core";
import { useTranslation } from "react-i18next";
import type { ExpiryCounts } from "../../api/types.ts";
import { formatDateTime, formatNumber } from "../../format.ts";
import { type BucketContent, type ExpiryBucket, type NamedExpiry, fillBuckets, formatTimeLeft } from "./expiry-buckets.ts";

const colors: Record<ExpiryBucket, string> = { Expired: "red", Hour: "orange", Day: "orange", Week: "yellow", Month: "teal", Later: "teal" };

function Bucket({ content, now }: { content: BucketContent; now: number }) {
  const { t } = useTranslation("pki");
  const color = content.count === 0 ? "gray" : colors[content.key];
  const count = formatNumber(content.count);
  return (
    <Paper withBorder radius="md" p="sm" role="listitem" aria-label={t("expiry.bucketLabel", { label: content.label, number: count })} style={{ borderTop: `3px solid var(--mantine-color-${color}-5)` }}>
      <Text size="xs" c="dimmed" fw={600} tt="uppercase">
        {content.label}
      </Text>
      <Text fw={700} size="xl" c={content.count === 0 ? "dimmed" : `${color}.7`}>
        {count}
      </Text>
      <Stack gap={2} mt={4}>
        {content.named.map((entry) => (
          <Tooltip key={entry.key} label={t("expiry.namedTooltip", { label: entry.label, date: formatDateTime(entry.notAfter) })} multiline maw={360}>
            <Text size="xs" truncate="end">
              {t("expiry.namedLeft", { label: entry.label, left: formatTimeLeft(entry.notAfter, now) })}
            </Text>
          </Tooltip>
        ))}
      </Stack>
    </Paper>
  );
}

/**
 * How long certificates have left, in windows that keep short-lived ones legible (< 1 hour,
 * < 1 day, < 7 days, < 30 days, later) with "now" marked between the expired and the rest:
 * counts of device certificates in use from the server, the CA and listeners' certificates by name.
 */
export function ExpiryTimeline({ counts, named, now = Date.now() }: { counts: ExpiryCounts | undefined; named: NamedExpiry[]; now?: number }) {
  const { t } = useTranslation("pki");
  const [expired, ...future] = fillBuckets(counts, named, now);
  return (
    <Paper withBorder radius="md" p="lg">
      <Title order={2} size="h3">{t("expiry.title")}</Title>
      <Text size="sm" c="dimmed" mb="md">
        {t("expiry.description")}
      </Text>
      <Box role="list" aria-label={t("expiry.listLabel")} style={{ display: "grid", gridTemplateColumns: "1fr auto repeat(5, 1fr)", gap: "var(--mantine-spacing-xs)", alignItems: "stretch" }}>
        {expired && <Bucket content={expired} now={now} />}
        <Stack gap={2} align="center" aria-hidden>
          <Text size="xs" fw={700} c="blue">
            {t("expiry.now")}
          </Text>
          <Box style={{ flex: 1, width: 2, background: "var(--mantine-color-blue-6)" }} />
        </Stack>
        {future.map((content) => (
          <Bucket key={content.key} content={content} now={now} />
        ))}
      </Box>
      <Text size="xs" c="dimmed" mt={6} role="note" aria-label={t("expiry.now")}>
        {t("expiry.nowAt", { date: formatDateTime(now) })}
      </Text>
    </Paper>
  );
}
