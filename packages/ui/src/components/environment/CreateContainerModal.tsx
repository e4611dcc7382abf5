import { Alert, Button, Group, Modal, Select, Stack, TextInput, Textarea } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useState } from "react";
import { api, messageOf } from "../../api/client.ts";
import { type ContainerForm, FormLineError, containerFormLimits, createBody } from "../../api/container-form.ts";
import { dockerPath } from "./docker-source.ts";

const empty: ContainerForm = { image: "", name: "", command: "", ports: "", env: "", volumes: "", network: "", restart: "no" };
const restartPolicies: ContainerForm["restart"][] = ["no", "always", "unless-stopped", "on-failure"];

/**
 * Creates and starts a container on the device (`POST /containers/create`, then `/start`). The
 * device's refusal (no such image, name taken, port in use) is shown whole; a container created
 * but not started is said so.
 */
export function CreateContainerModal({ environmentId, opened, onClose, onCreated }: { environmentId: number; opened: boolean; onClose: () => void; onCreated: () => Promise<void> }) {
  const [form, setForm] = useState<ContainerForm>(empty);
  const [fieldError, setFieldError] = useState<{ field: keyof ContainerForm; message: string }>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const set = (field: keyof ContainerForm) => (event: { currentTarget: { value: string } }) => {
    // Read now: React clears currentTarget once the handler returns, before the updater runs.
    const value = event.currentTarget.value;
    setForm((current) => ({ ...current, [field]: value }));
  };
  const errorOf = (field: keyof ContainerForm) => (fieldError?.field === field ? fieldError.message : undefined);

  async function submit() {
    setFieldError(undefined);
    setError(undefined);
    let body: Record<string, unknown>;
    try {
      body = createBody(form);
    } catch (failure) {
      if (failure instanceof FormLineError) setFieldError({ field: failure.field, message: failure.message });
      else setError(messageOf(failure));
      return;
    }
    setBusy(true);
    const name = form.name.trim();
    let created: string | undefined;
    try {
      const answer = await api<{ Id: string }>("POST", dockerPath(environmentId, `containers/create${name ? `?name=${encodeURIComponent(name)}` : ""}`), { body });
      created = answer.Id;
      await api("POST", dockerPath(environmentId, `containers/${encodeURIComponent(created)}/start`));
      notifications.show({ color: "green", message: `${name || created.slice(0, 12)} created and started` });
      setForm(empty);
      onClose();
    } catch (failure) {
      setError(created ? `Created ${name || created.slice(0, 12)}, but it did not start: ${messageOf(failure)}` : messageOf(failure));
    } finally {
      setBusy(false);
      await onCreated();
    }
  }

  return (
    <Modal opened={opened} onClose={onClose} title="Create container" size="lg">
      <Stack gap="sm">
        <TextInput label="Image" required placeholder="nginx:1.27" value={form.image} onChange={set("image")} error={errorOf("image")} maxLength={containerFormLimits.image} data-autofocus />
        <TextInput label="Name" placeholder="Docker picks one" value={form.name} onChange={set("name")} error={errorOf("name")} maxLength={containerFormLimits.name} />
        <TextInput label="Command" placeholder="the image's" description='Words as a shell splits them: sh -c "echo hi"' value={form.command} onChange={set("command")} error={errorOf("command")} maxLength={containerFormLimits.command} />
        <Textarea label="Ports" placeholder={"8080:80\n127.0.0.1:5353:53/udp"} description="One a line: host:container, ip:host:container, /udp" autosize minRows={1} value={form.ports} onChange={set("ports")} error={errorOf("ports")} />
        <Textarea label="Environment" placeholder="NAME=value" description="One NAME=value a line" autosize minRows={1} value={form.env} onChange={set("env")} error={errorOf("env")} />
        <Textarea label="Volumes" placeholder={"data:/var/lib/data\n/srv/config:/config:ro"} description="One a line: volume or /host/path, :/container/path, :ro if read-only" autosize minRows={1} value={form.volumes} onChange={set("volumes")} error={errorOf("volumes")} />
        <TextInput label="Network" placeholder="Docker's default bridge" description="none, host, or a network's name" value={form.network} onChange={set("network")} error={errorOf("network")} maxLength={containerFormLimits.network} />
        <Select label="Restart policy" data={restartPolicies} value={form.restart} allowDeselect={false} onChange={(value) => setForm((current) => ({ ...current, restart: value ?? "no" }))} />
        {error && (
          <Alert color="red" role="alert">
            {error}
          </Alert>
        )}
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            Cancel
          </Button>
          <Button loading={busy} onClick={() => void submit()}>
            Create and start
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}
