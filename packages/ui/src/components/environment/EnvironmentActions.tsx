import { Button, Group, Modal, TextInput } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconPencil, IconTrash } from "@tabler/icons-react";
import { type FormEvent, useState } from "react";
import { useFormSave } from "../../hooks/use-form-save.ts";
import { useTranslation } from "react-i18next";
import { useNavigate } from "react-router";
import { api, messageOf } from "../../api/client.ts";
import type { Endpoint } from "../../api/types.ts";
import { ConfirmDialog, type ConfirmRequest } from "../ConfirmDialog.tsx";

/** The longest environment name the server takes (`PUT /api/endpoints/{id}` `Name`). */
export const maxEnvironmentName = 128;

function RenameDialog({ environment, opened, onClose, onRenamed }: { environment: Endpoint; opened: boolean; onClose: () => void; onRenamed: () => Promise<void> }) {
  const { t } = useTranslation(["docker", "common"]);
  const [name, setName] = useState(environment.Name);
  const submit = useFormSave();
  const rename = (event: FormEvent) => {
    event.preventDefault();
    // The server's reason, whole (a name too long), under the field; what was typed stays.
    void submit.run(async () => {
      await api("PUT", `/api/endpoints/${environment.Id}`, { body: { Name: name.trim() } });
      await onRenamed();
      onClose();
    });
  };
  return (
    <Modal opened={opened} onClose={onClose} title={t("environment.renameTitle", { name: environment.Name })} centered>
      <form onSubmit={rename}>
        <TextInput label={t("environment.name")} value={name} maxLength={maxEnvironmentName} onChange={(event) => setName(event.currentTarget.value)} error={submit.error?.message} data-autofocus />
        <Group justify="flex-end" mt="lg">
          <Button variant="default" onClick={onClose} disabled={submit.busy}>
            {t("common:actions.cancel")}
          </Button>
          <Button type="submit" loading={submit.busy} disabled={name.trim() === "" || name.trim() === environment.Name}>
            {t("environment.rename")}
          </Button>
        </Group>
      </form>
    </Modal>
  );
}

/** An environment page's Rename and (confirmed) Delete. */
export function EnvironmentActions({ environment, onChanged }: { environment: Endpoint; onChanged: () => Promise<void> }) {
  const [renaming, setRenaming] = useState(false);
  const [confirm, setConfirm] = useState<ConfirmRequest>();
  const navigate = useNavigate();
  const { t } = useTranslation(["docker", "common"]);
  const askDelete = () =>
    setConfirm({
      title: t("environment.deleteTitle", { name: environment.Name }),
      message: t("environment.deleteMessage"),
      confirmLabel: t("environment.deleteConfirm"),
      onConfirm: async () => {
        try {
          await api("DELETE", `/api/endpoints/${environment.Id}`);
          notifications.show({ color: "green", message: t("environment.deleted", { name: environment.Name }) });
          await navigate("/");
        } catch (failure) {
          notifications.show({ color: "red", title: t("environment.notDeleted", { name: environment.Name }), message: messageOf(failure), autoClose: false });
        }
      },
    });
  return (
    <Group gap="sm">
      <Button variant="default" leftSection={<IconPencil size={16} />} onClick={() => setRenaming(true)}>
        {t("environment.rename")}
      </Button>
      <Button variant="light" color="red" leftSection={<IconTrash size={16} />} onClick={askDelete}>
        {t("common:actions.delete")}
      </Button>
      {renaming && <RenameDialog environment={environment} opened onClose={() => setRenaming(false)} onRenamed={onChanged} />}
      <ConfirmDialog request={confirm} onClose={() => setConfirm(undefined)} />
    </Group>
  );
}
