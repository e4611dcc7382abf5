import { Alert, Badge, Button, Code, Group, MultiSelect, NumberInput, Paper, Table, Text, TextInput } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { useNavigate, useParams } from "react-router";
import { messageOf } from "../../api/client.ts";
import { agentUpdatesApi } from "../../api/fleet.ts";
import type { AgentUpdateSchedule } from "../../api/fleet-types.ts";
import { ConfirmDialog, type ConfirmRequest } from "../../components/ConfirmDialog.tsx";
import { deletionRequest } from "../../components/fleet/delete-request.ts";
import { EmptyTableRow } from "../../components/EmptyTableRow.tsx";
import { AgentUpdateCounts } from "../../components/fleet/AgentUpdateCounts.tsx";
import { DetailSection } from "../../components/fleet/DetailSection.tsx";
import { EnvironmentLink } from "../../components/fleet/EnvironmentLink.tsx";
import { DeleteButton, ItemHeader, NotSavedAlert, ReadOnlyNotice } from "../../components/fleet/ItemHeader.tsx";
import { useCan } from "../../hooks/use-current-user.ts";
import { LoadError } from "../../components/LoadError.tsx";
import { PageLoader } from "../../components/PageLoader.tsx";
import { TableHead } from "../../components/TableHead.tsx";
import { agentUpdateRows, agentUpdateStatusLabel, deadlineBounds } from "../../fleet/agent-update-status.ts";
import { formatDateTime } from "../../format.ts";
import { environmentName, useEnvironmentNames } from "../../hooks/use-environment-names.ts";
import { namesById, useEdgeGroups } from "../../hooks/use-fleet-lists.ts";
import { useFormSave } from "../../hooks/use-form-save.ts";
import { usePageTitle } from "../../hooks/use-page-title.ts";
import { usePolling } from "../../hooks/use-polling.ts";

const agentUpdatesPath = "/agent-updates";

/** `/agent-updates/new` and `/agent-updates/:id`: create a schedule, or follow one's devices. */
export function AgentUpdateScreen() {
  const { t } = useTranslation("fleet");
  const { id } = useParams();
  if (id === undefined) return <AgentUpdateForm />;
  const scheduleId = Number(id);
  if (!Number.isInteger(scheduleId) || scheduleId <= 0) return <Alert color="red">{t("agentUpdate.notFound")}</Alert>;
  return <ExistingSchedule key={scheduleId} id={scheduleId} />;
}

function AgentUpdateForm() {
  const { t } = useTranslation("fleet");
  const canOperate = useCan("operate");
  usePageTitle(t("agentUpdate.new"));
  const navigate = useNavigate();
  const groups = useEdgeGroups();
  const [name, setName] = useState("");
  const [agentImage, setAgentImage] = useState("");
  const [groupIds, setGroupIds] = useState<number[]>([]);
  const [deadline, setDeadline] = useState<number | string>(deadlineBounds.default);
  const save = useFormSave();
  const { fieldError } = save;
  // The server's refusal of each request field, for that field's input.
  const refused = { name: fieldError("name"), agentImage: fieldError("agentImage"), groupIDs: fieldError("groupIDs"), deadlineSeconds: fieldError("deadlineSeconds") };
  const deadlineSeconds = typeof deadline === "number" ? deadline : Number.NaN;
  const deadlineValid = Number.isInteger(deadlineSeconds) && deadlineSeconds >= deadlineBounds.min && deadlineSeconds <= deadlineBounds.max;
  const imageValid = agentImage.trim() !== "" && !/\s/.test(agentImage.trim());

  async function create() {
    const created = await agentUpdatesApi.create({ name: name.trim(), agentImage: agentImage.trim(), groupIDs: groupIds, deadlineSeconds, type: 1 });
    notifications.show({ color: "green", message: t("agentUpdate.created", { name: created.name }) });
    await navigate(`/agent-updates/${created.id}`, { replace: true });
  }

  return (
    <>
      <ItemHeader title={t("agentUpdate.new")} list={{ path: agentUpdatesPath, title: t("agentUpdates.title") }} />
      <ReadOnlyNotice />
      <NotSavedAlert error={save.error} />
      <Paper withBorder radius="md" p="lg" component="form" aria-label={t("agentUpdate.title")} onSubmit={(event) => { event.preventDefault(); void save.run(create); }}>
        <TextInput label={t("fields.name")} required maxLength={128} value={name} onChange={(event) => setName(event.currentTarget.value)} error={refused.name} w={420} mb="md" />
        <TextInput
          label={t("agentUpdate.image")}
          description={t("agentUpdate.imageDescription")}
          required
          maxLength={512}
          styles={{ input: { fontFamily: "var(--mantine-font-family-monospace)" } }}
          value={agentImage}
          onChange={(event) => setAgentImage(event.currentTarget.value)}
          error={refused.agentImage ?? (agentImage !== "" && !imageValid ? t("agentUpdate.imageSpaces") : undefined)}
          w={420}
          mb="md"
        />
        <MultiSelect
          label={t("fields.edgeGroups")}
          description={t("agentUpdate.groupsDescription")}
          data={(groups.data ?? []).map((group) => ({ value: String(group.Id), label: group.Name }))}
          value={groupIds.map(String)}
          onChange={(values) => setGroupIds(values.map(Number))}
          searchable
          w={420}
          mb="md"
          error={refused.groupIDs}
        />
        <NumberInput
          label={t("agentUpdate.deadline")}
          description={t("agentUpdate.deadlineDescription", { min: deadlineBounds.min, max: deadlineBounds.max })}
          required
          min={deadlineBounds.min}
          max={deadlineBounds.max}
          allowDecimal={false}
          value={deadline}
          onChange={setDeadline}
          error={refused.deadlineSeconds ?? (deadlineValid ? undefined : t("agentUpdate.deadlineRange", { min: deadlineBounds.min, max: deadlineBounds.max }))}
          w={420}
          mb="md"
        />
        <Button type="submit" loading={save.busy} disabled={!canOperate || name.trim() === "" || !imageValid || groupIds.length === 0 || !deadlineValid}>
          {t("agentUpdate.create")}
        </Button>
      </Paper>
    </>
  );
}

