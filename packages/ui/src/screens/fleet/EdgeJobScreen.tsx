import { Alert, Badge, Button, Code, Group, List, Modal, MultiSelect, Paper, ScrollArea, Switch, Table, Text, TextInput } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useState } from "react";
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
import { DeleteButton, ItemHeader, NotSavedAlert } from "../../components/fleet/ItemHeader.tsx";
import { DetailSection } from "../../components/fleet/DetailSection.tsx";
import { LoadError } from "../../components/LoadError.tsx";
import { PageLoader } from "../../components/PageLoader.tsx";
import { TableHead } from "../../components/TableHead.tsx";
import { formatRunUtc, maxCronLength, previewCron } from "../../fleet/cron-preview.ts";
import { logFileName, logsStatusNames, runOutcome, waitingForLogs } from "../../fleet/job-results.ts";
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
  const { id } = useParams();
  if (id === undefined) return <EdgeJobForm key="new" />;
  const jobId = Number(id);
  if (!Number.isInteger(jobId) || jobId <= 0) return <Alert color="red">There is no edge job at this address.</Alert>;
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
  usePageTitle(job ? `Edge job ${job.Name}` : "New edge job");
  const navigate = useNavigate();
  const groups = useEdgeGroups();
  const names = useEnvironmentNames();
  const [form, setForm] = useState<EdgeJobBody>(
    job
      ? { name: job.Name, cronExpression: job.CronExpression, recurring: job.Recurring, edgeGroups: job.EdgeGroups, endpoints: Object.keys(job.Endpoints ?? {}).map(Number), fileContent: script ?? "" }
      : { name: "", cronExpression: "0 3 * * *", recurring: true, edgeGroups: [], endpoints: [], fileContent: "#!/bin/sh\n# Runs on the device's host (mounted at /host), as root.\ndf -h /host\n" },
  );
  const save = useFormSave();
  const [pending, setPending] = useState<ConfirmRequest>();
  const update = (change: Partial<EdgeJobBody>) => setForm((current) => ({ ...current, ...change }));
  const preview = previewCron(form.cronExpression, { recurring: form.recurring, count: 5 });
  const { fieldError } = save;

  async function saveJob() {
    const body = { ...form, name: form.name.trim(), cronExpression: form.cronExpression.trim() };
    if (job) {
      await edgeJobsApi.update(job.Id, body);
      notifications.show({ color: "green", message: `Edge job ${body.name} saved.` });
      await onSaved?.();
    } else {
      const created = await edgeJobsApi.create(body);
      notifications.show({ color: "green", message: `Edge job ${created.Name} created.` });
      await navigate(`/edge-jobs/${created.Id}`, { replace: true });
    }
  }

  return (
    <>
      <ItemHeader
        title={job ? job.Name : "New edge job"}
        list={{ path: "/edge-jobs", title: "Edge jobs" }}
        actions={job && <DeleteButton onClick={() => setPending(deletionRequest({ what: "edge job", name: job.Name, message: "Its devices drop the schedule at their next desired state; collected logs are deleted.", confirmLabel: "Delete job", remove: () => edgeJobsApi.remove(job.Id), listPath: "/edge-jobs", navigate, onError: (message) => save.setError({ message }), messageOf }))} />}
      />
      <NotSavedAlert error={save.error} />
      <Paper withBorder radius="md" p="lg" mb="lg" component="form" aria-label="Edge job" onSubmit={(event) => { event.preventDefault(); void save.run(saveJob); }}>
        <TextInput label="Name" required maxLength={128} value={form.name} onChange={(event) => update({ name: event.currentTarget.value })} error={fieldError("name")} w={420} mb="md" />
        <Group align="flex-start" mb="md" gap="xl">
          <TextInput
            label="Cron expression (UTC)"
            description="minute hour day-of-month month day-of-week"
            required
            styles={{ input: { fontFamily: "var(--mantine-font-family-monospace)" } }}
            maxLength={maxCronLength}
            value={form.cronExpression}
            onChange={(event) => update({ cronExpression: event.currentTarget.value })}
            error={fieldError("cronExpression") ?? (preview.ok ? undefined : preview.error)}
            w={300}
          />
          <div aria-live="polite">
            <Text size="sm" fw={500}>
              {form.recurring ? "Next runs" : "Runs once, at"}
            </Text>
            {preview.ok ? (
              <List size="sm" aria-label="Next runs">
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
        <Switch label="Recurring" description="Off: the job runs once, the next time the expression matches." checked={form.recurring} onChange={(event) => update({ recurring: event.currentTarget.checked })} mb="md" />
        <MultiSelect label="Edge groups" data={(groups.data ?? []).map((group) => ({ value: String(group.Id), label: group.Name }))} value={form.edgeGroups.map(String)} onChange={(values) => update({ edgeGroups: values.map(Number) })} searchable w={420} mb="md" error={fieldError("edgeGroups")} />
        <EnvironmentPicker label="Environments" selected={form.endpoints} onChange={(endpoints) => update({ endpoints })} names={names.data} />
        <CodeEditor label="Script" description="Run with sh on the device's host, as root." value={form.fileContent} onChange={(fileContent) => update({ fileContent })} error={save.error?.field === "fileContent" ? { message: save.error.message } : undefined} maxBytes={jobScriptBytes} rows={12} />
        <Button type="submit" loading={save.busy} disabled={form.name.trim() === "" || !preview.ok}>
          {job ? "Save job" : "Create job"}
        </Button>
      </Paper>
      <ConfirmDialog request={pending} onClose={() => setPending(undefined)} />
    </>
  );
}

function JobResults({ job }: { job: EdgeJob }) {
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
    <DetailSection id="job-results" title="Results">
      <LoadError message={error ?? tasks.error} />
      <Table verticalSpacing="sm" aria-label="Job results">
        <TableHead columns={["Environment", "Last run", "Outcome", "Error", "Logs"]} />
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
                    {outcome.seconds !== undefined && ` (${outcome.seconds} s)`}
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
                    {logsStatusNames[task.LogsStatus] ?? `status ${task.LogsStatus}`}
                  </Text>
                  <Group gap={6}>
                    {task.LogsStatus !== 2 && (
                      <Button size="compact-xs" variant="light" onClick={() => void act(() => edgeJobsApi.requestLogs(job.Id, task.Id))} aria-label={`Request logs from ${name}`}>
                        Request logs
                      </Button>
                    )}
                    {task.LogsStatus === 3 && (
                      <>
                        <Button size="compact-xs" variant="light" aria-label={`Show logs of ${name}`} onClick={() => void act(async () => setShown({ task, name, text: await edgeJobsApi.logs(job.Id, task.Id) }))}>
                          Show
                        </Button>
                        <Button size="compact-xs" variant="light" aria-label={`Download logs of ${name}`} onClick={() => void act(async () => download(name, await edgeJobsApi.logs(job.Id, task.Id)))}>
                          Download
                        </Button>
                        <Button size="compact-xs" variant="subtle" color="red" aria-label={`Clear logs of ${name}`} onClick={() => void act(() => edgeJobsApi.clearLogs(job.Id, task.Id))}>
                          Clear
                        </Button>
                      </>
                    )}
                  </Group>
                </Table.Td>
              </Table.Tr>
            );
          })}
          {rows.length === 0 && <EmptyTableRow columns={5}>{tasks.data ? "No target environment: choose edge groups with associated members, or environments." : "Loading…"}</EmptyTableRow>}
        </Table.Tbody>
      </Table>
      <Modal opened={shown !== undefined} onClose={() => setShown(undefined)} title={shown ? `Logs of ${job.Name} on ${shown.name}` : ""} size="xl">
        <ScrollArea.Autosize mah={500}>
          <Code block>{shown?.text === "" ? "(no output)" : shown?.text}</Code>
        </ScrollArea.Autosize>
        <Group justify="flex-end" mt="md">
          <Button variant="light" onClick={() => shown && download(shown.name, shown.text)}>
            Download
          </Button>
        </Group>
      </Modal>
    </DetailSection>
  );
}
