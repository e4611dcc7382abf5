import { Alert, Button, Checkbox, Grid, Group, Paper, Radio, SimpleGrid, Stack, TextInput, Title } from "@mantine/core";
import { decodeEdgeKey, type EdgeKey } from "@pier/protocol/wire";
import { IconRefresh } from "@tabler/icons-react";
import { type FormEvent, useEffect, useState } from "react";
import { api, isAbort, messageOf } from "../api/client.ts";
import type { Certificates, Endpoint, MtlsState } from "../api/types.ts";
import { type AgentTarget, type EnrollmentFlow, agentImageProblem, agentTargets, defaultAgentImage, enrollmentFlow, flowSentences, maxAgentImageLength, randomEdgeId } from "../agent-command.ts";
import { AgentCommandPanel } from "../components/AgentCommandPanel.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { usePageTitle } from "../hooks/use-page-title.ts";

/** The addresses the server would put in a key, and how a new device gets its identity. */
interface ServerDefaults {
  apiUrl: string;
  tunnelAddress: string;
  flow: EnrollmentFlow;
}

async function loadDefaults(signal: AbortSignal): Promise<ServerDefaults> {
  // A fleet key carries the server's own defaults (the mTLS domain when one is configured).
  const [{ edgeKey }, mtls, certificates] = await Promise.all([
    api<{ edgeKey: string }>("POST", "/api/endpoints/edge/generate-key", { body: {}, signal }),
    api<MtlsState>("GET", "/api/settings/edge/mtls", { signal }),
    api<Certificates>("GET", "/api/certificates", { signal }),
  ]);
  const key = decodeEdgeKey(edgeKey);
  return { apiUrl: key.apiUrl, tunnelAddress: key.tunnelAddress, flow: enrollmentFlow({ mtlsSource: mtls.Source, builtInCa: certificates.CA !== null }) };
}

/** `/environments/new`: creates an environment with its own key and shows the command that enrols the device. */
export function AddEnvironmentScreen() {
  usePageTitle("Add environment");
  const [name, setName] = useState("");
  const [edgeId, setEdgeId] = useState(randomEdgeId);
  const [apiUrl, setApiUrl] = useState("");
  const [tunnelAddress, setTunnelAddress] = useState("");
  const [target, setTarget] = useState<AgentTarget>("standalone");
  const [image, setImage] = useState(defaultAgentImage);
  const [waits, setWaits] = useState(true);
  const [defaults, setDefaults] = useState<ServerDefaults>();
  const [created, setCreated] = useState<{ environment: Endpoint; key: EdgeKey }>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const controller = new AbortController();
    loadDefaults(controller.signal).then(
      (loaded) => {
        setDefaults(loaded);
        setApiUrl(loaded.apiUrl);
        setTunnelAddress(loaded.tunnelAddress);
      },
      (failure: unknown) => {
        if (!isAbort(failure)) setError(messageOf(failure));
      },
    );
    return () => controller.abort();
  }, []);

  async function handleCreate(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const environment = await api<Endpoint>("POST", "/api/endpoints", { body: { Name: name.trim(), UserTrusted: !waits } });
      if (!environment.EdgeKey) throw new Error("The server created the environment without an EdgeKey; update the server.");
      setCreated({ environment, key: decodeEdgeKey(environment.EdgeKey) });
    } catch (failure) {
      setError(messageOf(failure));
    } finally {
      setBusy(false);
    }
  }

  function startOver() {
    setCreated(undefined);
    setName("");
    setEdgeId(randomEdgeId());
  }

  return (
    <>
      <PageHeader title="Add environment" description="Create an environment with its own key, then run the command on the device: its agent connects out to this server over mutual TLS." />
      <Grid gap="lg">
        <Grid.Col span={{ base: 12, lg: 5 }}>
          <Paper withBorder radius="md" p="lg" component="form" onSubmit={(event: FormEvent) => void handleCreate(event)}>
            <Stack>
              <TextInput label="Name" required withAsterisk={false} value={name} onChange={(event) => setName(event.currentTarget.value)} disabled={created !== undefined} placeholder="e.g. shop-42-router" />
              <TextInput
                label="Edge ID"
                description="The device's identity; keep the random one or type your own."
                value={edgeId}
                onChange={(event) => setEdgeId(event.currentTarget.value)}
                rightSection={
                  <Button variant="subtle" size="compact-xs" px={4} onClick={() => setEdgeId(randomEdgeId())} aria-label="Generate a random one" title="Generate a random one">
                    <IconRefresh size={14} />
                  </Button>
                }
              />
              <TextInput label="API server URL" description="Where the agent reaches this server's HTTPS API." value={apiUrl} onChange={(event) => setApiUrl(event.currentTarget.value)} placeholder={defaults?.apiUrl ?? "https://pier.example.com:9443"} />
              <TextInput label="Tunnel address" description="host:port of the tunnel listener." value={tunnelAddress} onChange={(event) => setTunnelAddress(event.currentTarget.value)} placeholder={defaults?.tunnelAddress ?? "pier.example.com:8000"} />
              <Radio.Group label="Target" value={target} onChange={setTarget}>
                <SimpleGrid cols={2} spacing="xs" verticalSpacing="xs" mt="xs">
                  {agentTargets.map((option) => (
                    <Radio key={option.value} value={option.value} label={option.label} />
                  ))}
                </SimpleGrid>
              </Radio.Group>
              {target !== "linux" && (
                <TextInput
                  label="Agent image"
                  description="As scripts/build-images.ts tags it on the device's host, or your registry's name for it."
                  value={image}
                  maxLength={maxAgentImageLength + 1}
                  onChange={(event) => setImage(event.currentTarget.value.trim())}
                  error={agentImageProblem(image)}
                />
              )}
              <Checkbox label="Device waits in the Waiting Room until associated" checked={waits} onChange={(event) => setWaits(event.currentTarget.checked)} disabled={created !== undefined} />
              {error && (
                <Alert color="red" role="alert">
                  {error}
                </Alert>
              )}
              <Group>
                {created ? (
                  <Button variant="default" onClick={startOver}>
                    Add another environment
                  </Button>
                ) : (
                  <Button type="submit" loading={busy} disabled={name.trim() === ""}>
                    Create
                  </Button>
                )}
              </Group>
            </Stack>
          </Paper>
        </Grid.Col>
        <Grid.Col span={{ base: 12, lg: 7 }}>
          {created ? (
            <AgentCommandPanel environment={created.environment} serverKey={created.key} edgeId={edgeId} apiUrl={apiUrl} tunnelAddress={tunnelAddress} target={target} flow={defaults?.flow ?? "built-in"} image={image} />
          ) : (
            <Paper withBorder radius="md" p="lg" bg="light-dark(var(--mantine-color-gray-0), var(--mantine-color-dark-6))">
              <Title order={2} size="h4">
                The command
              </Title>
              <Alert variant="transparent" p={0} mt="xs" color="gray">
                Fill in the form and press Create: the command that installs and enrols the agent appears here.
              </Alert>
              {defaults && (
                <Alert variant="light" mt="md" color="blue" title="How the device gets its identity">
                  {flowSentences[defaults.flow]}
                </Alert>
              )}
            </Paper>
          )}
        </Grid.Col>
      </Grid>
    </>
  );
}
