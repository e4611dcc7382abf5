import { Alert, Badge, Button, Drawer, Group, Select, Switch, Text, TextInput } from "@mantine/core";
import { useEffect, useRef, useState } from "react";
import { api, messageOf } from "../../api/client.ts";
import { followLogs, matchingLines } from "../../api/docker-logs.ts";
import { dockerPath } from "./docker-source.ts";

/** Lines kept in the drawer; older ones scroll out, as in `docker logs --tail`. */
const maxLines = 5000;

/** How far back the stream starts: Docker's `tail` and `since`. */
const tails = ["100", "200", "1000", "all"];
const sinces = [
  { value: "all", label: "any time" },
  { value: "300", label: "last 5 min" },
  { value: "3600", label: "last hour" },
  { value: "86400", label: "last 24 h" },
];

/** Saves `text` as a file named `name` through the browser's download. */
function download(name: string, text: string) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.click();
  URL.revokeObjectURL(url);
}

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
  const [timestamps, setTimestamps] = useState(false);
  const [tail, setTail] = useState("200");
  const [since, setSince] = useState("all");
  const [search, setSearch] = useState("");

  useEffect(() => {
    const controller = new AbortController();
    const { signal } = controller;
    setText("");
    setError(undefined);
    setState("connecting");
    async function follow() {
      const inspect = await api<{ Config?: { Tty?: boolean } }>("GET", dockerPath(environmentId, `containers/${encodeURIComponent(target.id)}/json`), { signal });
      setState("following");
      await followLogs({
        environmentId,
        containerId: target.id,
        tty: inspect.Config?.Tty === true,
        tail: tail === "all" ? "all" : Number(tail),
        ...(since === "all" ? {} : { since: Math.floor(Date.now() / 1000) - Number(since) }),
        timestamps,
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
  }, [environmentId, target.id, tail, since, timestamps]);

  // Follow the end unless the reader scrolled up to read.
  useEffect(() => {
    const element = pre.current;
    if (element && stickToBottom.current) element.scrollTop = element.scrollHeight;
  }, [text, search]);
  const shown = matchingLines(text, search);

  return (
    <>
      <Group gap="xs" mb="xs">
        <Badge color={state === "following" ? "green" : "gray"} variant="light">
          {state === "following" ? "following live" : state === "connecting" ? "connecting…" : "stream ended"}
        </Badge>
        <Text size="xs" c="dimmed">
          {tail === "all" ? "every line" : `last ${tail} lines`}
          {since === "all" ? "" : ` of the ${sinces.find((option) => option.value === since)?.label ?? ""}`}, then new ones as they come
        </Text>
      </Group>
      <Group gap="sm" mb="xs" align="flex-end">
        <Select label="Lines" data={tails} value={tail} onChange={(value) => setTail(value ?? "200")} allowDeselect={false} w={90} />
        <Select label="Since" data={sinces} value={since} onChange={(value) => setSince(value ?? "all")} allowDeselect={false} w={130} />
        <TextInput label="Search" placeholder="text in a line" value={search} onChange={(event) => setSearch(event.currentTarget.value)} maxLength={200} w={180} />
        <Switch label="Timestamps" checked={timestamps} onChange={(event) => setTimestamps(event.currentTarget.checked)} mb={8} />
        <Button variant="default" onClick={() => download(`${target.name}.log`, text)} disabled={text === ""}>
          Download
        </Button>
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
          height: "calc(100vh - 210px)",
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
        {shown}
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
