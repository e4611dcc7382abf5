import { Alert, Button, Group, Modal, Select, Stack, TextInput, Textarea } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { api, messageOf } from "../../api/client.ts";
import { type ContainerForm, FormLineError, containerFormLimits, createBody } from "../../api/container-form.ts";
import { dockerPath } from "./docker-source.ts";

const empty: ContainerForm = { image: "", name: "", command: "", ports: "", env: "", volumes: "", network: "", restart: "no" };
const restartPolicies: ContainerForm["restart"][] = ["no", "always", "unless-stopped", "on-failure"];

// Examples of what the fields take: Docker's syntax, the same in every language.
const examples = { image: "nginx:1.27", ports: "8080:80\n127.0.0.1:5353:53/udp", env: "NAME=value", volumes: "data:/var/lib/data\n/srv/config:/config:ro" };

/**
 * Creates and starts a container on the device (`POST /containers/create`, then `/start`). The
 * device's refusal (no such image, name taken, port in use) is shown whole; a container created
 * but not started is said so.
 */
export function CreateContainerModal({ environmentId, opened, onClose, onCreated }: { environmentId: number; opened: boolean; onClose: () => void; onCreated: () => Promise<void> }) {
  const { t } = useTranslation(["docker", "common"]);
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
      notifications.show({ color: "green", message: t("create.started", { name: name || created.slice(0, 12) }) });
      setForm(empty);
      onClose();
    } catch (failure) {
      setError(created ? t("create.notStarted", { name: name || created.slice(0, 12), message: messageOf(failure) }) : messageOf(failure));
    } finally {
      setBusy(false);
      await onCreated();
    }
  }

  return (
    <Modal opened={opened} onClose={onClose} title={t("create.title")} size="lg">
      <Stack gap="sm">
        <TextInput label={t("create.image")} required placeholder={examples.image} value={form.image} onChange={set("image")} error={errorOf("image")} maxLength={containerFormLimits.image} data-autofocus />
        <TextInput label={t("create.name")} placeholder={t("create.namePlaceholder")} value={form.name} onChange={set("name")} error={errorOf("name")} maxLength={containerFormLimits.name} />
        <TextInput label={t("create.command")} placeholder={t("create.commandPlaceholder")} description={t("create.commandHint")} value={form.command} onChange={set("command")} error={errorOf("command")} maxLength={containerFormLimits.command} />
        <Textarea label={t("create.ports")} placeholder={examples.ports} description={t("create.portsHint")} autosize minRows={1} value={form.ports} onChange={set("ports")} error={errorOf("ports")} />
        <Textarea label={t("create.env")} placeholder={examples.env} description={t("create.envHint")} autosize minRows={1} value={form.env} onChange={set("env")} error={errorOf("env")} />
        <Textarea label={t("create.volumes")} placeholder={examples.volumes} description={t("create.volumesHint")} autosize minRows={1} value={form.volumes} onChange={set("volumes")} error={errorOf("volumes")} />
        <TextInput label={t("create.network")} placeholder={t("create.networkPlaceholder")} description={t("create.networkHint")} value={form.network} onChange={set("network")} error={errorOf("network")} maxLength={containerFormLimits.network} />
        <Select label={t("create.restartPolicy")} data={restartPolicies} value={form.restart} allowDeselect={false} onChange={(value) => setForm((current) => ({ ...current, restart: value ?? "no" }))} />
        {error && (
          <Alert color="red" role="alert">
            {error}
          </Alert>
        )}
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            {t("common:actions.cancel")}
          </Button>
          <Button loading={busy} onClick={() => void submit()}>
            {t("create.submit")}
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}
