import { Alert, Code, Group, Paper, Stack, Text, Title } from "@mantine/core";
import { type EdgeKey, encodeEdgeKey } from "@pier/protocol/wire";
import { useTranslation } from "react-i18next";
import { type AgentTarget, type EnrollmentFlow, agentCommands, agentImageProblem, flowSentences, loopbackWarning } from "../agent-command.ts";
import { messageOf } from "../api/client.ts";
import type { Endpoint } from "../api/types.ts";
import { CopyTextButton } from "./CopyTextButton.tsx";
import { DeviceCheckIn } from "./DeviceCheckIn.tsx";

/** What the panel shows the command for. */
export interface AgentCommandPanelProps {
  environment: Endpoint;
  /** The created environment's key as the server made it (fingerprint and id are kept). */
  serverKey: EdgeKey;
  edgeId: string;
  apiUrl: string;
  tunnelAddress: string;
  target: AgentTarget;
  flow: EnrollmentFlow;
  /** The agent image of the container targets. */
  image: string;
}

// The addresses typed in the form replace the server's defaults in the key; the fingerprint
// and environment id stay the server's.
function keyFor({ serverKey, apiUrl, tunnelAddress }: AgentCommandPanelProps): { key: string } | { error: string } {
  try {
    return { key: encodeEdgeKey({ ...serverKey, apiUrl: apiUrl.trim() || serverKey.apiUrl, tunnelAddress: tunnelAddress.trim() || serverKey.tunnelAddress }) };
  } catch (error) {
    return { error: messageOf(error) };
  }
}

// The files an operator CA's device needs: names, shown as code in every language.
const operatorFiles = ["ca.crt", "agent.crt", "agent.key"];

function OperatorFiles() {
  return (
    <>
      {" ("}
      {operatorFiles.map((file, index) => (
        <span key={file}>
          {index > 0 && ", "}
          <Code>{file}</Code>
        </span>
      ))}
      {")"}
    </>
  );
}

function CannotMake({ children }: { children: string }) {
  const { t } = useTranslation("environments");
  return (
    <Alert color="red" title={t("agent.panel.cannotMake")} role="alert">
      {children}
    </Alert>
  );
}

/** The commands, each with its own Copy button, and one for all of them when there are several. */
function CommandList({ commands }: { commands: string[] }) {
  const several = commands.length > 1;
  const { t } = useTranslation("environments");
  return (
    <Stack gap="xs" data-testid="agent-commands">
      {commands.map((command, index) => (
        <Group key={command} gap="xs" align="flex-start" wrap="nowrap">
          <Code block style={{ whiteSpace: "pre-wrap", wordBreak: "break-all", flex: 1 }} data-testid={several ? `agent-command-${index + 1}` : "agent-command"}>
            {command}
          </Code>
          <CopyTextButton value={command} {...(several ? { label: t("agent.panel.copyOne", { index: index + 1, count: commands.length }) } : {})} />
        </Group>
      ))}
    </Stack>
  );
}

/** The enrolment commands of a new environment, its EDGE_KEY and EDGE_ID, and whether the device has checked in yet. */
export function AgentCommandPanel(props: AgentCommandPanelProps) {
  const { t } = useTranslation("environments");
  const result = keyFor(props);
  if ("error" in result) return <CannotMake>{result.error}</CannotMake>;
  const imageProblem = props.target === "linux" ? undefined : agentImageProblem(props.image);
  if (imageProblem) return <CannotMake>{imageProblem}</CannotMake>;
  const commands = agentCommands({ target: props.target, edgeId: props.edgeId, edgeKey: result.key, flow: props.flow, image: props.image });
  const unreachable = loopbackWarning(props);
  return (
    <Paper withBorder radius="md" p="lg">
      <Stack>
        <Group justify="space-between">
          <Title order={2} size="h4">
            {t("agent.panel.title")}
          </Title>
          {commands.length > 1 && <CopyTextButton value={commands.join("\n")} label={t("agent.panel.copyAll")} />}
        </Group>
        {unreachable && (
          <Alert color="yellow" title={t("agent.panel.unreachable")} data-testid="loopback-warning">
            {unreachable}
          </Alert>
        )}
        <CommandList commands={commands} />
        {props.target === "kubernetes" && props.flow !== "operator" && (
          <Text size="sm" data-testid="helm-ca">
            {t(props.flow === "built-in" ? "agent.panel.helmCa.builtIn" : "agent.panel.helmCa.token")}
          </Text>
        )}
        <Text size="sm" data-testid="enrollment-flow">
          {flowSentences[props.flow]}
          {props.flow === "operator" && <OperatorFiles />}
        </Text>
        <Text size="sm" c="dimmed">
          {t(props.environment.UserTrusted ? "agent.panel.firstDeviceTrusted" : "agent.panel.firstDeviceWaits", { name: props.environment.Name })}
        </Text>
        <DeviceCheckIn environment={props.environment} />
        <Stack gap={4}>
          <Text size="sm" fw={500} data-untranslated>
            EDGE_ID
          </Text>
          <Code block>{props.edgeId}</Code>
        </Stack>
        <Stack gap={4}>
          <Text size="sm" fw={500} data-untranslated>
            EDGE_KEY
          </Text>
          <Code block style={{ wordBreak: "break-all", whiteSpace: "pre-wrap" }}>
            {result.key}
          </Code>
        </Stack>
      </Stack>
    </Paper>
  );
}