function ExistingSchedule({ id }: { id: number }) {
  const { t } = useTranslation("fleet");
  const schedule = usePolling((signal) => agentUpdatesApi.get(id, { signal }), 3000, String(id), { keepDataOnKeyChange: true });
  usePageTitle(schedule.data ? t("agentUpdate.pageTitle", { name: schedule.data.name }) : t("agentUpdate.title"));
  if (!schedule.data) return schedule.error ? <LoadError message={schedule.error} /> : <PageLoader />;
  return <ScheduleDetail schedule={schedule.data} error={schedule.error} />;
}

function ScheduleDetail({ schedule, error }: { schedule: AgentUpdateSchedule; error: string | undefined }) {
  const { t } = useTranslation("fleet");
  const navigate = useNavigate();
  const groups = useEdgeGroups(30_000);
  const names = useEnvironmentNames(30_000);
  const groupNames = namesById(groups.data, (group) => group.Id, (group) => group.Name);
  const [pending, setPending] = useState<ConfirmRequest>();
  const [deleteError, setDeleteError] = useState<string>();
  const rows = agentUpdateRows(schedule.status);

  return (
    <>
      <ItemHeader
        title={schedule.name}
        list={{ path: agentUpdatesPath, title: t("agentUpdates.title") }}
        actions={<DeleteButton onClick={() => setPending(deletionRequest({ kind: "agentUpdate", name: schedule.name, remove: () => agentUpdatesApi.remove(schedule.id), listPath: agentUpdatesPath, navigate, onError: setDeleteError, messageOf }))} />}
      />
      <LoadError message={deleteError ?? error} />
      <Paper withBorder radius="md" p="lg" mb="lg">
        <Group gap="xl" align="flex-start">
          <div>
            <Text size="xs" c="dimmed">{t("agentUpdate.imageHeading")}</Text>
            <Code>{schedule.agentImage}</Code>
          </div>
          <div>
            <Text size="xs" c="dimmed">{t("fields.edgeGroups")}</Text>
            <Text size="sm">{schedule.edgeGroupIds.map((groupId) => groupNames.get(groupId) ?? t("values.group", { id: groupId })).join(t("values.listSeparator")) || "—"}</Text>
          </div>
          <div>
            <Text size="xs" c="dimmed">{t("agentUpdate.deadlineHeading")}</Text>
            <Text size="sm">{t("values.seconds", { seconds: schedule.deadlineSeconds })}</Text>
          </div>
          <div>
            <Text size="xs" c="dimmed">{t("columns.created")}</Text>
            <Text size="sm">{formatDateTime(schedule.created * 1000)}</Text>
          </div>
          <div>
            <Text size="xs" c="dimmed">{t("columns.devices")}</Text>
            <AgentUpdateCounts schedule={schedule} />
          </div>
        </Group>
      </Paper>
      <DetailSection id="agent-update-progress" title={t("agentUpdate.progress")}>
        <Table verticalSpacing="sm" aria-label={t("agentUpdate.progressLabel")}>
          <TableHead columns={[t("columns.environment"), t("columns.status"), t("columns.agentVersion"), t("columns.error"), t("columns.time")]} />
          <Table.Tbody>
            {rows.map((row) => {
              const label = agentUpdateStatusLabel(row.status);
              return (
                <Table.Tr key={row.environmentId}>
                  <Table.Td>
                    <EnvironmentLink id={row.environmentId} name={environmentName(names.data, row.environmentId)} />
                  </Table.Td>
                  <Table.Td>
                    <Badge color={label.color} variant="light" tt="none">
                      {label.name}
                    </Badge>
                  </Table.Td>
                  <Table.Td>
                    <Text size="sm">{row.agentVersion ?? "—"}</Text>
                  </Table.Td>
                  <Table.Td>
                    <Text size="sm" c="red" style={{ whiteSpace: "pre-wrap", wordBreak: "break-word" }}>
                      {row.error ?? ""}
                    </Text>
                  </Table.Td>
                  <Table.Td>
                    <Text size="sm">{row.time ? formatDateTime(row.time * 1000) : "—"}</Text>
                  </Table.Td>
                </Table.Tr>
              );
            })}
            {rows.length === 0 && <EmptyTableRow columns={5}>{t("agentUpdate.noDevices")}</EmptyTableRow>}
          </Table.Tbody>
        </Table>
      </DetailSection>
      <ConfirmDialog request={pending} onClose={() => setPending(undefined)} />
    </>
  );
}
