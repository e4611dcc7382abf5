import { Alert, Badge, Button, Code, Group, List, Modal, MultiSelect, Paper, ScrollArea, Switch, Table, Text, TextInput } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { useNavigate, useParams } from "react-router";
import { messageOf } from "../../api/client.ts";
import { edgeJobsApi } from "../../api/fleet.ts";
import type { EdgeJob, EdgeJobBody, EdgeJobTask } from "../../api/fleet-types.ts";
import { ConfirmDialog, type ConfirmRequest } from "../../components/ConfirmDialog.tsx";
import { deletionRequest } from "../../components/fleet/delete-request.ts";
import { EmptyTableRow } from "../../components/EmptyTableRow.tsx";
import { CodeEditor } from "../../components/fleet/CodeEditor.tsx";
import { EnvironmentPicker } from "../../components/fleet/EnvironmentPicker.tsx";
import { EnvironmentLink } from "../../components/fleet/EnvironmentLink.tsx";
import { DeleteButton, ItemHeader, NotSavedAlert, ReadOnlyNotice } from "../../components/fleet/ItemHeader.tsx";
import { useCan } from "../../hooks/use-current-user.ts";
import { DetailSection } from "../../components/fleet/DetailSection.tsx";
import { LoadError } from "../../components/LoadError.tsx";
import { PageLoader } from "../../components/PageLoader.tsx";
import { TableHead } from "../../components/TableHead.tsx";
import { formatRunUtc, maxCronLength, previewCron } from "../../fleet/cron-preview.ts";
import { logFileName, logsStatusName, runOutcome, waitingForLogs } from "../../fleet/job-results.ts";
import { formatDateTime } from "../../format.ts";
import { environmentName, useEnvironmentNames } from "../../hooks/use-environment-names.ts";
import { useEdgeGroups } from "../../hooks/use-fleet-lists.ts";
import { useFormSave } from "../../hooks/use-form-save.ts";
import { usePageTitle } from "../../hooks/use-page-title.ts";
import { usePolling } from "../../hooks/use-polling.ts";

/** The server's bound on a script (`fleetLimits.jobScriptBytes` in @pier/protocol). */
const jobScriptBytes = 64 * 1024;

/** `/edge-jobs/new` and `/edge-jobs/:id`: the job's schedule, targets and script, and each device's last run and logs. */
export function EdgeJobScreen() {
  const { t } = useTranslation("fleet");
  const { id } = useParams();
  if (id === undefined) return <EdgeJobForm key="new" />;
  const jobId = Number(id);
  if (!Number.isInteger(jobId) || jobId <= 0) return <Alert color="red">{t("edgeJob.notFound")}</Alert>;
  return <ExistingJob key={jobId} id={jobId} />;
}

function ExistingJob({ id }: { id: number }) {
  const job = usePolling((signal) => edgeJobsApi.get(id, { signal }), 0, String(id));
  const file = usePolling((signal) => edgeJobsApi.file(id, { signal }), 0, `${id}:${job.data?.Version ?? 0}`, { keepDataOnKeyChange: true });
  if (!job.data || file.data === undefined) return job.error || file.error ? <LoadError message={job.error ?? file.error} /> : <PageLoader />;
  return (
    <>
      <EdgeJobForm job={job.data} script={file.data} onSaved={job.refresh} />
      <JobResults job={job.data} />
    </>
  );
}

