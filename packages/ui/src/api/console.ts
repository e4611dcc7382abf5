import { api } from "./client.ts";

/** What a console runs: in which container, which shell, as whom ("" = the container's user). */
export interface ConsoleRequest {
  environmentId: number;
  container: string;
  shell: string;
  user: string;
}

interface ConsoleTicket {
  ticket: string;
  expiresAt: string;
  protocols: string[];
}

/** A message the server sends as text: how the console ended. */
export type ConsoleNotice = { type: "exit"; exitCode: number | null } | { type: "error"; code?: string; message: string };

/**
 * Opens a console: asks the server for a single-use ticket (it creates the shell in the
 * container; Docker's refusal throws `ApiError` here), then opens the WebSocket offering the
 * ticket as a subprotocol, since a browser cannot send `Authorization` on a WebSocket.
 * Binary messages carry the terminal's bytes both ways; `sendResize` sends the size as text.
 *
 * @example
 * const socket = await openConsole({ environmentId: 1, container: "web", shell: "/bin/sh", user: "" });
 */
export async function openConsole(request: ConsoleRequest): Promise<WebSocket> {
  const ticket = await api<ConsoleTicket>("POST", `/api/endpoints/${request.environmentId}/console/tickets`, {
    body: { container: request.container, shell: request.shell, user: request.user },
  });
  const socket = new WebSocket(`wss://${window.location.host}/api/endpoints/${request.environmentId}/console`, ticket.protocols);
  socket.binaryType = "arraybuffer";
  return socket;
}

/** Tells the server the terminal's size (it resizes the shell's TTY). */
export function sendResize(socket: WebSocket, rows: number, cols: number): void {
  if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "resize", rows, cols }));
}

/** A text message from the server, or `undefined` when it is not one the console knows. */
export function parseNotice(text: string): ConsoleNotice | undefined {
  try {
    const message = JSON.parse(text) as { type?: unknown; message?: unknown };
    if (message.type === "exit" || (message.type === "error" && typeof message.message === "string")) return message as ConsoleNotice;
  } catch {
    // not JSON: ignored
  }
  return undefined;
}
