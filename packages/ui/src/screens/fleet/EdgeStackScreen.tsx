import { Alert, Badge, Button, Group, MultiSelect, NumberInput, Paper, Switch, Table, Text, TextInput, Tooltip } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useState } from "react";
import { useNavigate, useParams } from "react-router";
import { ApiError, messageOf } from "../../api/client.ts";
import { edgeStacksApi } from "../../api/fleet.ts";
import type { EdgeStack, EnvVar, RolloutOptions } from "../../api/fleet-types.ts";
import { ConfirmDialog, type ConfirmRequest } from "../../components/ConfirmDialog.tsx";
import { deletionRequest } from "../../components/fleet/delete-request.ts";
import { EmptyTableRow } from "../../components/EmptyTableRow.tsx";
import { CodeEditor, type CodeEditorError } from "../../components/fleet/CodeEditor.tsx";
import { EnvVarsEditor } from "../../components/fleet/EnvVarsEditor.tsx";
import { DetailSection } from "../../components/fleet/DetailSection.tsx";
import { EnvironmentLink } from "../../components/fleet/EnvironmentLink.tsx";
import { DeleteButton, ItemHeader, NotSavedAlert } from "../../components/fleet/ItemHeader.tsx";
import { RolloutPanel } from "../../components/fleet/RolloutPanel.tsx";
import { StatusCounts } from "../../components/fleet/StatusCounts.tsx";
import { LoadError } from "../../components/LoadError.tsx";
import { PageLoader } from "../../components/PageLoader.tsx";
import { TableHead } from "../../components/TableHead.tsx";
import { composeErrorLocation } from "../../fleet/compose-error.ts";
import { stackDeviceStatuses, stackStatusColor, stackStatusName } from "../../fleet/stack-status.ts";
import { formatDateTime } from "../../format.ts";
import { environmentName, useEnvironmentNames } from "../../hooks/use-environment-names.ts";
import { useEdgeGroups, useRegistries } from "../../hooks/use-fleet-lists.ts";
import type { FormError } from "../../hooks/use-form-save.ts";
import { usePageTitle } from "../../hooks/use-page-title.ts";
import { usePolling } from "../../hooks/use-polling.ts";

/** The server's bounds the form holds to (`fleetLimits`, `stackNamePattern` in @pier/protocol). */
const composeFileBytes = 256 * 1024;
const stackNamePattern = /^[a-z0-9][a-z0-9_-]{0,62}$/;

const starter = `services:
  web:
    image: nginx:alpine
    ports:
      - "8080:80"
    restart: unless-stopped
`;

/** `/edge-stacks/new` and `/edge-stacks/:id`: the compose editor, the stack's targets, and each device's status. */
export function EdgeStackScreen() {
  const { id } = useParams();
  if (id === undefined) return <EdgeStackForm key="new" />;
  const stackId = Number(id);
  if (!Number.isInteger(stackId) || stackId <= 0) return <Alert color="red">There is no edge stack at this address.</Alert>;
  return <ExistingStack key={stackId} id={stackId} />;
}

function ExistingStack({ id }: { id: number }) {
  const stack = usePolling((signal) => edgeStacksApi.get(id, { signal }), 5000, String(id), { keepDataOnKeyChange: true });
  const file = usePolling((signal) => edgeStacksApi.file(id, { signal }), 0, `${id}:${stack.data?.Version ?? 0}`, { keepDataOnKeyChange: true });
  if (!stack.data || file.data === undefined) return stack.error || file.error ? <LoadError message={stack.error ?? file.error} /> : <PageLoader />;
  return (
    <>
      <EdgeStackForm stack={stack.data} file={file.data} onSaved={stack.refresh} />
      <LoadError message={stack.error} />
      <DeviceStatusTable stack={stack.data} />
    </>
  );
}

interface StackForm {
  name: string;
  file: string;
  groups: number[];
  envVars: EnvVar[];
  registries: number[];
}

