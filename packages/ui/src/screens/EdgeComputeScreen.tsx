import { Button, Code, Group, NumberInput, Paper, Stack, Switch, TextInput, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { type FormEvent, useEffect, useState } from "react";
import { Trans, useTranslation } from "react-i18next";
import { ApiError, api, messageOf } from "../api/client.ts";
import type { Settings } from "../api/types.ts";
import { LoadError } from "../components/LoadError.tsx";
import { MtlsSection } from "../components/MtlsSection.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { PageLoader } from "../components/PageLoader.tsx";
import { usePolling } from "../hooks/use-polling.ts";
import { usePageTitle } from "../hooks/use-page-title.ts";

// Examples of the addresses, the same in every language (the inputs are marked `data-untranslated`
// for the language check of the browser tests: they hold addresses).
const urlExample = "https://pier.example.com:9443";
const tunnelExample = "pier.example.com:8000";

interface SettingsForm {
  enabled: boolean;
  interval: number | string;
  devicesWait: boolean;
  reissueWithin: number | string;
  url: string;
  tunnel: string;
}

function formOf(settings: Settings): SettingsForm {
  return { enabled: settings.EnableEdgeComputeFeatures, interval: settings.EdgeAgentCheckinInterval, devicesWait: !settings.TrustOnFirstConnect, reissueWithin: settings.AutoReissueWithinSeconds, url: settings.EdgePortainerUrl, tunnel: settings.Edge.TunnelServerAddress };
}

// The server names the body field it refuses (`EdgePortainerUrl`, `Edge.TunnelServerAddress`…).
function fieldOf(error: unknown): keyof SettingsForm | undefined {
  const field = error instanceof ApiError ? (error.field ?? "") : "";
  if (field.includes("Interval")) return "interval";
  if (field.includes("Reissue")) return "reissueWithin";
  if (field.includes("Url")) return "url";
  if (field.includes("Tunnel")) return "tunnel";
  return undefined;
}

/** `/settings/edge`: the Edge Compute settings and the separate mTLS certificate. */
export function EdgeComputeScreen() {
  const { t } = useTranslation("pki");
  usePageTitle(t("edgeCompute.title"));
  const settings = usePolling((signal) => api<Settings>("GET", "/api/settings", { signal }), 0);
  const [form, setForm] = useState<SettingsForm>();
  const [error, setError] = useState<{ field?: keyof SettingsForm; message: string }>();
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (settings.data) setForm(formOf(settings.data));
  }, [settings.data]);

  async function save(event: FormEvent) {
    event.preventDefault();
    if (!form) return;
    setBusy(true);
    setError(undefined);
    try {
      const saved = await api<Settings>("PUT", "/api/settings", {
        body: { EnableEdgeComputeFeatures: form.enabled, EdgeAgentCheckinInterval: Number(form.interval), TrustOnFirstConnect: !form.devicesWait, AutoReissueWithinSeconds: Number(form.reissueWithin), EdgePortainerUrl: form.url.trim(), Edge: { TunnelServerAddress: form.tunnel.trim() } },
      });
      setForm(formOf(saved));
      notifications.show({ color: "green", message: t("edgeCompute.saved") });
    } catch (failure) {
      const field = fieldOf(failure);
      setError({ ...(field ? { field } : {}), message: messageOf(failure) });
    } finally {
      setBusy(false);
    }
  }

  const update = (patch: Partial<SettingsForm>) => setForm((current) => (current ? { ...current, ...patch } : current));
  const fieldError = (field: keyof SettingsForm) => (error?.field === field ? error.message : undefined);

  return (
    <>
      <PageHeader title={t("edgeCompute.title")} description={t("edgeCompute.description")} />
      <LoadError message={settings.error} />
      <Stack gap="lg" maw={860}>
        {!form ? (
          <PageLoader />
        ) : (
          <Paper withBorder radius="md" p="lg" component="form" onSubmit={(event: FormEvent) => void save(event)}>
            <Stack>
              <Title order={2} size="h3">{t("edgeCompute.settings")}</Title>
              <Switch label={t("edgeCompute.enabled.label")} description={<Trans t={t} i18nKey="edgeCompute.enabled.description" components={{ code: <Code /> }} />} checked={form.enabled} onChange={(event) => update({ enabled: event.currentTarget.checked })} />
              <Switch
                label={t("edgeCompute.devicesWait.label")}
                description={<Trans t={t} i18nKey="edgeCompute.devicesWait.description" components={{ code: <Code /> }} />}
                checked={form.devicesWait}
                onChange={(event) => update({ devicesWait: event.currentTarget.checked })}
              />
              <NumberInput label={t("edgeCompute.interval.label")} description={t("edgeCompute.interval.description")} min={1} max={3600} allowDecimal={false} value={form.interval} onChange={(value) => update({ interval: value })} error={fieldError("interval")} w={320} />
              <NumberInput
                label={t("edgeCompute.reissueWithin.label")}
                description={t("edgeCompute.reissueWithin.description")}
                min={0}
                max={397 * 86_400}
                allowDecimal={false}
                value={form.reissueWithin}
                onChange={(value) => update({ reissueWithin: value })}
                error={fieldError("reissueWithin")}
                w={320}
              />
              <TextInput label={t("edgeCompute.url.label")} description={<Trans t={t} i18nKey="edgeCompute.url.description" components={{ code: <Code /> }} />} placeholder={urlExample} value={form.url} onChange={(event) => update({ url: event.currentTarget.value })} error={fieldError("url")} data-untranslated />
              <TextInput label={t("edgeCompute.tunnel.label")} description={<Trans t={t} i18nKey="edgeCompute.tunnel.description" components={{ code: <Code /> }} />} placeholder={tunnelExample} value={form.tunnel} onChange={(event) => update({ tunnel: event.currentTarget.value })} error={fieldError("tunnel")} data-untranslated />
              {error && !error.field && <LoadError message={error.message} />}
              <Group>
                <Button type="submit" loading={busy}>
                  {t("edgeCompute.save")}
                </Button>
              </Group>
            </Stack>
          </Paper>
        )}
        <MtlsSection />
      </Stack>
    </>
  );
}
