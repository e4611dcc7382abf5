import { Alert, Badge, Drawer, Group, Text } from "@mantine/core";
import { useEffect, useRef, useState } from "react";
import { api, messageOf } from "../../api/client.ts";
import { followLogs } from "../../api/docker-logs.ts";
import { dockerPath } from "./docker-source.ts";

/** Lines kept in the drawer; older ones scroll out, as in `docker logs --tail`. */
const maxLines = 5000;

/** The container whose logs are shown. */
export interface LogsTarget {
  id: string;
  name: string;
}

function LogsView({ environmentId, target }: { environmentId: number; target: LogsTarget }) {
  const [text, setText] = useState("");
  const [state, setState] = useState<"connecting" | "following" | "ended">("connecting");
  const [error, setError] = useState<string>();
  const pre = useRef<HTMLPreElement>(null);
  const stickToBottom = useRef(true);

  useEffect(() => {
    const controller = new AbortController();
    const { signal } = controller;
    async function follow() {
      const inspect = await api<{ Config?: { Tty?: boolean } }>("GET", dockerPath(environmentId, `containers/${encodeURIComponent(target.id)}/json`), { signal });
      setState("following");
      await followLogs({
        environmentId,
        containerId: target.id,
        tty: inspect.Config?.Tty === true,
        signal,
        onText: (chunk) =>
          setText((current) => {
            const next = current + chunk;
            const lines = next.split("\n");
            return lines.length > maxLines ? lines.slice(-maxLines).join("\n") : next;
          }),
      });
      if (!signal.aborted) setState("ended");
    }
    follow().catch((failure: unknown) => {
      if (signal.aborted) return;
      setError(messageOf(failure));
      setState("ended");
    });
    return () => controller.abort();
  }, [environmentId, target.id]);

  // Follow the end unless the reader scrolled up to read.
  useEffect(() => {
    const element = pre.current;
    if (element && stickToBottom.current) element.scrollTop = element.scrollHeight;
  }, [text]);

  return (
    <>
      <Group gap="xs" mb="xs">
        <Badge color={state === "following" ? "green" : "gray"} variant="light">
          {state === "following" ? "following live" : state === "connecting" ? "connecting…" : "stream ended"}
        </Badge>
        <Text size="xs" c="dimmed">
          last 200 lines, then new ones as they come
        </Text>
      </Group>
      {error && (
        <Alert color="red" mb="xs" role="alert">
          {error}
        </Alert>
      )}
      <pre
        ref={pre}
        role="log"
        aria-label={`Log output of ${target.name}`}
        tabIndex={0}
        onScroll={(event) => {
          const element = event.currentTarget;
          stickToBottom.current = element.scrollHeight - element.scrollTop - element.clientHeight < 24;
        }}
        style={{
          margin: 0,
          height: "calc(100vh - 140px)",
          overflow: "auto",
          padding: "var(--mantine-spacing-sm)",
          background: "var(--mantine-color-dark-8)",
          color: "var(--mantine-color-gray-2)",
          borderRadius: "var(--mantine-radius-md)",
          fontSize: 12,
          lineHeight: 1.45,
          whiteSpace: "pre-wrap",
          wordBreak: "break-all",
        }}
      >
        {text}
      </pre>
    </>
  );
}

/** A drawer following a container's logs live; closing it (Escape) stops the stream. */
export function LogsDrawer({ environmentId, target, onClose }: { environmentId: number; target: LogsTarget | undefined; onClose: () => void }) {
  return (
    <Drawer opened={target !== undefined} onClose={onClose} position="right" size="xl" title={target ? `Logs of ${target.name}` : ""} styles={{ title: { fontWeight: 600 } }}>
      {target && <LogsView key={target.id} environmentId={environmentId} target={target} />}
    </Drawer>
  );
}
