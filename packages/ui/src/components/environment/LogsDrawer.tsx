import type { TFunction } from "i18next";
import { Alert, Badge, Button, Drawer, Group, Select, Switch, Text, TextInput } from "@mantine/core";
import { useEffect, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { api, messageOf } from "../../api/client.ts";
import { followLogs, matchingLines } from "../../api/docker-logs.ts";
import { dockerPath } from "./docker-source.ts";

/** Lines kept in the drawer; older ones scroll out, as in `docker logs --tail`. */
const maxLines = 5000;

/** How far back the stream starts: Docker's `tail` and `since`. */
const tails = ["100", "200", "1000", "all"];
const sinces = [
  { value: "all", label: "all" },
  { value: "300", label: "minutes5" },
  { value: "3600", label: "hour" },
  { value: "86400", label: "day" },
] as const;

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

/** What the drawer shows: how far back, then new lines as they come. */
function scopeOf(t: TFunction<"docker">, tail: string, since: string): string {
  const option = sinces.find((choice) => choice.value === since);
  const sinceLabel = option && option.value !== "all" ? t(`logs.since.${option.label}`) : undefined;
  if (tail === "all") return sinceLabel ? t("logs.scope.allSince", { since: sinceLabel }) : t("logs.scope.all");
  return sinceLabel ? t("logs.scope.tailSince", { lines: tail, since: sinceLabel }) : t("logs.scope.tail", { lines: tail });
}

function LogsView({ environmentId, target }: { environmentId: number; target: LogsTarget }) {
  const { t } = useTranslation("docker");
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
          {t(`logs.state.${state}`)}
        </Badge>
        <Text size="xs" c="dimmed">
          {scopeOf(t, tail, since)}
        </Text>
      </Group>
      <Group gap="sm" mb="xs" align="flex-end">
        <Select label={t("logs.lines")} data={tails.map((value) => ({ value, label: value === "all" ? t("logs.allLines") : value }))} value={tail} onChange={(value) => setTail(value ?? "200")} allowDeselect={false} w={90} />
        <Select label={t("logs.sinceLabel")} data={sinces.map((choice) => ({ value: choice.value, label: t(`logs.since.${choice.label}`) }))} value={since} onChange={(value) => setSince(value ?? "all")} allowDeselect={false} w={130} />
        <TextInput label={t("logs.search")} placeholder={t("logs.searchPlaceholder")} value={search} onChange={(event) => setSearch(event.currentTarget.value)} maxLength={200} w={180} />
        <Switch label={t("logs.timestamps")} checked={timestamps} onChange={(event) => setTimestamps(event.currentTarget.checked)} mb={8} />
        <Button variant="default" onClick={() => download(`${target.name}.log`, text)} disabled={text === ""}>
          {t("logs.download")}
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
        aria-label={t("logs.output", { name: target.name })}
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
  const { t } = useTranslation("docker");
  return (
    <Drawer opened={target !== undefined} onClose={onClose} position="right" size="xl" title={target ? t("logs.title", { name: target.name }) : ""} styles={{ title: { fontWeight: 600 } }}>
      {target && <LogsView key={target.id} environmentId={environmentId} target={target} />}
    </Drawer>
  );
}
