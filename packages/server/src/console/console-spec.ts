import { ServerError } from "../errors.ts";

/** Limits of the browser console (docs/security.md "Browser console"). */
export const consoleLimits = {
  /** Characters of a container id or name. */
  container: 128,
  /** Characters of the shell's path. */
  shell: 128,
  /** Characters of `user` or `user:group`. */
  user: 65,
  /** Bytes of one WebSocket message (keystrokes, a paste, a resize). */
  messageBytes: 64 * 1024,
  /** Consoles one user keeps open at once, over every environment. */
  sessionsPerUser: 4,
  /** Tickets one user holds unused at once. */
  ticketsPerUser: 8,
  /** How long a ticket may wait for its WebSocket. */
  ticketTtlMs: 30_000,
  /** A console with no byte either way for this long is closed. */
  idleMs: 15 * 60_000,
  /** Terminal rows and columns a resize may ask for. */
  rows: 500,
  cols: 1000,
} as const;

/** What a console runs: in which container, which shell, as whom. */
export interface ConsoleSpec {
  /** A container id or name. */
  readonly container: string;
  /** The shell's absolute path, run with no arguments. */
  readonly shell: string;
  /** `user`, `user:group`, numeric ids, or "" for the container's default user. */
  readonly user: string;
}

const containerPattern = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** An absolute path of plain characters: no spaces, quotes, `;`, `$`… (it is one argv entry). */
const shellPattern = /^\/[A-Za-z0-9._/+-]*$/;
const userPattern = /^[A-Za-z0-9_][A-Za-z0-9_.-]*(?::[A-Za-z0-9_][A-Za-z0-9_.-]*)?$/;

function field(name: keyof ConsoleSpec, value: unknown, pattern: RegExp, max: number, allowEmpty: boolean, what: string): string {
  if (typeof value !== "string") throw new ServerError("bad_request", `${name} must be a string.`, { field: name });
  if (value.length > max) throw new ServerError("bad_request", `${name} is ${value.length} characters; at most ${max} are allowed.`, { field: name, fix: `Shorten ${name}.` });
  if (value === "" && allowEmpty) return value;
  if (!pattern.test(value)) throw new ServerError("bad_request", `${name} ${JSON.stringify(value)} is not ${what}.`, { field: name });
  return value;
}

/**
 * Checks what a console asks for, with the limits above, or throws `bad_request` naming the
 * field. The shell is one argv entry, never parsed by a shell on the server or the device.
 *
 * @example
 * parseConsoleSpec({ container: "web", shell: "/bin/sh", user: "" });
 */
export function parseConsoleSpec(input: { container?: unknown; shell?: unknown; user?: unknown }): ConsoleSpec {
  return {
    container: field("container", input.container, containerPattern, consoleLimits.container, false, "a container id or name (letters, digits, _ . -)"),
    shell: field("shell", input.shell ?? "/bin/sh", shellPattern, consoleLimits.shell, false, "an absolute path such as /bin/sh, without spaces, quotes or shell characters"),
    user: field("user", input.user ?? "", userPattern, consoleLimits.user, true, "a user name or id, optionally :group, or nothing for the container's user"),
  };
}
