import { Alert, Badge, Button, Code, Group, MultiSelect, NumberInput, Paper, Table, Text, TextInput } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useState } from "react";
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
import { DeleteButton, ItemHeader, NotSavedAlert } from "../../components/fleet/ItemHeader.tsx";
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

const agentUpdatesList = { path: "/agent-updates", title: "Agent updates" };

/** `/agent-updates/new` and `/agent-updates/:id`: create a schedule, or follow one's devices. */
export function AgentUpdateScreen() {
  const { id } = useParams();
  if (id === undefined) return <AgentUpdateForm />;
  const scheduleId = Number(id);
  if (!Number.isInteger(scheduleId) || scheduleId <= 0) return <Alert color="red">There is no agent update at this address.</Alert>;
  return <ExistingSchedule key={scheduleId} id={scheduleId} />;
}

function AgentUpdateForm() {
  usePageTitle("New agent update");
  const navigate = useNavigate();
  const groups = useEdgeGroups();
  const [name, setName] = useState("");
  const [agentImage, setAgentImage] = useState("");
  const [groupIds, setGroupIds] = useState<number[]>([]);
  const [deadline, setDeadline] = useState<number | string>(deadlineBounds.default);
  const save = useFormSave();
  const { fieldError } = save;
  const deadlineSeconds = typeof deadline === "number" ? deadline : Number.NaN;
  const deadlineValid = Number.isInteger(deadlineSeconds) && deadlineSeconds >= deadlineBounds.min && deadlineSeconds <= deadlineBounds.max;
  const imageValid = agentImage.trim() !== "" && !/\s/.test(agentImage.trim());

  async function create() {
    const created = await agentUpdatesApi.create({ name: name.trim(), agentImage: agentImage.trim(), groupIDs: groupIds, deadlineSeconds, type: 1 });
    notifications.show({ color: "green", message: `Agent update ${created.name} created.` });
    await navigate(`/agent-updates/${created.id}`, { replace: true });
  }

  return (
    <>
      <ItemHeader title="New agent update" list={agentUpdatesList} />
      <NotSavedAlert error={save.error} />
      <Paper withBorder radius="md" p="lg" component="form" aria-label="Agent update" onSubmit={(event) => { event.preventDefault(); void save.run(create); }}>
        <TextInput label="Name" required maxLength={128} value={name} onChange={(event) => setName(event.currentTarget.value)} error={fieldError("name")} w={420} mb="md" />
        <TextInput
          label="Agent image"
          description="The image the devices' agent container is recreated from, e.g. pier/agent:2.1.0"
          required
          maxLength={512}
          styles={{ input: { fontFamily: "var(--mantine-font-family-monospace)" } }}
          value={agentImage}
          onChange={(event) => setAgentImage(event.currentTarget.value)}
          error={fieldError("agentImage") ?? (agentImage !== "" && !imageValid ? "An image reference has no spaces." : undefined)}
          w={420}
          mb="md"
        />
        <MultiSelect
          label="Edge groups"
          description="At least one: the update goes to their associated members."
          data={(groups.data ?? []).map((group) => ({ value: String(group.Id), label: group.Name }))}
          value={groupIds.map(String)}
          onChange={(values) => setGroupIds(values.map(Number))}
          searchable
          w={420}
          mb="md"
          error={fieldError("groupIDs")}
        />
        <NumberInput
          label="Deadline (seconds)"
          description={`How long a device waits for the new agent to check in before rolling back (${deadlineBounds.min}–${deadlineBounds.max}).`}
          required
          min={deadlineBounds.min}
          max={deadlineBounds.max}
          allowDecimal={false}
          value={deadline}
          onChange={setDeadline}
          error={fieldError("deadlineSeconds") ?? (deadlineValid ? undefined : `Between ${deadlineBounds.min} and ${deadlineBounds.max} seconds.`)}
          w={420}
          mb="md"
        />
        <Button type="submit" loading={save.busy} disabled={name.trim() === "" || !imageValid || groupIds.length === 0 || !deadlineValid}>
          Create agent update
        </Button>
      </Paper>
    </>
  );
}

function ExistingSchedule({ id }: { id: number }) {
  const schedule = usePolling((signal) => agentUpdatesApi.get(id, { signal }), 3000, String(id), { keepDataOnKeyChange: true });
  usePageTitle(schedule.data ? `Agent update ${schedule.data.name}` : "Agent update");
  if (!schedule.data) return schedule.error ? <LoadError message={schedule.error} /> : <PageLoader />;
  return <ScheduleDetail schedule={schedule.data} error={schedule.error} />;
}

function ScheduleDetail({ schedule, error }: { schedule: AgentUpdateSchedule; error: string | undefined }) {
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
        list={agentUpdatesList}
        actions={<DeleteButton onClick={() => setPending(deletionRequest({ what: "agent update", name: schedule.name, message: "Devices not yet updated are no longer asked; devices already updated keep their new agent.", confirmLabel: "Delete agent update", remove: () => agentUpdatesApi.remove(schedule.id), listPath: "/agent-updates", navigate, onError: setDeleteError, messageOf }))} />}
      />
      <LoadError message={deleteError ?? error} />
      <Paper withBorder radius="md" p="lg" mb="lg">
        <Group gap="xl" align="flex-start">
          <div>
            <Text size="xs" c="dimmed">Image</Text>
            <Code>{schedule.agentImage}</Code>
          </div>
          <div>
            <Text size="xs" c="dimmed">Edge groups</Text>
            <Text size="sm">{schedule.edgeGroupIds.map((groupId) => groupNames.get(groupId) ?? `group ${groupId}`).join(", ") || "—"}</Text>
          </div>
          <div>
            <Text size="xs" c="dimmed">Deadline</Text>
            <Text size="sm">{schedule.deadlineSeconds} s</Text>
          </div>
          <div>
            <Text size="xs" c="dimmed">Created</Text>
            <Text size="sm">{formatDateTime(schedule.created * 1000)}</Text>
          </div>
          <div>
            <Text size="xs" c="dimmed">Devices</Text>
            <AgentUpdateCounts schedule={schedule} />
          </div>
        </Group>
      </Paper>
      <DetailSection id="agent-update-progress" title="Progress">
        <Table verticalSpacing="sm" aria-label="Agent update progress">
          <TableHead columns={["Environment", "Status", "Agent version", "Error", "Time"]} />
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
            {rows.length === 0 && <EmptyTableRow columns={5}>No device: the edge groups have no associated member.</EmptyTableRow>}
          </Table.Tbody>
        </Table>
      </DetailSection>
      <ConfirmDialog request={pending} onClose={() => setPending(undefined)} />
    </>
  );
}
