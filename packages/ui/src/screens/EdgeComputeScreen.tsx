import { Button, Group, NumberInput, Paper, Stack, Switch, TextInput, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { type FormEvent, useEffect, useState } from "react";
import { ApiError, api, messageOf } from "../api/client.ts";
import type { Settings } from "../api/types.ts";
import { LoadError } from "../components/LoadError.tsx";
import { MtlsSection } from "../components/MtlsSection.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { PageLoader } from "../components/PageLoader.tsx";
import { usePolling } from "../hooks/use-polling.ts";
import { usePageTitle } from "../hooks/use-page-title.ts";

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
  usePageTitle("Edge Compute");
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
      notifications.show({ color: "green", message: "Settings saved" });
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
      <PageHeader title="Edge Compute" description="How devices connect: check-in interval, association, the addresses put in new keys, and the certificate of the mTLS domain." />
      <LoadError message={settings.error} />
      <Stack gap="lg" maw={860}>
        {!form ? (
          <PageLoader />
        ) : (
          <Paper withBorder radius="md" p="lg" component="form" onSubmit={(event: FormEvent) => void save(event)}>
            <Stack>
              <Title order={2} size="h3">Settings</Title>
              <Switch label="Enable Edge Compute features" description="Portainer's setting (EnableEdgeComputeFeatures), kept for its API: Pier's agents, edge stacks and edge jobs work whether it is on or off." checked={form.enabled} onChange={(event) => update({ enabled: event.currentTarget.checked })} />
              <Switch
                label="Devices wait in the Waiting Room"
                description="Off: a device with a valid fleet key is associated on its first connection (TrustOnFirstConnect)."
                checked={form.devicesWait}
                onChange={(event) => update({ devicesWait: event.currentTarget.checked })}
              />
              <NumberInput label="Check-in interval (seconds)" description="Three missed intervals end a session." min={1} max={3600} allowDecimal={false} value={form.interval} onChange={(value) => update({ interval: value })} error={fieldError("interval")} w={320} />
              <NumberInput
                label="Re-issue expired certificates within (seconds)"
                description="An associated device whose built-in CA certificate expired less than this long ago gets a new one without the Waiting Room (0: off, it goes back to the Waiting Room)."
                min={0}
                max={397 * 86_400}
                allowDecimal={false}
                value={form.reissueWithin}
                onChange={(value) => update({ reissueWithin: value })}
                error={fieldError("reissueWithin")}
                w={320}
              />
              <TextInput label="Edge API server URL" description="Put in new keys instead of this server's own address (empty: the server's --edge-api-url, else the address you use now, or the mTLS domain)." placeholder="https://pier.example.com:9443" value={form.url} onChange={(event) => update({ url: event.currentTarget.value })} error={fieldError("url")} />
              <TextInput label="Tunnel server address" description="host:port of the tunnel listener put in new keys (empty: the server's --edge-tunnel-address, else the API host and the tunnel port)." placeholder="pier.example.com:8000" value={form.tunnel} onChange={(event) => update({ tunnel: event.currentTarget.value })} error={fieldError("tunnel")} />
              {error && !error.field && <LoadError message={error.message} />}
              <Group>
                <Button type="submit" loading={busy}>
                  Save settings
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