function EdgeStackForm({ stack, file, onSaved }: { stack?: EdgeStack; file?: string; onSaved?: () => Promise<void> }) {
  usePageTitle(stack ? `Edge stack ${stack.Name}` : "New edge stack");
  const navigate = useNavigate();
  const groups = useEdgeGroups();
  const registries = useRegistries();
  const initial: StackForm = stack ? { name: stack.Name, file: file ?? "", groups: stack.EdgeGroups, envVars: stack.EnvVars ?? [], registries: stack.Registries ?? [] } : { name: "", file: starter, groups: [], envVars: [], registries: [] };
  const [form, setForm] = useState<StackForm>(initial);
  const [fileError, setFileError] = useState<CodeEditorError>();
  const [error, setError] = useState<FormError>();
  const [busy, setBusy] = useState(false);
  const [pending, setPending] = useState<ConfirmRequest>();
  const [staged, setStaged] = useState<RolloutOptions | undefined>();
  const update = (change: Partial<StackForm>) => setForm((current) => ({ ...current, ...change }));
  const nameError = form.name !== "" && !stackNamePattern.test(form.name) ? "Lowercase letters, digits, - and _, starting with a letter or digit (a Compose project name), at most 63 characters." : undefined;
  const changedDeployment = stack !== undefined && (form.file !== file || JSON.stringify(form.envVars) !== JSON.stringify(stack.EnvVars ?? []));

  async function save() {
    setBusy(true);
    setError(undefined);
    setFileError(undefined);
    const sentFile = form.file;
    const envVars = form.envVars.filter((entry) => entry.name.trim() !== "");
    try {
      if (stack) {
        await edgeStacksApi.update(stack.Id, { stackFileContent: sentFile, edgeGroups: form.groups, updateVersion: changedDeployment, deploymentType: 0, envVars, registries: form.registries, ...(changedDeployment && staged ? { rollout: staged } : {}) });
        notifications.show({ color: "green", message: changedDeployment ? `Edge stack ${stack.Name} saved: version ${stack.Version + 1} goes to its devices.` : `Edge stack ${stack.Name} saved.` });
        await onSaved?.();
      } else {
        const created = await edgeStacksApi.create({ name: form.name, stackFileContent: sentFile, edgeGroups: form.groups, deploymentType: 0, envVars, registries: form.registries });
        notifications.show({ color: "green", message: `Edge stack ${created.Name} created.` });
        await navigate(`/edge-stacks/${created.Id}`, { replace: true });
      }
    } catch (failure) {
      const field = failure instanceof ApiError ? failure.field : undefined;
      const details = failure instanceof ApiError ? (failure.details as { path?: unknown } | undefined) : undefined;
      if (field === "stackFileContent") setFileError({ message: messageOf(failure), ...composeErrorLocation(messageOf(failure), sentFile, details?.path) });
      else setError({ message: messageOf(failure), field });
    } finally {
      setBusy(false);
    }
  }

  const rollout = stack?.Pier?.Rollout;
  return (
    <>
      <ItemHeader
        title={stack ? stack.Name : "New edge stack"}
        list={{ path: "/edge-stacks", title: "Edge stacks" }}
        actions={
          stack && (
            <>
            {stack.Version > 1 && (
              <Button
                variant="default"
                onClick={() =>
                  setPending({
                    title: `Roll ${stack.Name} back to v${stack.Version - 1}?`,
                    message: `The compose file of v${stack.Version - 1} becomes v${stack.Version + 1} and goes to every device of its groups (the variables and registries stay as they are now).`,
                    confirmLabel: `Roll back to v${stack.Version - 1}`,
                    onConfirm: async () => {
                      try {
                        const previous = await edgeStacksApi.fileOfVersion(stack.Id, stack.Version - 1);
                        await edgeStacksApi.update(stack.Id, { stackFileContent: previous, edgeGroups: stack.EdgeGroups, updateVersion: true, deploymentType: 0, envVars: stack.EnvVars ?? [], registries: stack.Registries ?? [] });
                        update({ file: previous });
                        notifications.show({ color: "green", message: `Edge stack ${stack.Name}: v${stack.Version - 1}'s file goes out as v${stack.Version + 1}.` });
                        await onSaved?.();
                      } catch (failure) {
                        setError({ message: messageOf(failure) });
                      }
                    },
                  })
                }
              >
                Roll back to v{stack.Version - 1}
              </Button>
            )}
            <DeleteButton onClick={() => setPending(deletionRequest({ what: "edge stack", name: stack.Name, message: "Its devices stop and remove the stack's containers at their next desired state.", confirmLabel: "Delete stack", remove: () => edgeStacksApi.remove(stack.Id), listPath: "/edge-stacks", navigate, onError: (message) => setError({ message }), messageOf }))} />
            </>
          )
        }
      />
      {stack && (
        <Group mb="md" gap="lg">
          <Text size="sm">
            Version <b>v{stack.Version}</b>
          </Text>
          <StatusCounts stack={stack} />
        </Group>
      )}
      {stack && rollout && <RolloutPanel stackId={stack.Id} rollout={rollout} onChanged={onSaved ?? (() => Promise.resolve())} />}
      <NotSavedAlert error={error} />
      <Paper withBorder radius="md" p="lg" mb="lg" component="form" aria-label="Edge stack" onSubmit={(event) => { event.preventDefault(); void save(); }}>
        <TextInput label="Name" required disabled={stack !== undefined} value={form.name} maxLength={63} onChange={(event) => update({ name: event.currentTarget.value })} error={nameError ?? (error?.field === "name" ? error.message : undefined)} w={420} mb="md" />
        <MultiSelect
          label="Edge groups"
          description="The stack runs on every environment of these groups."
          data={(groups.data ?? []).map((group) => ({ value: String(group.Id), label: group.Name }))}
          value={form.groups.map(String)}
          onChange={(values) => update({ groups: values.map(Number) })}
          searchable
          w={420}
          mb="md"
          error={error?.field === "edgeGroups" ? error.message : undefined}
        />
        <CodeEditor label="Compose file" description="Docker Compose; validated by the server when saved." value={form.file} onChange={(value) => update({ file: value })} error={fileError} maxBytes={composeFileBytes} />
        <EnvVarsEditor value={form.envVars} onChange={(envVars) => update({ envVars })} />
        <MultiSelect
          label="Registries"
          description={registries.error ? "The registries could not be listed." : "Credentials sent to the devices to pull this stack's images."}
          data={(registries.data ?? []).map((registry) => ({ value: String(registry.Id), label: `${registry.Name} (${registry.URL})` }))}
          value={form.registries.map(String)}
          onChange={(values) => update({ registries: values.map(Number) })}
          w={420}
          mb="md"
          maxValues={10}
        />
        {stack && changedDeployment && (
          <Paper withBorder radius="sm" p="sm" mb="md">
            <Switch
              label="Stage the new version (rollout in batches)"
              description="Devices not yet released keep the current version; failures past the threshold pause the rollout."
              checked={staged !== undefined}
              onChange={(event) => setStaged(event.currentTarget.checked ? { batchSize: 1, waitSeconds: 60, failureThreshold: 0 } : undefined)}
              mb={staged ? "sm" : 0}
            />
            {staged && (
              <Group>
                <NumberInput label="Devices per batch" min={1} max={10000} value={staged.batchSize ?? 1} onChange={(value) => setStaged({ ...staged, batchSize: Number(value) || 1 })} w={160} />
                <NumberInput label="Seconds between batches" min={0} max={86400} value={staged.waitSeconds} onChange={(value) => setStaged({ ...staged, waitSeconds: Number(value) || 0 })} w={200} />
                <NumberInput label="Failures tolerated" min={0} max={10000} value={staged.failureThreshold} onChange={(value) => setStaged({ ...staged, failureThreshold: Number(value) || 0 })} w={160} />
              </Group>
            )}
          </Paper>
        )}
        <Group>
          <Button type="submit" loading={busy} disabled={form.name === "" || nameError !== undefined}>
            {stack ? "Save stack" : "Create stack"}
          </Button>
          {stack && (
            <Text size="sm" c="dimmed">
              {changedDeployment ? `Saving makes version ${stack.Version + 1}.` : "The file and variables are unchanged: saving keeps the version."}
            </Text>
          )}
        </Group>
      </Paper>
      <ConfirmDialog request={pending} onClose={() => setPending(undefined)} />
    </>
  );
}

