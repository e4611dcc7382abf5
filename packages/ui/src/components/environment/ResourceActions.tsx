import { Alert, Button, Group, Modal, Progress, Stack, Text, TextInput } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import type { TFunction } from "i18next";
import { IconDownload, IconPlus, IconTrash } from "@tabler/icons-react";
import { type FormEvent, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { api, isAbort, messageOf } from "../../api/client.ts";
import { maxImageReference, type PullProgress, pullImage } from "../../api/docker-pull.ts";
import { formatBytes } from "../../format.ts";
import { useFormSave } from "../../hooks/use-form-save.ts";
import { ConfirmDialog, type ConfirmRequest } from "../ConfirmDialog.tsx";
import { dockerPath } from "./docker-source.ts";

/** The longest volume or network name the dialogs take (Docker's own limit is lower for some drivers; it says so). */
export const maxResourceName = 255;

// An example reference: an identifier, the same in every language.
const imageExample = "busybox:1.36";

// Docker's rule for volume and network names: a letter or digit, then letters, digits, _ . -
const resourceName = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Where a pull stands, as one line: bytes, layers, Docker's last status (as Docker wrote it). */
function progressLine(t: TFunction<"docker">, progress: PullProgress): string {
  return [
    ...(progress.total > 0 ? [t("pull.bytes", { current: formatBytes(progress.current), total: formatBytes(progress.total) })] : []),
    t("pull.layers", { count: progress.layers.size }),
    ...(progress.status ? [progress.status] : []),
  ].join(" · ");
}

function PullDialog({ environmentId, onClose, onPulled }: { environmentId: number; onClose: () => void; onPulled: () => Promise<void> }) {
  const { t } = useTranslation(["docker", "common"]);
  const [reference, setReference] = useState("");
  const [progress, setProgress] = useState<PullProgress>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const controller = useRef<AbortController | undefined>(undefined);
  const invalid = reference !== "" && /\s/.test(reference) ? t("pull.invalid") : undefined;

  async function pull(event: FormEvent) {
    event.preventDefault();
    controller.current = new AbortController();
    setBusy(true);
    setError(undefined);
    try {
      await pullImage(environmentId, reference.trim(), setProgress, controller.current.signal);
      notifications.show({ color: "green", message: t("pull.pulled", { image: reference.trim() }) });
      await onPulled();
      onClose();
    } catch (failure) {
      if (!isAbort(failure)) setError(messageOf(failure));
    } finally {
      setBusy(false);
    }
  }

  const close = () => {
    controller.current?.abort();
    onClose();
  };
  const percent = progress && progress.total > 0 ? Math.round((progress.current / progress.total) * 100) : 0;
  return (
    <Modal opened onClose={close} title={t("pull.title")} centered>
      <form onSubmit={(event) => void pull(event)}>
        <Stack>
          <TextInput label={t("pull.image")} placeholder={imageExample} value={reference} maxLength={maxImageReference} onChange={(event) => setReference(event.currentTarget.value)} error={invalid} disabled={busy} data-autofocus />
          {progress && (
            <Stack gap={4} data-testid="pull-progress">
              <Progress value={percent} aria-label={t("pull.progress")} />
              <Text size="xs" c="dimmed">
                {progressLine(t, progress)}
              </Text>
            </Stack>
          )}
          {error && (
            <Alert color="red" title={t("pull.failedTitle")} role="alert">
              {error}
            </Alert>
          )}
          <Group justify="flex-end">
            <Button variant="default" onClick={close}>
              {busy ? t("pull.stop") : t("common:actions.cancel")}
            </Button>
            <Button type="submit" loading={busy} disabled={reference.trim() === "" || invalid !== undefined}>
              {t("pull.submit")}
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

/** "Pull image" on the Images tab: progress as Docker reports it, its error whole. */
export function PullImageButton({ environmentId, onDone }: { environmentId: number; onDone: () => Promise<void> }) {
  const { t } = useTranslation(["docker", "common"]);
  const [open, setOpen] = useState(false);
  return (
    <>
      <Button leftSection={<IconDownload size={16} />} onClick={() => setOpen(true)}>
        {t("pull.button")}
      </Button>
      {open && <PullDialog environmentId={environmentId} onClose={() => setOpen(false)} onPulled={onDone} />}
    </>
  );
}

/** What a create dialog makes: `POST docker/<path>` with the name and driver. */
interface CreateKind {
  noun: "volume" | "network";
  path: string;
  defaultDriver: string;
}

function CreateDialog({ environmentId, kind, onClose, onCreated }: { environmentId: number; kind: CreateKind; onClose: () => void; onCreated: () => Promise<void> }) {
  const [name, setName] = useState("");
  const { t } = useTranslation(["docker", "common"]);
  const [driver, setDriver] = useState(kind.defaultDriver);
  const submit = useFormSave();
  const invalid = name !== "" && !resourceName.test(name) ? t(`resources.${kind.noun}.invalidName`) : undefined;

  const create = (event: FormEvent) => {
    event.preventDefault();
    // Docker's own reason, whole, under the form; what was typed stays.
    void submit.run(async () => {
      await api("POST", dockerPath(environmentId, kind.path), { body: { Name: name, Driver: driver.trim() || kind.defaultDriver, ...(kind.noun === "network" ? { CheckDuplicate: true } : {}) } });
      notifications.show({ color: "green", message: t(`resources.${kind.noun}.created`, { name }) });
      await onCreated();
      onClose();
    });
  };

  return (
    <Modal opened onClose={onClose} title={t(`resources.${kind.noun}.createTitle`)} centered>
      <form onSubmit={create}>
        <Stack>
          <TextInput label={t("resources.name")} value={name} maxLength={maxResourceName} onChange={(event) => setName(event.currentTarget.value)} error={invalid} data-autofocus />
          <TextInput label={t("resources.driver")} value={driver} maxLength={64} onChange={(event) => setDriver(event.currentTarget.value)} />
          {submit.error && (
            <Alert color="red" title={t(`resources.${kind.noun}.notCreated`)} role="alert">
              {submit.error.message}
            </Alert>
          )}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose} disabled={submit.busy}>
              {t("common:actions.cancel")}
            </Button>
            <Button type="submit" loading={submit.busy} disabled={name === "" || invalid !== undefined}>
              {t("common:actions.create")}
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

/** "Create volume" / "Create network" on their tabs. */
export function CreateResourceButton({ environmentId, kind, onDone }: { environmentId: number; kind: CreateKind; onDone: () => Promise<void> }) {
  const { t } = useTranslation(["docker", "common"]);
  const [open, setOpen] = useState(false);
  return (
    <>
      <Button leftSection={<IconPlus size={16} />} onClick={() => setOpen(true)}>
        {t(`resources.${kind.noun}.create`)}
      </Button>
      {open && <CreateDialog environmentId={environmentId} kind={kind} onClose={() => setOpen(false)} onCreated={onDone} />}
    </>
  );
}

/** A row's confirmed Remove (`DELETE docker/<path>`); the device's refusal is shown whole ("image is being used by …"). */
export function RemoveResourceButton({ environmentId, noun, name, path, onDone }: { environmentId: number; noun: "image" | "volume" | "network"; name: string; path: string; onDone: () => Promise<void> }) {
  const { t } = useTranslation(["docker", "common"]);
  const [confirm, setConfirm] = useState<ConfirmRequest>();
  const ask = () =>
    setConfirm({
      title: t(`resources.${noun}.removeTitle`, { name }),
      message: t(`resources.${noun}.removeMessage`),
      confirmLabel: t(`resources.${noun}.removeConfirm`),
      onConfirm: async () => {
        try {
          await api("DELETE", dockerPath(environmentId, path));
          notifications.show({ color: "green", message: t(`resources.${noun}.removed`, { name }) });
          await onDone();
        } catch (failure) {
          notifications.show({ color: "red", title: t(`resources.${noun}.notRemoved`, { name }), message: messageOf(failure), autoClose: false });
        }
      },
    });
  return (
    <>
      <Button variant="subtle" color="red" size="compact-sm" leftSection={<IconTrash size={14} />} aria-label={t("resources.removeOn", { name })} onClick={ask}>
        {t("common:actions.remove")}
      </Button>
      <ConfirmDialog request={confirm} onClose={() => setConfirm(undefined)} />
    </>
  );
}
