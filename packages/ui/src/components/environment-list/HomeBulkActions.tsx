import { Button, Group, Modal, Select, Text } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconFolderPlus, IconTag, IconTrash } from "@tabler/icons-react";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { api, messageOf } from "../../api/client.ts";
import { type BulkOutcome, forEachInBulk } from "../../api/bulk.ts";
import { edgeGroupsApi, tagsApi } from "../../api/fleet.ts";
import type { EdgeGroup, Tag } from "../../api/fleet-types.ts";
import type { Endpoint } from "../../api/types.ts";
import { i18n } from "../../i18n/index.ts";
import { namesList } from "../../list-format.ts";
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
  const { t } = useTranslation();
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
          {t("actions.cancel")}
        </Button>
        <Button onClick={() => void apply()} loading={busy} disabled={value === null}>
          {pick?.confirmLabel}
        </Button>
      </Group>
    </Modal>
  );
}

/** Says what a bulk action did: how many succeeded, and every failure with its environment's name. */
function report<R>(done: "bulk.addTag.done" | "bulk.delete.done", outcomes: readonly BulkOutcome<Endpoint, R>[]) {
  const t = i18n.getFixedT(null, "environments");
  const failed = outcomes.filter((outcome) => !outcome.ok);
  const succeeded = outcomes.length - failed.length;
  if (succeeded > 0) notifications.show({ color: "green", message: t(done, { count: succeeded }) });
  if (failed.length > 0) {
    notifications.show({ color: "red", title: t("bulk.notChanged", { count: failed.length }), message: failed.map((outcome) => `${outcome.item.Name}: ${outcome.ok ? "" : outcome.error}`).join("\n"), autoClose: false });
  }
}

/**
 * Home's actions on the selected environments: add a tag, add to a static edge group, delete
 * (confirmed). Each environment's failure is reported with its name; the others still change.
 */
export function HomeBulkActions({ chosen, onDone }: { chosen: readonly Endpoint[]; onDone: () => Promise<void> }) {
  const [pick, setPick] = useState<Pick>();
  const [confirm, setConfirm] = useState<ConfirmRequest>();
  const { t } = useTranslation(["environments", "common"]);
  const count = chosen.length;

  // The tags and groups as they are when the dialog opens (one may have been made meanwhile).
  const withList = <T,>(load: () => Promise<T[]>, open: (list: T[]) => void) => () => {
    load().then(open, (failure: unknown) => notifications.show({ color: "red", title: t("bulk.loadFailed"), message: messageOf(failure), autoClose: false }));
  };

  const addTag = withList(tagsApi.list, (tags: Tag[]) =>
    setPick({
      title: t("bulk.addTag.title", { count }),
      label: t("bulk.addTag.label"),
      options: tags.map((tag) => ({ value: String(tag.ID), label: tag.Name })),
      empty: t("bulk.addTag.empty"),
      confirmLabel: t("bulk.addTag.button"),
      apply: async (tagId) => {
        const outcomes = await forEachInBulk(chosen, (environment) => tagsApi.setForEnvironment(environment.Id, [...new Set([...(environment.TagIds ?? []), tagId])]));
        report("bulk.addTag.done", outcomes);
        await onDone();
      },
    }),
  );

  const addToGroup = withList(edgeGroupsApi.list, (groups: EdgeGroup[]) =>
    setPick({
      title: t("bulk.addToGroup.title", { count }),
      label: t("bulk.addToGroup.label"),
      options: groups.filter((group) => !group.Dynamic).map((group) => ({ value: String(group.Id), label: group.Name })),
      empty: t("bulk.addToGroup.empty"),
      confirmLabel: t("bulk.addToGroup.button"),
      apply: async (groupId) => {
        const group = await edgeGroupsApi.get(groupId);
        try {
          await edgeGroupsApi.update(groupId, { Name: group.Name, Dynamic: false, TagIDs: [], PartialMatch: false, Endpoints: [...new Set([...group.Endpoints, ...chosen.map((environment) => environment.Id)])] });
          notifications.show({ color: "green", message: t("bulk.addToGroup.done", { count, group: group.Name }) });
        } catch (failure) {
          notifications.show({ color: "red", title: t("bulk.addToGroup.failed", { group: group.Name }), message: messageOf(failure), autoClose: false });
        }
        await onDone();
      },
    }),
  );

  const remove = () =>
    setConfirm({
      title: t("bulk.delete.title", { count }),
      message: t("bulk.delete.message", { names: namesList(chosen.map((environment) => environment.Name)) }),
      confirmLabel: t("bulk.delete.confirm", { count }),
      onConfirm: async () => {
        report("bulk.delete.done", await forEachInBulk(chosen, (environment) => api<undefined>("DELETE", `/api/endpoints/${environment.Id}`)));
        await onDone();
      },
    });

  return (
    <>
      <Button variant="light" leftSection={<IconTag size={16} />} onClick={addTag}>
        {t("bulk.addTag.button")}
      </Button>
      <Button variant="light" leftSection={<IconFolderPlus size={16} />} onClick={addToGroup}>
        {t("bulk.addToGroup.button")}
      </Button>
      <Button variant="light" color="red" leftSection={<IconTrash size={16} />} onClick={remove}>
        {t("common:actions.delete")}
      </Button>
      <PickDialog pick={pick} onClose={() => setPick(undefined)} />
      <ConfirmDialog request={confirm} onClose={() => setConfirm(undefined)} />
    </>
  );
}
