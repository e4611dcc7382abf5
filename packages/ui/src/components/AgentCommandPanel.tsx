import { Alert, Code, Group, Paper, Stack, Text, Title } from "@mantine/core";
import { type EdgeKey, encodeEdgeKey } from "@pier/protocol/wire";
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

function CannotMake({ children }: { children: string }) {
  return (
    <Alert color="red" title="The command cannot be made with these values" role="alert">
      {children}
    </Alert>
  );
}

/** The commands, each with its own Copy button, and one for all of them when there are several. */
function CommandList({ commands }: { commands: string[] }) {
  const several = commands.length > 1;
  return (
    <Stack gap="xs" data-testid="agent-commands">
      {commands.map((command, index) => (
        <Group key={command} gap="xs" align="flex-start" wrap="nowrap">
          <Code block style={{ whiteSpace: "pre-wrap", wordBreak: "break-all", flex: 1 }} data-testid={several ? `agent-command-${index + 1}` : "agent-command"}>
            {command}
          </Code>
          <CopyTextButton value={command} {...(several ? { label: `Copy command ${index + 1} of ${commands.length}` } : {})} />
        </Group>
      ))}
    </Stack>
  );
}

/** The enrolment commands of a new environment, its EDGE_KEY and EDGE_ID, and whether the device has checked in yet. */
export function AgentCommandPanel(props: AgentCommandPanelProps) {
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
            Run this on the device
          </Title>
          {commands.length > 1 && <CopyTextButton value={commands.join("\n")} label="Copy all commands" />}
        </Group>
        {unreachable && (
          <Alert color="yellow" title="The device cannot reach this address" data-testid="loopback-warning">
            {unreachable}
          </Alert>
        )}
        <CommandList commands={commands} />
        <Text size="sm" data-testid="enrollment-flow">
          {flowSentences[props.flow]}
          {props.flow === "operator" ? " (ca.crt, agent.crt, agent.key)" : ""}
        </Text>
        <Text size="sm" c="dimmed">
          {props.environment.UserTrusted ? `The first device to use this key becomes ${props.environment.Name}.` : `The first device to use this key becomes ${props.environment.Name} and waits in the Waiting Room until you associate it.`}{" "}
          Copy it now: the key carries a secret that is shown only here (the server keeps a hash of it).
        </Text>
        <DeviceCheckIn environment={props.environment} />
        <Stack gap={4}>
          <Text size="sm" fw={500}>
            EDGE_ID
          </Text>
          <Code block>{props.edgeId}</Code>
        </Stack>
        <Stack gap={4}>
          <Text size="sm" fw={500}>
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