function DeviceStatusTable({ stack }: { stack: EdgeStack }) {
  const names = useEnvironmentNames(30_000);
  const rows = stackDeviceStatuses(stack);
  return (
    <DetailSection id="stack-devices" title="Devices">
      <Table verticalSpacing="sm" aria-label="Device status">
        <TableHead columns={["Environment", "Status", "Since", "Version", "Error"]} />
        <Table.Tbody>
          {rows.map((row) => (
            <Table.Tr key={row.environmentId}>
              <Table.Td>
                <EnvironmentLink id={row.environmentId} name={environmentName(names.data, row.environmentId)} />
              </Table.Td>
              <Table.Td>
                {row.latest ? (
                  <Badge color={stackStatusColor(row.latest.Type)} variant="light" tt="none">
                    {stackStatusName(row.latest.Type)}
                  </Badge>
                ) : (
                  <Text size="sm" c="dimmed">
                    No report yet
                  </Text>
                )}
              </Table.Td>
              <Table.Td>
                <Text size="sm">{row.latest ? formatDateTime(row.latest.Time * 1000) : "—"}</Text>
              </Table.Td>
              <Table.Td>
                <Text size="sm">
                  {row.version === undefined ? "—" : `v${row.version}`}
                  {row.rolledBackTo !== undefined && (
                    <Tooltip label="The new version failed on this device; it runs the previous one again.">
                      <Text span size="sm" c="orange" ml={6}>
                        rolled back to v{row.rolledBackTo}
                      </Text>
                    </Tooltip>
                  )}
                </Text>
              </Table.Td>
              <Table.Td>
                {row.errors.map((message, index) => (
                  <Text key={index} size="sm" c="red" style={{ whiteSpace: "pre-wrap", wordBreak: "break-word" }}>
                    {message}
                  </Text>
                ))}
              </Table.Td>
            </Table.Tr>
          ))}
          {rows.length === 0 && <EmptyTableRow columns={5}>No device has this stack yet: its groups have no associated member, or none has reported.</EmptyTableRow>}
        </Table.Tbody>
      </Table>
    </DetailSection>
  );
}
