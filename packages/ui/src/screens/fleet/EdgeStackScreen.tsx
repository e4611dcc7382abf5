import { Alert, Badge, Button, Group, MultiSelect, NumberInput, Paper, Switch, Table, Text, TextInput, Tooltip } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useState } from "react";
import { Trans, useTranslation } from "react-i18next";
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
import { DeleteButton, ItemHeader, NotSavedAlert, ReadOnlyNotice } from "../../components/fleet/ItemHeader.tsx";
import { useCan } from "../../hooks/use-current-user.ts";
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
  const { t } = useTranslation("fleet");
  const { id } = useParams();
  if (id === undefined) return <EdgeStackForm key="new" />;
  const stackId = Number(id);
  if (!Number.isInteger(stackId) || stackId <= 0) return <Alert color="red">{t("edgeStack.notFound")}</Alert>;
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
  const { t } = useTranslation("fleet");
  const canOperate = useCan("operate");
  usePageTitle(stack ? t("edgeStack.pageTitle", { name: stack.Name }) : t("edgeStack.new"));
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
  const nameError = form.name !== "" && !stackNamePattern.test(form.name) ? t("edgeStack.nameRule") : undefined;
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
        notifications.show({ color: "green", message: changedDeployment ? t("edgeStack.savedVersion", { name: stack.Name, version: stack.Version + 1 }) : t("edgeStack.saved", { name: stack.Name }) });
        await onSaved?.();
      } else {
        const created = await edgeStacksApi.create({ name: form.name, stackFileContent: sentFile, edgeGroups: form.groups, deploymentType: 0, envVars, registries: form.registries });
        notifications.show({ color: "green", message: t("edgeStack.created", { name: created.Name }) });
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
        title={stack ? stack.Name : t("edgeStack.new")}
        list={{ path: "/edge-stacks", title: t("edgeStacks.title") }}
        actions={
          stack && (
            <>
            {stack.Version > 1 && (
              <Button
                variant="default"
                onClick={() =>
                  setPending({
                    title: t("edgeStack.rollBackTitle", { name: stack.Name, version: stack.Version - 1 }),
                    message: t("edgeStack.rollBackMessage", { previous: stack.Version - 1, next: stack.Version + 1 }),
                    confirmLabel: t("edgeStack.rollBack", { version: stack.Version - 1 }),
                    onConfirm: async () => {
                      try {
                        const previous = await edgeStacksApi.fileOfVersion(stack.Id, stack.Version - 1);
                        await edgeStacksApi.update(stack.Id, { stackFileContent: previous, edgeGroups: stack.EdgeGroups, updateVersion: true, deploymentType: 0, envVars: stack.EnvVars ?? [], registries: stack.Registries ?? [] });
                        update({ file: previous });
                        notifications.show({ color: "green", message: t("edgeStack.rolledBack", { name: stack.Name, previous: stack.Version - 1, next: stack.Version + 1 }) });
                        await onSaved?.();
                      } catch (failure) {
                        setError({ message: messageOf(failure) });
                      }
                    },
                  })
                }
              >
                {t("edgeStack.rollBack", { version: stack.Version - 1 })}
              </Button>
            )}
            <DeleteButton onClick={() => setPending(deletionRequest({ kind: "edgeStack", name: stack.Name, remove: () => edgeStacksApi.remove(stack.Id), listPath: "/edge-stacks", navigate, onError: (message) => setError({ message }), messageOf }))} />
            </>
          )
        }
      />
      {stack && (
        <Group mb="md" gap="lg">
          <Text size="sm">
            <Trans t={t} i18nKey="edgeStack.version" values={{ version: stack.Version }} components={{ b: <b /> }} />
          </Text>
          <StatusCounts stack={stack} />
        </Group>
      )}
      {stack && rollout && <RolloutPanel stackId={stack.Id} rollout={rollout} onChanged={onSaved ?? (() => Promise.resolve())} />}
      <ReadOnlyNotice />
      <NotSavedAlert error={error} />
      <Paper withBorder radius="md" p="lg" mb="lg" component="form" aria-label={t("edgeStack.formLabel")} onSubmit={(event) => { event.preventDefault(); void save(); }}>
        <TextInput label={t("fields.name")} required disabled={stack !== undefined} value={form.name} maxLength={63} onChange={(event) => update({ name: event.currentTarget.value })} error={nameError ?? (error?.field === "name" ? error.message : undefined)} w={420} mb="md" />
        <MultiSelect
          label={t("fields.edgeGroups")}
          description={t("edgeStack.groupsDescription")}
          data={(groups.data ?? []).map((group) => ({ value: String(group.Id), label: group.Name }))}
          value={form.groups.map(String)}
          onChange={(values) => update({ groups: values.map(Number) })}
          searchable
          w={420}
          mb="md"
          error={error?.field === "edgeGroups" ? error.message : undefined}
        />
        <CodeEditor label={t("edgeStack.composeFile")} description={t("edgeStack.composeDescription")} value={form.file} onChange={(value) => update({ file: value })} error={fileError} maxBytes={composeFileBytes} />
        <EnvVarsEditor value={form.envVars} onChange={(envVars) => update({ envVars })} />
        <MultiSelect
          label={t("edgeStack.registries")}
          description={registries.error ? t("edgeStack.registriesError") : t("edgeStack.registriesDescription")}
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
              label={t("edgeStack.stage")}
              description={t("edgeStack.stageDescription")}
              checked={staged !== undefined}
              onChange={(event) => setStaged(event.currentTarget.checked ? { batchSize: 1, waitSeconds: 60, failureThreshold: 0 } : undefined)}
              mb={staged ? "sm" : 0}
            />
            {staged && (
              <Group>
                <NumberInput label={t("edgeStack.batchSize")} min={1} max={10000} value={staged.batchSize ?? 1} onChange={(value) => setStaged({ ...staged, batchSize: Number(value) || 1 })} w={160} />
                <NumberInput label={t("edgeStack.waitSeconds")} min={0} max={86400} value={staged.waitSeconds} onChange={(value) => setStaged({ ...staged, waitSeconds: Number(value) || 0 })} w={200} />
                <NumberInput label={t("edgeStack.failureThreshold")} min={0} max={10000} value={staged.failureThreshold} onChange={(value) => setStaged({ ...staged, failureThreshold: Number(value) || 0 })} w={160} />
              </Group>
            )}
          </Paper>
        )}
        <Group>
          <Button type="submit" loading={busy} disabled={!canOperate || form.name === "" || nameError !== undefined}>
            {stack ? t("edgeStack.save") : t("edgeStack.create")}
          </Button>
          {stack && (
            <Text size="sm" c="dimmed">
              {changedDeployment ? t("edgeStack.nextVersion", { version: stack.Version + 1 }) : t("edgeStack.sameVersion")}
            </Text>
          )}
        </Group>
      </Paper>
      <ConfirmDialog request={pending} onClose={() => setPending(undefined)} />
    </>
  );
}

function DeviceStatusTable({ stack }: { stack: EdgeStack }) {
  const { t } = useTranslation("fleet");
  const names = useEnvironmentNames(30_000);
  const rows = stackDeviceStatuses(stack);
  return (
    <DetailSection id="stack-devices" title={t("edgeStack.devices")}>
      <Table verticalSpacing="sm" aria-label={t("edgeStack.devicesLabel")}>
        <TableHead columns={[t("columns.environment"), t("columns.status"), t("columns.since"), t("columns.version"), t("columns.error")]} />
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
                    {t("edgeStack.noReport")}
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
                    <Tooltip label={t("edgeStack.rolledBackHint")}>
                      <Text span size="sm" c="orange" ml={6}>
                        {t("edgeStack.rolledBackTo", { version: row.rolledBackTo })}
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
          {rows.length === 0 && <EmptyTableRow columns={5}>{t("edgeStack.noDevices")}</EmptyTableRow>}
        </Table.Tbody>
      </Table>
    </DetailSection>
  );
}
