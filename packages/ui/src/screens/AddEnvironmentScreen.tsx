import { Alert, Button, Checkbox, Code, Grid, Group, Paper, Radio, SimpleGrid, Stack, TextInput, Title } from "@mantine/core";
import { decodeEdgeKey, type EdgeKey } from "@pier/protocol/wire";
import { IconRefresh } from "@tabler/icons-react";
import { type FormEvent, useEffect, useState } from "react";
import { Trans, useTranslation } from "react-i18next";
import { api, isAbort, messageOf } from "../api/client.ts";
import type { Certificates, Endpoint, MtlsState } from "../api/types.ts";
import { type AgentTarget, type EnrollmentFlow, agentImageProblem, agentTargets, defaultAgentImage, enrollmentFlow, flowSentences, maxAgentImageLength, randomEdgeId } from "../agent-command.ts";
import { AgentCommandPanel } from "../components/AgentCommandPanel.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { usePageTitle } from "../hooks/use-page-title.ts";

// What the address fields show before the server's defaults arrive: addresses, not words (their
// inputs are marked `data-untranslated` for the language check of the browser tests).
const exampleApiUrl = "https://pier.example.com:9443";
const exampleTunnelAddress = "pier.example.com:8000";

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
  const { t } = useTranslation(["environments", "common"]);
  usePageTitle(t("addEnvironment.title"));
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
      if (!environment.EdgeKey) throw new Error(t("addEnvironment.noEdgeKey"));
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
      <PageHeader title={t("addEnvironment.title")} description={t("addEnvironment.description")} />
      <Grid gap="lg">
        <Grid.Col span={{ base: 12, lg: 5 }}>
          <Paper withBorder radius="md" p="lg" component="form" onSubmit={(event: FormEvent) => void handleCreate(event)}>
            <Stack>
              <TextInput label={t("addEnvironment.name")} required withAsterisk={false} value={name} onChange={(event) => setName(event.currentTarget.value)} disabled={created !== undefined} placeholder={t("addEnvironment.namePlaceholder")} />
              <TextInput
                label={t("addEnvironment.edgeId")}
                description={t("addEnvironment.edgeIdHelp")}
                value={edgeId}
                onChange={(event) => setEdgeId(event.currentTarget.value)}
                rightSection={
                  <Button variant="subtle" size="compact-xs" px={4} onClick={() => setEdgeId(randomEdgeId())} aria-label={t("addEnvironment.randomEdgeId")} title={t("addEnvironment.randomEdgeId")}>
                    <IconRefresh size={14} />
                  </Button>
                }
              />
              <TextInput label={t("addEnvironment.apiUrl")} description={t("addEnvironment.apiUrlHelp")} value={apiUrl} onChange={(event) => setApiUrl(event.currentTarget.value)} placeholder={defaults?.apiUrl ?? exampleApiUrl} data-untranslated />
              <TextInput label={t("addEnvironment.tunnelAddress")} description={t("addEnvironment.tunnelAddressHelp")} value={tunnelAddress} onChange={(event) => setTunnelAddress(event.currentTarget.value)} placeholder={defaults?.tunnelAddress ?? exampleTunnelAddress} data-untranslated />
              <Radio.Group label={t("addEnvironment.target")} value={target} onChange={setTarget}>
                <SimpleGrid cols={2} spacing="xs" verticalSpacing="xs" mt="xs">
                  {agentTargets.map((option) => (
                    <Radio key={option.value} value={option.value} label={option.label()} />
                  ))}
                </SimpleGrid>
              </Radio.Group>
              {target !== "linux" && (
                <TextInput
                  label={t("addEnvironment.image")}
                  description={<Trans t={t} i18nKey="addEnvironment.imageHelp" components={{ code: <Code /> }} />}
                  value={image}
                  maxLength={maxAgentImageLength + 1}
                  onChange={(event) => setImage(event.currentTarget.value.trim())}
                  error={agentImageProblem(image)}
                />
              )}
              <Checkbox label={t("addEnvironment.waits")} checked={waits} onChange={(event) => setWaits(event.currentTarget.checked)} disabled={created !== undefined} />
              {error && (
                <Alert color="red" role="alert">
                  {error}
                </Alert>
              )}
              <Group>
                {created ? (
                  <Button variant="default" onClick={startOver}>
                    {t("addEnvironment.another")}
                  </Button>
                ) : (
                  <Button type="submit" loading={busy} disabled={name.trim() === ""}>
                    {t("common:actions.create")}
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
                {t("addEnvironment.command.title")}
              </Title>
              <Alert variant="transparent" p={0} mt="xs" color="gray">
                {t("addEnvironment.command.hint")}
              </Alert>
              {defaults && (
                <Alert variant="light" mt="md" color="blue" title={t("addEnvironment.command.flowTitle")}>
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
