import { Alert, Code, Group, Paper, Stack, Text, Title } from "@mantine/core";
import { type EdgeKey, encodeEdgeKey } from "@pier/protocol/wire";
import { type AgentTarget, type EnrollmentFlow, agentCommand, flowSentences } from "../agent-command.ts";
import { messageOf } from "../api/client.ts";
import type { Endpoint } from "../api/types.ts";
import { CopyTextButton } from "./CopyTextButton.tsx";

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

/** The enrolment command of a new environment, its EDGE_KEY and EDGE_ID, and a Copy button. */
export function AgentCommandPanel(props: AgentCommandPanelProps) {
  const result = keyFor(props);
  if ("error" in result) {
    return (
      <Alert color="red" title="The key cannot be made with these addresses" role="alert">
        {result.error}
      </Alert>
    );
  }
  const command = agentCommand({ target: props.target, edgeId: props.edgeId, edgeKey: result.key, flow: props.flow });
  return (
    <Paper withBorder radius="md" p="lg">
      <Stack>
        <Group justify="space-between">
          <Title order={4}>Run this on the device</Title>
          <CopyTextButton value={command} />
        </Group>
        <Code block data-testid="agent-command" style={{ whiteSpace: "pre-wrap", wordBreak: "break-all" }}>
          {command}
        </Code>
        <Text size="sm" data-testid="enrollment-flow">
          {flowSentences[props.flow]}
          {props.flow === "operator" ? " (ca.crt, agent.crt, agent.key)" : ""}
        </Text>
        <Text size="sm" c="dimmed">
          {props.environment.UserTrusted ? `The first device to use this key becomes ${props.environment.Name}.` : `The first device to use this key becomes ${props.environment.Name} and waits in the Waiting Room until you associate it.`}{" "}
          Copy it now: the key carries a secret that is shown only here (the server keeps a hash of it).
        </Text>
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
