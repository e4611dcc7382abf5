/**
 * The UI's only way to the server: `fetch` with the session cookie the browser holds (HttpOnly:
 * this script never sees the session token) and, on requests that change something, its CSRF
 * token as `X-CSRF-Token` (docs/security.md "Browser sessions"). A 401 anywhere ends the session
 * (the app goes to /login, and back to the page after logging in); other failures throw
 * `ApiError` from the server's one error shape `{code, message, details?, field?, fix?}`
 * (docs/protocol.md, Errors): its `message`, the `field` it concerns and the `fix`.
 */

import { i18n } from "../i18n/index.ts";

const csrfCookie = "__Host-pier_csrf";

function csrfToken(): string | null {
  for (const part of document.cookie.split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === csrfCookie) return value.join("=") || null;
  }
  return null;
}

/**
 * The browser's session, shared by its tabs: the server sets it at login (`POST /api/auth`) and
 * clears it at logout. `token()` is its CSRF token: present while a session is, and different for
 * each session.
 */
export const session = {
  token(): string | null {
    return csrfToken();
  },
  /** Forgets the session here (the server's logout clears the HttpOnly cookie too). */
  end(): void {
    document.cookie = `${csrfCookie}=; Path=/; Max-Age=0; Secure; SameSite=Strict`;
  },
};

let onUnauthorized: () => void = () => {
  window.location.assign("/login");
};

/** Sets what a 401 does after the token is dropped (the router's navigation, from main.tsx). */
export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler;
}

/** A failed API call, with the server's explanation. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    readonly status: number,
    message: string,
    /** The request field the server blames (`Password`, `CaCert`, `url`…). */
    readonly field?: string,
    /** What to do about it, when the server says. */
    readonly fix?: string,
    readonly code?: string,
    /** The server's structured detail, when it gave one (a compose file's `{path}`). */
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** The server's one error shape, as parsed: anything may be missing when a proxy answered instead. */
interface ErrorBody {
  code?: unknown;
  message?: unknown;
  field?: unknown;
  fix?: unknown;
  details?: unknown;
}

const text = (value: unknown): string | undefined => (typeof value === "string" && value !== "" ? value : undefined);

/** Parses an error answer; a body that is not the server's shape keeps only the status line. */
export async function errorOf(response: Response): Promise<ApiError> {
  let body: ErrorBody = {};
  try {
    body = (await response.json()) as ErrorBody;
  } catch {
    // Not JSON (a proxy's page): the status line is all there is.
  }
  if (typeof body !== "object" || body === null) body = {};
  const message = text(body.message) ?? i18n.t("errors.serverAnswered", { status: [response.status, response.statusText].filter(Boolean).join(" ") });
  return new ApiError(response.status, message, text(body.field), text(body.fix), text(body.code), body.details);
}

/** No answer from the server: the network, a proxy that closed the connection, a server down. */
export class UnreachableError extends Error {
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = "UnreachableError";
  }
}

/** Options of one API call. */
export interface RequestOptions {
  body?: unknown;
  signal?: AbortSignal;
  /** Do not treat a 401 as the end of the session (logging in, logging out). */
  allowUnauthorized?: boolean;
}

/**
 * Sends one request to the API and returns the raw response when it succeeded (2xx).
 *
 * @example
 * const response = await request("GET", "/api/endpoints/1/docker/containers/1234/logs?follow=1", { signal });
 */
export async function request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
  const headers = new Headers({ Accept: "application/json" });
  const token = csrfToken();
  if (token && !["GET", "HEAD"].includes(method.toUpperCase())) headers.set("X-CSRF-Token", token);
  if (options.body !== undefined) headers.set("Content-Type", "application/json");
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    // fetch rejects only when no answer came (or the request was aborted, which stays as it is).
    throw isAbort(error) ? error : new UnreachableError(error);
  }
  if (response.status === 401 && !options.allowUnauthorized) {
    session.end();
    onUnauthorized();
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

/**
 * Sends one request and parses the JSON answer (`undefined` for 204).
 *
 * @example
 * const environments = await api<Endpoint[]>("GET", "/api/endpoints");
 */
export async function api<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
  const response = await request(method, path, options);
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  return (text === "" ? undefined : JSON.parse(text)) as T;
}

/** Whether an error is an aborted request (a closed drawer, a left screen): never worth showing. */
export function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === "AbortError";
}

/**
 * The message to show for any failure: the server's `message` (in English, whole), and its `fix`
 * when it gave one; what the UI says itself is in the UI's language.
 */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.fix ? i18n.t("errors.withFix", { message: error.message.replace(/\.?$/, "."), fix: error.fix }) : error.message;
  if (error instanceof UnreachableError) return i18n.t("errors.unreachable");
  return error instanceof Error ? error.message : String(error);
}