function EdgeJobForm({ job, script, onSaved }: { job?: EdgeJob; script?: string; onSaved?: () => Promise<void> }) {
  const { t } = useTranslation("fleet");
  const canOperate = useCan("operate");
  usePageTitle(job ? t("edgeJob.pageTitle", { name: job.Name }) : t("edgeJob.new"));
  const navigate = useNavigate();
  const groups = useEdgeGroups();
  const names = useEnvironmentNames();
  const [form, setForm] = useState<EdgeJobBody>(
    job
      ? { name: job.Name, cronExpression: job.CronExpression, recurring: job.Recurring, edgeGroups: job.EdgeGroups, endpoints: Object.keys(job.Endpoints ?? {}).map(Number), fileContent: script ?? "" }
      : { name: "", cronExpression: "0 3 * * *", recurring: true, edgeGroups: [], endpoints: [], fileContent: `#!/bin/sh\n# ${t("edgeJob.starterComment")}\ndf -h /host\n` },
  );
  const save = useFormSave();
  const [pending, setPending] = useState<ConfirmRequest>();
  const update = (change: Partial<EdgeJobBody>) => setForm((current) => ({ ...current, ...change }));
  const preview = previewCron(form.cronExpression, { recurring: form.recurring, count: 5 });
  const { fieldError } = save;
  // The server's refusal of each request field, for that field's input.
  const refused = { name: fieldError("name"), cronExpression: fieldError("cronExpression"), edgeGroups: fieldError("edgeGroups") };

  async function saveJob() {
    const body = { ...form, name: form.name.trim(), cronExpression: form.cronExpression.trim() };
    if (job) {
      await edgeJobsApi.update(job.Id, body);
      notifications.show({ color: "green", message: t("edgeJob.saved", { name: body.name }) });
      await onSaved?.();
    } else {
      const created = await edgeJobsApi.create(body);
      notifications.show({ color: "green", message: t("edgeJob.created", { name: created.Name }) });
      await navigate(`/edge-jobs/${created.Id}`, { replace: true });
    }
  }

  return (
    <>
      <ItemHeader
        title={job ? job.Name : t("edgeJob.new")}
        list={{ path: "/edge-jobs", title: t("edgeJobs.title") }}
        actions={job && <DeleteButton onClick={() => setPending(deletionRequest({ kind: "edgeJob", name: job.Name, remove: () => edgeJobsApi.remove(job.Id), listPath: "/edge-jobs", navigate, onError: (message) => save.setError({ message }), messageOf }))} />}
      />
      <ReadOnlyNotice />
      <NotSavedAlert error={save.error} />
      <Paper withBorder radius="md" p="lg" mb="lg" component="form" aria-label={t("edgeJob.formLabel")} onSubmit={(event) => { event.preventDefault(); void save.run(saveJob); }}>
        <TextInput label={t("fields.name")} required maxLength={128} value={form.name} onChange={(event) => update({ name: event.currentTarget.value })} error={refused.name} w={420} mb="md" />
        <Group align="flex-start" mb="md" gap="xl">
          <TextInput
            label={t("edgeJob.cron")}
            description={t("edgeJob.cronDescription")}
            required
            styles={{ input: { fontFamily: "var(--mantine-font-family-monospace)" } }}
            maxLength={maxCronLength}
            value={form.cronExpression}
            onChange={(event) => update({ cronExpression: event.currentTarget.value })}
            error={refused.cronExpression ?? (preview.ok ? undefined : preview.error)}
            w={300}
          />
          <div aria-live="polite">
            <Text size="sm" fw={500}>
              {form.recurring ? t("edgeJob.nextRuns") : t("edgeJob.runsOnce")}
            </Text>
            {preview.ok ? (
              <List size="sm" aria-label={t("edgeJob.nextRuns")}>
                {preview.runs.map((run) => (
                  <List.Item key={run.getTime()}>{formatRunUtc(run)}</List.Item>
                ))}
              </List>
            ) : (
              <Text size="sm" c="dimmed">
                —
              </Text>
            )}
          </div>
        </Group>
        <Switch label={t("edgeJob.recurring")} description={t("edgeJob.recurringDescription")} checked={form.recurring} onChange={(event) => update({ recurring: event.currentTarget.checked })} mb="md" />
        <MultiSelect label={t("fields.edgeGroups")} data={(groups.data ?? []).map((group) => ({ value: String(group.Id), label: group.Name }))} value={form.edgeGroups.map(String)} onChange={(values) => update({ edgeGroups: values.map(Number) })} searchable w={420} mb="md" error={refused.edgeGroups} />
        <EnvironmentPicker label={t("fields.environments")} selected={form.endpoints} onChange={(endpoints) => update({ endpoints })} names={names.data} />
        <CodeEditor label={t("edgeJob.script")} description={t("edgeJob.scriptDescription")} value={form.fileContent} onChange={(fileContent) => update({ fileContent })} error={save.error?.field === "fileContent" ? { message: save.error.message } : undefined} maxBytes={jobScriptBytes} rows={12} />
        <Button type="submit" loading={save.busy} disabled={!canOperate || form.name.trim() === "" || !preview.ok}>
          {job ? t("edgeJob.save") : t("edgeJob.create")}
        </Button>
      </Paper>
      <ConfirmDialog request={pending} onClose={() => setPending(undefined)} />
    </>
  );
}

