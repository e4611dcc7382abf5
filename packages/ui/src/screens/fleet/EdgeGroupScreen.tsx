import { Alert, Button, Group, MultiSelect, Paper, Radio, SegmentedControl, Stack, Text, TextInput, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { useCan } from "../../hooks/use-current-user.ts";
import { useNavigate, useParams } from "react-router";
import { messageOf } from "../../api/client.ts";
import { edgeGroupsApi } from "../../api/fleet.ts";
import type { EdgeGroup, EdgeGroupBody } from "../../api/fleet-types.ts";
import { ConfirmDialog, type ConfirmRequest } from "../../components/ConfirmDialog.tsx";
import { deletionRequest } from "../../components/fleet/delete-request.ts";
import { EnvironmentPicker } from "../../components/fleet/EnvironmentPicker.tsx";
import { EnvironmentLink } from "../../components/fleet/EnvironmentLink.tsx";
import { DeleteButton, ItemHeader, NotSavedAlert } from "../../components/fleet/ItemHeader.tsx";
import { LoadError } from "../../components/LoadError.tsx";
import { PageLoader } from "../../components/PageLoader.tsx";
import { environmentName, useEnvironmentNames } from "../../hooks/use-environment-names.ts";
import { useTags } from "../../hooks/use-fleet-lists.ts";
import { useFormSave } from "../../hooks/use-form-save.ts";
import { usePageTitle } from "../../hooks/use-page-title.ts";
import { usePolling } from "../../hooks/use-polling.ts";

/** `/edge-groups/new` and `/edge-groups/:id`: create or edit a group, see its members, delete it. */
export function EdgeGroupScreen() {
  const { t } = useTranslation("fleet");
  const { id } = useParams();
  if (id === undefined) return <EdgeGroupForm key="new" />;
  const groupId = Number(id);
  if (!Number.isInteger(groupId) || groupId <= 0) return <Alert color="red">{t("edgeGroup.notFound")}</Alert>;
  return <ExistingGroup key={groupId} id={groupId} />;
}

function ExistingGroup({ id }: { id: number }) {
  const group = usePolling((signal) => edgeGroupsApi.get(id, { signal }), 0, String(id));
  if (!group.data) return group.error ? <LoadError message={group.error} /> : <PageLoader />;
  return <EdgeGroupForm group={group.data} onSaved={group.refresh} />;
}

const emptyBody: EdgeGroupBody = { Name: "", Dynamic: false, TagIDs: [], Endpoints: [], PartialMatch: false };

function EdgeGroupForm({ group, onSaved }: { group?: EdgeGroup; onSaved?: () => Promise<void> }) {
  const { t } = useTranslation("fleet");
  usePageTitle(group ? t("edgeGroup.pageTitle", { name: group.Name }) : t("edgeGroup.new"));
  const navigate = useNavigate();
  const tags = useTags();
  const names = useEnvironmentNames();
  const [body, setBody] = useState<EdgeGroupBody>(group ? { Name: group.Name, Dynamic: group.Dynamic, TagIDs: group.TagIds, Endpoints: group.Dynamic ? [] : group.Endpoints, PartialMatch: group.PartialMatch } : emptyBody);
  const save = useFormSave();
  const [pending, setPending] = useState<ConfirmRequest>();
  const nameRefused = save.fieldError("Name");
  const update = (change: Partial<EdgeGroupBody>) => setBody((current) => ({ ...current, ...change }));
  // A group decides what its teams see: only administrators change one (the server refuses the others).
  const administers = useCan("administer");

  async function saveGroup() {
    const sent = { ...body, Name: body.Name.trim(), ...(body.Dynamic ? { Endpoints: [] } : { TagIDs: [], PartialMatch: false }) };
    const saved = group ? await edgeGroupsApi.update(group.Id, sent) : await edgeGroupsApi.create(sent);
    notifications.show({ color: "green", message: t("edgeGroup.saved", { name: saved.Name }) });
    if (group) await onSaved?.();
    else await navigate(`/edge-groups/${saved.Id}`, { replace: true });
  }

  const members = group?.Endpoints ?? [];
  return (
    <>
      <ItemHeader
        title={group ? group.Name : t("edgeGroup.new")}
        list={{ path: "/edge-groups", title: t("edgeGroups.title") }}
        actions={group && administers && <DeleteButton onClick={() => setPending(deletionRequest({ kind: "edgeGroup", name: group.Name, remove: () => edgeGroupsApi.remove(group.Id), listPath: "/edge-groups", navigate, onError: (message) => save.setError({ message }), messageOf }))} />}
      />
      <NotSavedAlert error={save.error} />
      <Paper withBorder radius="md" p="lg" mb="lg" component="form" aria-label={t("edgeGroup.formLabel")} onSubmit={(event) => { event.preventDefault(); void save.run(saveGroup); }}>
        <TextInput label={t("fields.name")} required maxLength={128} value={body.Name} onChange={(event) => update({ Name: event.currentTarget.value })} error={nameRefused} w={420} mb="md" />
        <Text size="sm" fw={500} mb={4} id="group-type-label">
          {t("edgeGroup.type")}
        </Text>
        <SegmentedControl
          aria-labelledby="group-type-label"
          mb="md"
          value={body.Dynamic ? "dynamic" : "static"}
          onChange={(value) => update({ Dynamic: value === "dynamic" })}
          data={[
            { value: "static", label: t("edgeGroup.static") },
            { value: "dynamic", label: t("edgeGroup.dynamic") },
          ]}
        />
        {body.Dynamic ? (
          <Stack gap="sm" mb="md">
            <MultiSelect label={t("edgeGroup.tags")} description={t("edgeGroup.tagsDescription")} data={(tags.data ?? []).map((tag) => ({ value: String(tag.ID), label: tag.Name }))} value={body.TagIDs.map(String)} onChange={(values) => update({ TagIDs: values.map(Number) })} searchable w={420} />
            <Radio.Group label={t("edgeGroup.match")} value={body.PartialMatch ? "any" : "all"} onChange={(value) => update({ PartialMatch: value === "any" })}>
              <Group mt={4}>
                <Radio value="all" label={t("edgeGroup.matchAll")} />
                <Radio value="any" label={t("edgeGroup.matchAny")} />
              </Group>
            </Radio.Group>
          </Stack>
        ) : (
          <EnvironmentPicker label={t("fields.environments")} selected={body.Endpoints} onChange={(ids) => update({ Endpoints: ids })} names={names.data} />
        )}
        <Button type="submit" loading={save.busy} disabled={body.Name.trim() === "" || !administers}>
          {group ? t("edgeGroup.save") : t("edgeGroup.create")}
        </Button>
      </Paper>
      {group && (
        <Paper withBorder radius="md" p="lg" component="section" aria-labelledby="group-members">
          <Title order={2} size="h4" id="group-members" mb="xs">
            {t("edgeGroup.members", { count: members.length })}
          </Title>
          <Text size="sm" c="dimmed" mb="sm">
            {group.Dynamic ? t("edgeGroup.membersDynamic") : t("edgeGroup.membersStatic")}
          </Text>
          <Group gap="xs">
            {members.map((id) => (
              <EnvironmentLink key={id} id={id} name={environmentName(names.data, id)} />
            ))}
            {members.length === 0 && (
              <Text size="sm" c="dimmed">
                {t("edgeGroup.noMembers")}
              </Text>
            )}
          </Group>
        </Paper>
      )}
      <ConfirmDialog request={pending} onClose={() => setPending(undefined)} />
    </>
  );
}
