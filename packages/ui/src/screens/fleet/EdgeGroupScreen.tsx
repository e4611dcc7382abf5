import { Alert, Button, Group, MultiSelect, Paper, Radio, SegmentedControl, Stack, Text, TextInput, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useState } from "react";
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
  const { id } = useParams();
  if (id === undefined) return <EdgeGroupForm key="new" />;
  const groupId = Number(id);
  if (!Number.isInteger(groupId) || groupId <= 0) return <Alert color="red">There is no edge group at this address.</Alert>;
  return <ExistingGroup key={groupId} id={groupId} />;
}

function ExistingGroup({ id }: { id: number }) {
  const group = usePolling((signal) => edgeGroupsApi.get(id, { signal }), 0, String(id));
  if (!group.data) return group.error ? <LoadError message={group.error} /> : <PageLoader />;
  return <EdgeGroupForm group={group.data} onSaved={group.refresh} />;
}

const emptyBody: EdgeGroupBody = { Name: "", Dynamic: false, TagIDs: [], Endpoints: [], PartialMatch: false };

function EdgeGroupForm({ group, onSaved }: { group?: EdgeGroup; onSaved?: () => Promise<void> }) {
  usePageTitle(group ? `Edge group ${group.Name}` : "New edge group");
  const navigate = useNavigate();
  const tags = useTags();
  const names = useEnvironmentNames();
  const [body, setBody] = useState<EdgeGroupBody>(group ? { Name: group.Name, Dynamic: group.Dynamic, TagIDs: group.TagIds, Endpoints: group.Dynamic ? [] : group.Endpoints, PartialMatch: group.PartialMatch } : emptyBody);
  const save = useFormSave();
  const [pending, setPending] = useState<ConfirmRequest>();
  const update = (change: Partial<EdgeGroupBody>) => setBody((current) => ({ ...current, ...change }));

  async function saveGroup() {
    const sent = { ...body, Name: body.Name.trim(), ...(body.Dynamic ? { Endpoints: [] } : { TagIDs: [], PartialMatch: false }) };
    const saved = group ? await edgeGroupsApi.update(group.Id, sent) : await edgeGroupsApi.create(sent);
    notifications.show({ color: "green", message: `Edge group ${saved.Name} saved.` });
    if (group) await onSaved?.();
    else await navigate(`/edge-groups/${saved.Id}`, { replace: true });
  }

  const members = group?.Endpoints ?? [];
  return (
    <>
      <ItemHeader
        title={group ? group.Name : "New edge group"}
        list={{ path: "/edge-groups", title: "Edge groups" }}
        actions={group && <DeleteButton onClick={() => setPending(deletionRequest({ what: "edge group", name: group.Name, message: "The group is deleted; its environments stay. A group that an edge stack or an edge job uses cannot be deleted.", confirmLabel: "Delete group", remove: () => edgeGroupsApi.remove(group.Id), listPath: "/edge-groups", navigate, onError: (message) => save.setError({ message }), messageOf }))} />}
      />
      <NotSavedAlert error={save.error} />
      <Paper withBorder radius="md" p="lg" mb="lg" component="form" aria-label="Edge group" onSubmit={(event) => { event.preventDefault(); void save.run(saveGroup); }}>
        <TextInput label="Name" required maxLength={128} value={body.Name} onChange={(event) => update({ Name: event.currentTarget.value })} error={save.fieldError("Name")} w={420} mb="md" />
        <Text size="sm" fw={500} mb={4} id="group-type-label">
          Group type
        </Text>
        <SegmentedControl
          aria-labelledby="group-type-label"
          mb="md"
          value={body.Dynamic ? "dynamic" : "static"}
          onChange={(value) => update({ Dynamic: value === "dynamic" })}
          data={[
            { value: "static", label: "Static" },
            { value: "dynamic", label: "Dynamic" },
          ]}
        />
        {body.Dynamic ? (
          <Stack gap="sm" mb="md">
            <MultiSelect label="Tags" description="Environments carrying these tags are members." data={(tags.data ?? []).map((tag) => ({ value: String(tag.ID), label: tag.Name }))} value={body.TagIDs.map(String)} onChange={(values) => update({ TagIDs: values.map(Number) })} searchable w={420} />
            <Radio.Group label="Match" value={body.PartialMatch ? "any" : "all"} onChange={(value) => update({ PartialMatch: value === "any" })}>
              <Group mt={4}>
                <Radio value="all" label="All of the tags" />
                <Radio value="any" label="Any of the tags" />
              </Group>
            </Radio.Group>
          </Stack>
        ) : (
          <EnvironmentPicker label="Environments" selected={body.Endpoints} onChange={(ids) => update({ Endpoints: ids })} names={names.data} />
        )}
        <Button type="submit" loading={save.busy} disabled={body.Name.trim() === ""}>
          {group ? "Save group" : "Create group"}
        </Button>
      </Paper>
      {group && (
        <Paper withBorder radius="md" p="lg" component="section" aria-labelledby="group-members">
          <Title order={2} size="h4" id="group-members" mb="xs">
            Members ({members.length})
          </Title>
          <Text size="sm" c="dimmed" mb="sm">
            {group.Dynamic ? "Computed from the tags when the group was loaded; only associated environments are members." : "The environments chosen, when associated."}
          </Text>
          <Group gap="xs">
            {members.map((id) => (
              <EnvironmentLink key={id} id={id} name={environmentName(names.data, id)} />
            ))}
            {members.length === 0 && (
              <Text size="sm" c="dimmed">
                No members.
              </Text>
            )}
          </Group>
        </Paper>
      )}
      <ConfirmDialog request={pending} onClose={() => setPending(undefined)} />
    </>
  );
}
