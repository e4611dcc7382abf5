import { Button, Group, Modal, Select, Text } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconFolderPlus, IconTag, IconTrash } from "@tabler/icons-react";
import { useState } from "react";
import { api, messageOf } from "../../api/client.ts";
import { type BulkOutcome, forEachInBulk } from "../../api/bulk.ts";
import { edgeGroupsApi, tagsApi } from "../../api/fleet.ts";
import type { EdgeGroup, Tag } from "../../api/fleet-types.ts";
import type { Endpoint } from "../../api/types.ts";
import { ConfirmDialog, type ConfirmRequest } from "../ConfirmDialog.tsx";

/** What a pick dialog asks: one of `options`, then `apply` with it. */
interface Pick {
  title: string;
  label: string;
  options: { value: string; label: string }[];
  empty: string;
  confirmLabel: string;
  apply: (value: number) => Promise<void>;
}

function PickDialog({ pick, onClose }: { pick: Pick | undefined; onClose: () => void }) {
  const [value, setValue] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const close = () => {
    setValue(null);
    onClose();
  };
  async function apply() {
    if (!pick || value === null) return;
    setBusy(true);
    try {
      await pick.apply(Number(value));
    } finally {
      setBusy(false);
      close();
    }
  }
  return (
    <Modal opened={pick !== undefined} onClose={close} title={pick?.title} centered>
      {pick && pick.options.length === 0 ? (
        <Text size="sm">{pick.empty}</Text>
      ) : (
        <Select label={pick?.label} data={pick?.options ?? []} value={value} onChange={setValue} searchable comboboxProps={{ withinPortal: false }} />
      )}
      <Group justify="flex-end" mt="lg">
        <Button variant="default" onClick={close} disabled={busy} data-autofocus>
          Cancel
        </Button>
        <Button onClick={() => void apply()} loading={busy} disabled={value === null}>
          {pick?.confirmLabel}
        </Button>
      </Group>
    </Modal>
  );
}

/** Says what a bulk action did: how many succeeded, and every failure with its environment's name. */
function report<R>(done: string, outcomes: readonly BulkOutcome<Endpoint, R>[]) {
  const failed = outcomes.filter((outcome) => !outcome.ok);
  const succeeded = outcomes.length - failed.length;
  if (succeeded > 0) notifications.show({ color: "green", message: `${done} ${succeeded} environment${succeeded === 1 ? "" : "s"}.` });
  if (failed.length > 0) {
    notifications.show({ color: "red", title: `${failed.length} environment${failed.length === 1 ? "" : "s"} not changed`, message: failed.map((outcome) => `${outcome.item.Name}: ${outcome.ok ? "" : outcome.error}`).join("\n"), autoClose: false });
  }
}

const plural = (count: number) => `${count} environment${count === 1 ? "" : "s"}`;

/**
 * Home's actions on the selected environments: add a tag, add to a static edge group, delete
 * (confirmed). Each environment's failure is reported with its name; the others still change.
 */
export function HomeBulkActions({ chosen, onDone }: { chosen: readonly Endpoint[]; onDone: () => Promise<void> }) {
  const [pick, setPick] = useState<Pick>();
  const [confirm, setConfirm] = useState<ConfirmRequest>();

  // The tags and groups as they are when the dialog opens (one may have been made meanwhile).
  const withList = <T,>(load: () => Promise<T[]>, open: (list: T[]) => void) => () => {
    load().then(open, (failure: unknown) => notifications.show({ color: "red", title: "Could not load the choices", message: messageOf(failure), autoClose: false }));
  };

  const addTag = withList(tagsApi.list, (tags: Tag[]) =>
    setPick({
      title: `Add a tag to ${plural(chosen.length)}`,
      label: "Tag",
      options: tags.map((tag) => ({ value: String(tag.ID), label: tag.Name })),
      empty: "There is no tag yet: create one on the Tags screen.",
      confirmLabel: "Add tag",
      apply: async (tagId) => {
        const outcomes = await forEachInBulk(chosen, (environment) => tagsApi.setForEnvironment(environment.Id, [...new Set([...(environment.TagIds ?? []), tagId])]));
        report("Tagged", outcomes);
        await onDone();
      },
    }),
  );

  const addToGroup = withList(edgeGroupsApi.list, (groups: EdgeGroup[]) =>
    setPick({
      title: `Add ${plural(chosen.length)} to an edge group`,
      label: "Static edge group",
      options: groups.filter((group) => !group.Dynamic).map((group) => ({ value: String(group.Id), label: group.Name })),
      empty: "There is no static edge group: create one on the Edge Groups screen (a dynamic group takes environments by their tags — add a tag instead).",
      confirmLabel: "Add to group",
      apply: async (groupId) => {
        const group = await edgeGroupsApi.get(groupId);
        try {
          await edgeGroupsApi.update(groupId, { Name: group.Name, Dynamic: false, TagIDs: [], PartialMatch: false, Endpoints: [...new Set([...group.Endpoints, ...chosen.map((environment) => environment.Id)])] });
          notifications.show({ color: "green", message: `Added ${plural(chosen.length)} to ${group.Name}.` });
        } catch (failure) {
          notifications.show({ color: "red", title: `Not added to ${group.Name}`, message: messageOf(failure), autoClose: false });
        }
        await onDone();
      },
    }),
  );

  const remove = () =>
    setConfirm({
      title: `Delete ${plural(chosen.length)}?`,
      message: `${chosen
        .slice(0, 5)
        .map((environment) => environment.Name)
        .join(", ")}${chosen.length > 5 ? ` and ${chosen.length - 5} more` : ""}: their sessions are closed, and they leave their groups and stacks. A device that keeps running its agent with a fleet-wide key comes back to the Waiting Room.`,
      confirmLabel: `Delete ${plural(chosen.length)}`,
      onConfirm: async () => {
        report("Deleted", await forEachInBulk(chosen, (environment) => api<undefined>("DELETE", `/api/endpoints/${environment.Id}`)));
        await onDone();
      },
    });

  return (
    <>
      <Button variant="light" leftSection={<IconTag size={16} />} onClick={addTag}>
        Add tag
      </Button>
      <Button variant="light" leftSection={<IconFolderPlus size={16} />} onClick={addToGroup}>
        Add to group
      </Button>
      <Button variant="light" color="red" leftSection={<IconTrash size={16} />} onClick={remove}>
        Delete
      </Button>
      <PickDialog pick={pick} onClose={() => setPick(undefined)} />
      <ConfirmDialog request={confirm} onClose={() => setConfirm(undefined)} />
    </>
  );
}
