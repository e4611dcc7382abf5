/**
 * The UI's only way to the server: `fetch` with the session's Bearer token. A 401 anywhere ends
 * the session (the token is dropped and the app goes to /login); other failures throw
 * `ApiError` from the server's one error shape `{code, message, details?, field?, fix?}`
 * (docs/protocol.md, Errors): its `message`, the `field` it concerns and the `fix`.
 */

const tokenKey = "pier.session";

/** The JWT from `POST /api/auth`, kept for the browser tab's life. */
export const session = {
  token(): string | null {
    return sessionStorage.getItem(tokenKey);
  },
  start(token: string): void {
    sessionStorage.setItem(tokenKey, token);
  },
  end(): void {
    sessionStorage.removeItem(tokenKey);
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
  const message = text(body.message) ?? `The server answered ${[response.status, response.statusText].filter(Boolean).join(" ")}.`;
  return new ApiError(response.status, message, text(body.field), text(body.fix), text(body.code), body.details);
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
  const token = session.token();
  if (token) headers.set("Authorization", `Bearer ${token}`);
  if (options.body !== undefined) headers.set("Content-Type", "application/json");
  const response = await fetch(path, {
    method,
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    ...(options.signal ? { signal: options.signal } : {}),
  });
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

/** The message to show for any failure: the server's `message`, and its `fix` when it gave one. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.fix ? `${error.message.replace(/\.?$/, ".")} Fix: ${error.fix}` : error.message;
  if (error instanceof TypeError) return "The Pier server cannot be reached; check that it is running.";
  return error instanceof Error ? error.message : String(error);
}
