import type { Role } from "@pier/protocol";
import { api, session } from "./client.ts";

/** A user as `GET /api/users` and `GET /api/users/me` answer it. */
export interface UserView {
  Id: number;
  Username: string;
  /** Portainer's number: 1 administrator, 2 operator, 3 helpdesk. */
  Role: number;
  RoleName: Role;
  /** Seconds since the epoch. */
  CreatedAt: number;
  /** `GET /api/users/me` only: the teams you belong to (their edge groups are what a non-administrator sees). */
  Teams?: { Id: number; Name: string; EdgeGroupIds: number[] }[];
  /** `GET /api/users/me` only: true for administrators, who see every environment. */
  AllEnvironments?: boolean;
}

/** An access token as `GET /api/users/{id}/tokens` lists it (never its value). */
export interface ApiKeyView {
  id: number;
  userId: number;
  description: string;
  prefix: string;
  /** Seconds since the epoch. */
  dateCreated: number;
  /** Seconds since the epoch; 0: never used. */
  lastUsed: number;
  scope: Role;
  /** Seconds since the epoch. */
  expiresAt: number;
}

/** The longest user name and token description the server takes. */
export const maxUsernameLength = 128;
export const maxTokenDescriptionLength = 128;
/** The expiries the Account screen offers, in days (the server takes 1–365). */
export const tokenLifetimes = [30, 90, 180, 365] as const;

/** The users API (docs/ui.md "Users", "Account"). */
export const usersApi = {
  /** A 401 is the caller's to handle (the router's session check). */
  me: () => api<UserView>("GET", "/api/users/me", { allowUnauthorized: true }),
  list: (signal?: AbortSignal) => api<UserView[]>("GET", "/api/users", signal ? { signal } : {}),
  create: (body: { Username: string; Password: string; Role: Role }) => api<UserView>("POST", "/api/users", { body }),
  update: (id: number, body: { Role?: Role; Password?: string }) => api<UserView>("PUT", `/api/users/${id}`, { body }),
  remove: (id: number) => api<undefined>("DELETE", `/api/users/${id}`),
  changePassword: (id: number, body: { Password: string; NewPassword: string }) => api<undefined>("PUT", `/api/users/${id}/passwd`, { body }),
  endSessions: (id: number) => api<undefined>("POST", `/api/users/${id}/sessions/end`),
  tokens: (id: number, signal?: AbortSignal) => api<ApiKeyView[]>("GET", `/api/users/${id}/tokens`, signal ? { signal } : {}),
  createToken: (id: number, body: { description: string; scope: Role; expiresInDays: number }) => api<{ rawAPIKey: string; apiKey: ApiKeyView }>("POST", `/api/users/${id}/tokens`, { body }),
  revokeToken: (id: number, keyId: number) => api<undefined>("DELETE", `/api/users/${id}/tokens/${keyId}`),
};

// The signed-in user, asked once per session token.
let known: { token: string; user: UserView } | undefined;

/**
 * The signed-in user and their role, from `GET /api/users/me`, asked once per session token.
 * The server enforces every permission; the UI only hides what it would refuse.
 */
export async function currentUser(): Promise<UserView> {
  const token = session.token() ?? "";
  if (known?.token === token) return known.user;
  const user = await usersApi.me();
  known = { token, user };
  return user;
}