function JobResults({ job }: { job: EdgeJob }) {
  const { t } = useTranslation("fleet");
  // Asking a device for logs is reading them (helpdesk may); clearing them is not.
  const canOperate = useCan("operate");
  const names = useEnvironmentNames(30_000);
  const [fast, setFast] = useState(false);
  const tasks = usePolling((signal) => edgeJobsApi.tasks(job.Id, { signal }), fast ? 3000 : 10_000, `${job.Id}:${fast}`, { keepDataOnKeyChange: true });
  const [shown, setShown] = useState<{ task: EdgeJobTask; name: string; text: string }>();
  const [error, setError] = useState<string>();
  const waiting = waitingForLogs(tasks.data);
  if (waiting !== fast) setFast(waiting);

  async function act(action: () => Promise<unknown>) {
    setError(undefined);
    try {
      await action();
      await tasks.refresh();
    } catch (failure) {
      setError(messageOf(failure));
    }
  }

  function download(name: string, text: string) {
    const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = logFileName(job.Name, name);
    link.click();
    URL.revokeObjectURL(url);
  }

  const rows = tasks.data ?? [];
  return (
    <DetailSection id="job-results" title={t("edgeJob.results")}>
      <LoadError message={error ?? tasks.error} />
      <Table verticalSpacing="sm" aria-label={t("edgeJob.resultsLabel")}>
        <TableHead columns={[t("columns.environment"), t("columns.lastRun"), t("columns.outcome"), t("columns.error"), t("columns.logs")]} />
        <Table.Tbody>
          {rows.map((task) => {
            const name = task.EndpointName ?? environmentName(names.data, task.EndpointId);
            const outcome = runOutcome(task.Pier?.LastRun);
            return (
              <Table.Tr key={task.Id}>
                <Table.Td>
                  <EnvironmentLink id={task.EndpointId} name={name} />
                </Table.Td>
                <Table.Td>
                  <Text size="sm">
                    {outcome.startedAt ? formatDateTime(outcome.startedAt) : "—"}
                    {outcome.seconds !== undefined && ` ${t("edgeJob.duration", { seconds: outcome.seconds })}`}
                  </Text>
                </Table.Td>
                <Table.Td>
                  <Badge color={outcome.color} variant="light" tt="none">
                    {outcome.label}
                  </Badge>
                </Table.Td>
                <Table.Td>
                  <Text size="sm" c="red" style={{ whiteSpace: "pre-wrap", wordBreak: "break-word" }}>
                    {task.Pier?.LastRun?.Error ?? ""}
                  </Text>
                </Table.Td>
                <Table.Td>
                  <Text size="xs" c="dimmed" mb={4}>
                    {logsStatusName(task.LogsStatus)}
                  </Text>
                  <Group gap={6}>
                    {task.LogsStatus !== 2 && (
                      <Button size="compact-xs" variant="light" onClick={() => void act(() => edgeJobsApi.requestLogs(job.Id, task.Id))} aria-label={t("edgeJob.requestLogsLabel", { name })}>
                        {t("edgeJob.requestLogs")}
                      </Button>
                    )}
                    {task.LogsStatus === 3 && (
                      <>
                        <Button size="compact-xs" variant="light" aria-label={t("edgeJob.showLabel", { name })} onClick={() => void act(async () => setShown({ task, name, text: await edgeJobsApi.logs(job.Id, task.Id) }))}>
                          {t("edgeJob.show")}
                        </Button>
                        <Button size="compact-xs" variant="light" aria-label={t("edgeJob.downloadLabel", { name })} onClick={() => void act(async () => download(name, await edgeJobsApi.logs(job.Id, task.Id)))}>
                          {t("edgeJob.download")}
                        </Button>
                        {canOperate && (
                          <Button size="compact-xs" variant="subtle" color="red" aria-label={t("edgeJob.clearLabel", { name })} onClick={() => void act(() => edgeJobsApi.clearLogs(job.Id, task.Id))}>
                            {t("edgeJob.clear")}
                          </Button>
                        )}
                      </>
                    )}
                  </Group>
                </Table.Td>
              </Table.Tr>
            );
          })}
          {rows.length === 0 && <EmptyTableRow columns={5}>{tasks.data ? t("edgeJob.noTargets") : t("edgeJob.loading")}</EmptyTableRow>}
        </Table.Tbody>
      </Table>
      <Modal opened={shown !== undefined} onClose={() => setShown(undefined)} title={shown ? t("edgeJob.logsTitle", { job: job.Name, environment: shown.name }) : ""} size="xl">
        <ScrollArea.Autosize mah={500}>
          <Code block>{shown?.text === "" ? t("edgeJob.noOutput") : shown?.text}</Code>
        </ScrollArea.Autosize>
        <Group justify="flex-end" mt="md">
          <Button variant="light" onClick={() => shown && download(shown.name, shown.text)}>
            {t("edgeJob.download")}
          </Button>
        </Group>
      </Modal>
    </DetailSection>
  );
}
