import { Anchor, Button, Code, Paper, Table, Text } from "@mantine/core";
import { IconPlus } from "@tabler/icons-react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import { edgeJobsApi } from "../../api/fleet.ts";
import { EmptyTableRow } from "../../components/EmptyTableRow.tsx";
import { LoadError } from "../../components/LoadError.tsx";
import { PageHeader } from "../../components/PageHeader.tsx";
import { PageLoader } from "../../components/PageLoader.tsx";
import { TableHead } from "../../components/TableHead.tsx";
import { formatRunUtc, previewCron } from "../../fleet/cron-preview.ts";
import { formatDateTime } from "../../format.ts";
import { namesById, useEdgeGroups } from "../../hooks/use-fleet-lists.ts";
import { usePageTitle } from "../../hooks/use-page-title.ts";
import { usePolling } from "../../hooks/use-polling.ts";
import { useCan } from "../../hooks/use-current-user.ts";

/** `/edge-jobs`: every edge job with its schedule, next run and targets. */
export function EdgeJobsScreen() {
  const { t } = useTranslation("fleet");
  usePageTitle(t("edgeJobs.title"));
  // Helpdesk reads; creating needs Operator (the server refuses it otherwise).
  const canOperate = useCan("operate");
  const jobs = usePolling((signal) => edgeJobsApi.list({ signal }), 10_000, "edge-jobs");
  const groups = useEdgeGroups(30_000);
  const groupNames = namesById(groups.data, (group) => group.Id, (group) => group.Name);

  return (
    <>
      <PageHeader
        title={t("edgeJobs.title")}
        description={t("edgeJobs.description")}
        actions={
          canOperate && (
            <Button component={Link} to="/edge-jobs/new" leftSection={<IconPlus size={16} />}>
              {t("edgeJobs.add")}
            </Button>
          )
        }
      />
      <LoadError message={jobs.error} />
      {!jobs.data ? (
        jobs.error ? null : <PageLoader />
      ) : (
        <Paper withBorder radius="md">
          <Table striped highlightOnHover verticalSpacing="sm" aria-label={t("edgeJobs.title")}>
            <TableHead columns={[t("columns.name"), t("columns.schedule"), t("columns.nextRun"), t("columns.targets"), t("columns.created")]} />
            <Table.Tbody>
              {jobs.data.map((job) => {
                const next = previewCron(job.CronExpression, { count: 1 });
                const groupList = job.EdgeGroups.map((id) => groupNames.get(id) ?? t("values.group", { id })).join(t("values.listSeparator"));
                const environments = Object.keys(job.Endpoints ?? {}).length;
                return (
                  <Table.Tr key={job.Id}>
                    <Table.Td>
                      <Anchor component={Link} to={`/edge-jobs/${job.Id}`} fw={500}>
                        {job.Name}
                      </Anchor>
                    </Table.Td>
                    <Table.Td>
                      <Code>{job.CronExpression}</Code> {job.Recurring ? "" : <Text span size="xs" c="dimmed">{t("edgeJobs.once")}</Text>}
                    </Table.Td>
                    <Table.Td>
                      <Text size="sm">{next.ok && next.runs[0] ? formatRunUtc(next.runs[0]) : "—"}</Text>
                    </Table.Td>
                    <Table.Td>
                      <Text size="sm">{[groupList && t("edgeJobs.targetGroups", { groups: groupList }), environments > 0 && t("edgeJobs.targetEnvironments", { count: environments })].filter(Boolean).join(" · ") || "—"}</Text>
                    </Table.Td>
                    <Table.Td>{job.Created ? formatDateTime(job.Created * 1000) : "—"}</Table.Td>
                  </Table.Tr>
                );
              })}
              {jobs.data.length === 0 && <EmptyTableRow columns={5}>{t("edgeJobs.empty")}</EmptyTableRow>}
            </Table.Tbody>
          </Table>
        </Paper>
      )}
    </>
  );
}
