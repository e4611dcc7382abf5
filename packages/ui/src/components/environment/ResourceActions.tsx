import { Alert, Button, Group, Modal, Progress, Stack, Text, TextInput } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconDownload, IconPlus, IconTrash } from "@tabler/icons-react";
import { type FormEvent, useRef, useState } from "react";
import { api, isAbort, messageOf } from "../../api/client.ts";
import { maxImageReference, type PullProgress, pullImage } from "../../api/docker-pull.ts";
import { formatBytes } from "../../format.ts";
import { useFormSave } from "../../hooks/use-form-save.ts";
import { ConfirmDialog, type ConfirmRequest } from "../ConfirmDialog.tsx";
import { dockerPath } from "./docker-source.ts";

/** The longest volume or network name the dialogs take (Docker's own limit is lower for some drivers; it says so). */
export const maxResourceName = 255;

// Docker's rule for volume and network names: a letter or digit, then letters, digits, _ . -
const resourceName = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function PullDialog({ environmentId, onClose, onPulled }: { environmentId: number; onClose: () => void; onPulled: () => Promise<void> }) {
  const [reference, setReference] = useState("");
  const [progress, setProgress] = useState<PullProgress>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const controller = useRef<AbortController | undefined>(undefined);
  const invalid = reference !== "" && /\s/.test(reference) ? "An image reference has no spaces, e.g. busybox:1.36 or registry.example.com/team/app:2." : undefined;

  async function pull(event: FormEvent) {
    event.preventDefault();
    controller.current = new AbortController();
    setBusy(true);
    setError(undefined);
    try {
      await pullImage(environmentId, reference.trim(), setProgress, controller.current.signal);
      notifications.show({ color: "green", message: `Pulled ${reference.trim()}.` });
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
    <Modal opened onClose={close} title="Pull an image" centered>
      <form onSubmit={(event) => void pull(event)}>
        <Stack>
          <TextInput label="Image" placeholder="busybox:1.36" value={reference} maxLength={maxImageReference} onChange={(event) => setReference(event.currentTarget.value)} error={invalid} disabled={busy} data-autofocus />
          {progress && (
            <Stack gap={4} data-testid="pull-progress">
              <Progress value={percent} aria-label="Pull progress" />
              <Text size="xs" c="dimmed">
                {progress.total > 0 ? `${formatBytes(progress.current)} of ${formatBytes(progress.total)} · ` : ""}
                {progress.layers.size} layer{progress.layers.size === 1 ? "" : "s"}
                {progress.status ? ` · ${progress.status}` : ""}
              </Text>
            </Stack>
          )}
          {error && (
            <Alert color="red" title="The device could not pull the image" role="alert">
              {error}
            </Alert>
          )}
          <Group justify="flex-end">
            <Button variant="default" onClick={close}>
              {busy ? "Stop" : "Cancel"}
            </Button>
            <Button type="submit" loading={busy} disabled={reference.trim() === "" || invalid !== undefined}>
              Pull
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

/** "Pull image" on the Images tab: progress as Docker reports it, its error whole. */
export function PullImageButton({ environmentId, onDone }: { environmentId: number; onDone: () => Promise<void> }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <Button leftSection={<IconDownload size={16} />} onClick={() => setOpen(true)}>
        Pull image
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
  const [driver, setDriver] = useState(kind.defaultDriver);
  const submit = useFormSave();
  const invalid = name !== "" && !resourceName.test(name) ? `A ${kind.noun} name starts with a letter or digit and has only letters, digits, _ . and -.` : undefined;

  const create = (event: FormEvent) => {
    event.preventDefault();
    // Docker's own reason, whole, under the form; what was typed stays.
    void submit.run(async () => {
      await api("POST", dockerPath(environmentId, kind.path), { body: { Name: name, Driver: driver.trim() || kind.defaultDriver, ...(kind.noun === "network" ? { CheckDuplicate: true } : {}) } });
      notifications.show({ color: "green", message: `Created the ${kind.noun} ${name}.` });
      await onCreated();
      onClose();
    });
  };

  return (
    <Modal opened onClose={onClose} title={`Create a ${kind.noun}`} centered>
      <form onSubmit={create}>
        <Stack>
          <TextInput label="Name" value={name} maxLength={maxResourceName} onChange={(event) => setName(event.currentTarget.value)} error={invalid} data-autofocus />
          <TextInput label="Driver" value={driver} maxLength={64} onChange={(event) => setDriver(event.currentTarget.value)} />
          {submit.error && (
            <Alert color="red" title={`The device did not create the ${kind.noun}`} role="alert">
              {submit.error.message}
            </Alert>
          )}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose} disabled={submit.busy}>
              Cancel
            </Button>
            <Button type="submit" loading={submit.busy} disabled={name === "" || invalid !== undefined}>
              Create
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

/** "Create volume" / "Create network" on their tabs. */
export function CreateResourceButton({ environmentId, kind, onDone }: { environmentId: number; kind: CreateKind; onDone: () => Promise<void> }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <Button leftSection={<IconPlus size={16} />} onClick={() => setOpen(true)}>
        Create {kind.noun}
      </Button>
      {open && <CreateDialog environmentId={environmentId} kind={kind} onClose={() => setOpen(false)} onCreated={onDone} />}
    </>
  );
}

/** A row's confirmed Remove (`DELETE docker/<path>`); the device's refusal is shown whole ("image is being used by …"). */
export function RemoveResourceButton({ environmentId, noun, name, path, onDone }: { environmentId: number; noun: string; name: string; path: string; onDone: () => Promise<void> }) {
  const [confirm, setConfirm] = useState<ConfirmRequest>();
  const ask = () =>
    setConfirm({
      title: `Remove the ${noun} ${name}?`,
      message: `The ${noun} is removed from the device's Docker Engine. Docker refuses while something uses it, and says what.`,
      confirmLabel: `Remove ${noun}`,
      onConfirm: async () => {
        try {
          await api("DELETE", dockerPath(environmentId, path));
          notifications.show({ color: "green", message: `Removed the ${noun} ${name}.` });
          await onDone();
        } catch (failure) {
          notifications.show({ color: "red", title: `The ${noun} ${name} was not removed`, message: messageOf(failure), autoClose: false });
        }
      },
    });
  return (
    <>
      <Button variant="subtle" color="red" size="compact-sm" leftSection={<IconTrash size={14} />} aria-label={`Remove ${name}`} onClick={ask}>
        Remove
      </Button>
      <ConfirmDialog request={confirm} onClose={() => setConfirm(undefined)} />
    </>
  );
}
