import { Button, Code, Group, Stack, Text } from "@mantine/core";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { api, messageOf } from "../../api/client.ts";
import type { Endpoint } from "../../api/types.ts";
import { CopyTextButton } from "../CopyTextButton.tsx";

/**
 * Makes a new EDGE_KEY for an environment no device has used yet and shows it once: the server
 * keeps only a hash of its secret, so the key shown at creation cannot be shown again. The
 * previous key stops working.
 */
export function NewEdgeKey({ environmentId }: { environmentId: number }) {
  const { t } = useTranslation("docker");
  const [key, setKey] = useState<string>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  async function makeKey() {
    setBusy(true);
    setError(undefined);
    try {
      const environment = await api<Endpoint>("POST", `/api/endpoints/${environmentId}/edge/key`);
      setKey(environment.EdgeKey);
    } catch (failure) {
      setError(messageOf(failure));
    } finally {
      setBusy(false);
    }
  }

  if (key) {
    return (
      <Stack gap={4}>
        <Group justify="space-between">
          <Text size="sm" fw={500}>
            {t("edgeKey.shownOnce")}
          </Text>
          <CopyTextButton value={key} />
        </Group>
        <Code block data-testid="new-edge-key" style={{ wordBreak: "break-all", whiteSpace: "pre-wrap" }}>
          {key}
        </Code>
      </Stack>
    );
  }
  return (
    <Stack gap={4} align="flex-start">
      <Button size="xs" variant="default" loading={busy} onClick={() => void makeKey()}>
        {t("edgeKey.make")}
      </Button>
      {error && (
        <Text size="sm" c="red" role="alert">
          {error}
        </Text>
      )}
    </Stack>
  );
}
