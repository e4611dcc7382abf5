import "@xterm/xterm/css/xterm.css";
import { Alert, Badge, Box, Button, Drawer, Group, Select, Text, TextInput } from "@mantine/core";
import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import { useEffect, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { messageOf } from "../../api/client.ts";
import { openConsole, parseNotice, sendResize } from "../../api/console.ts";

/** The container a console opens in. */
export interface ConsoleTarget {
  id: string;
  name: string;
}

type State = { phase: "idle" } | { phase: "connecting" } | { phase: "connected" } | { phase: "ended"; message: string; failed: boolean };

const shells = ["/bin/sh", "/bin/bash", "/bin/ash", "custom"];

// An example command: an identifier, the same in every language.
const customExample = "/usr/bin/zsh";

/** The shell, user and Connect/Disconnect controls of the console. */
function ConsoleControls(props: { state: State; onConnect: (shell: string, user: string) => void; onDisconnect: () => void }) {
  const { t } = useTranslation("docker");
  const [shell, setShell] = useState("/bin/sh");
  const [custom, setCustom] = useState("");
  const [user, setUser] = useState("");
  const busy = props.state.phase === "connecting" || props.state.phase === "connected";
  return (
    <Group align="flex-end" gap="sm" mb="xs">
      <Select label={t("console.shell")} data={shells.map((value) => ({ value, label: value === "custom" ? t("console.customShell") : value }))} value={shell} onChange={(value) => setShell(value ?? "/bin/sh")} allowDeselect={false} disabled={busy} w={130} />
      {shell === "custom" && <TextInput label={t("console.command")} placeholder={customExample} value={custom} onChange={(event) => setCustom(event.currentTarget.value)} disabled={busy} maxLength={128} w={180} />}
      <TextInput label={t("console.user")} placeholder={t("console.userPlaceholder")} value={user} onChange={(event) => setUser(event.currentTarget.value)} disabled={busy} maxLength={65} w={160} />
      {busy ? (
        <Button color="red" variant="light" onClick={props.onDisconnect}>
          {t("console.disconnect")}
        </Button>
      ) : (
        <Button onClick={() => props.onConnect(shell === "custom" ? custom : shell, user)}>{t("console.connect")}</Button>
      )}
      <Badge color={props.state.phase === "connected" ? "green" : "gray"} variant="light" mb={6}>
        {t(`console.state.${props.state.phase === "connected" || props.state.phase === "connecting" ? props.state.phase : "idle"}`)}
      </Badge>
    </Group>
  );
}

function ConsoleView({ environmentId, target }: { environmentId: number; target: ConsoleTarget }) {
  const { t } = useTranslation("docker");
  const box = useRef<HTMLDivElement>(null);
  const terminal = useRef<{ term: Terminal; fit: FitAddon }>(undefined);
  const socket = useRef<WebSocket>(undefined);
  const [state, setState] = useState<State>({ phase: "idle" });

  // One terminal for the drawer's life, fitted to its box whenever the box changes size.
  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const term = new Terminal({ cursorBlink: true, fontSize: 13, convertEol: false, scrollback: 5000 });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(element);
    fit.fit();
    terminal.current = { term, fit };
    const input = term.onData((data) => {
      if (socket.current?.readyState === WebSocket.OPEN) socket.current.send(new TextEncoder().encode(data));
    });
    const resized = term.onResize(({ rows, cols }) => socket.current && sendResize(socket.current, rows, cols));
    const observer = new ResizeObserver(() => fit.fit());
    observer.observe(element);
    return () => {
      observer.disconnect();
      input.dispose();
      resized.dispose();
      socket.current?.close();
      term.dispose();
    };
  }, []);

  async function connect(shell: string, user: string) {
    const view = terminal.current;
    if (!view) return;
    setState({ phase: "connecting" });
    view.term.reset();
    let ws: WebSocket;
    try {
      ws = await openConsole({ environmentId, container: target.id, shell, user });
    } catch (failure) {
      setState({ phase: "ended", message: messageOf(failure), failed: true });
      return;
    }
    socket.current = ws;
    let ending: State | undefined;
    ws.onopen = () => {
      setState({ phase: "connected" });
      view.fit.fit();
      sendResize(ws, view.term.rows, view.term.cols);
      view.term.focus();
    };
    ws.onmessage = (event: MessageEvent<ArrayBuffer | string>) => {
      if (typeof event.data !== "string") view.term.write(new Uint8Array(event.data));
      else {
        const notice = parseNotice(event.data);
        if (notice?.type === "exit") ending = { phase: "ended", message: notice.exitCode === null ? t("console.exited") : t("console.exitedWithCode", { code: notice.exitCode }), failed: false };
        else if (notice?.type === "error") ending = { phase: "ended", message: notice.message, failed: true };
      }
    };
    ws.onclose = (event) => {
      if (socket.current === ws) socket.current = undefined;
      const normal = event.code === 1000 || event.code === 1005;
      const closed = event.reason ? t("console.closedWithReason", { code: event.code, reason: event.reason }) : t("console.closed", { code: event.code });
      setState(ending ?? { phase: "ended", message: normal ? t("console.disconnected") : closed, failed: !normal });
    };
  }

  return (
    <>
      <ConsoleControls state={state} onConnect={(shell, user) => void connect(shell, user)} onDisconnect={() => socket.current?.close(1000)} />
      {state.phase === "ended" && (
        <Alert color={state.failed ? "red" : "gray"} mb="xs" role={state.failed ? "alert" : "status"}>
          {state.message}
        </Alert>
      )}
      {state.phase === "idle" && (
        <Text size="xs" c="dimmed" mb="xs">
          {t("console.hint", { name: target.name })}
        </Text>
      )}
      <Box ref={box} aria-label={t("console.terminal", { name: target.name })} data-console-state={state.phase} style={{ height: "calc(100vh - 200px)", minHeight: 200, background: "#000", padding: 4, borderRadius: "var(--mantine-radius-md)" }} />
    </>
  );
}

/** A drawer with a shell in a running container (xterm.js over the console WebSocket); closing it ends the shell. */
export function ConsoleDrawer({ environmentId, target, onClose }: { environmentId: number; target: ConsoleTarget | undefined; onClose: () => void }) {
  const { t } = useTranslation("docker");
  return (
    <Drawer opened={target !== undefined} onClose={onClose} position="right" size="80%" title={target ? t("console.title", { name: target.name }) : ""} styles={{ title: { fontWeight: 600 } }} closeOnEscape={false} closeButtonProps={{ "aria-label": t("console.close") }}>
      {target && <ConsoleView key={target.id} environmentId={environmentId} target={target} />}
    </Drawer>
  );
}
