import { api } from "./client.ts";

/** A team as `GET /api/teams` answers it (docs/security.md "Teams and scope"). */
export interface TeamView {
  Id: number;
  Name: string;
  /** Members (user ids, ascending). */
  UserIds: number[];
  /** The edge groups whose environments the members see. */
  EdgeGroupIds: number[];
  /** Seconds since the epoch. */
  CreatedAt: number;
}

/** What creating or changing a team sends. */
export interface TeamInput {
  Name: string;
  UserIds: number[];
  EdgeGroupIds: number[];
}

/** The longest team name the server takes (api/routes/teams.ts `teamLimits`). */
export const maxTeamNameLength = 64;

/** The teams API (administrators; docs/ui.md "Teams"). */
export const teamsApi = {
  list: (signal?: AbortSignal) => api<TeamView[]>("GET", "/api/teams", signal ? { signal } : {}),
  create: (body: TeamInput) => api<TeamView>("POST", "/api/teams", { body }),
  update: (id: number, body: TeamInput) => api<TeamView>("PUT", `/api/teams/${id}`, { body }),
  remove: (id: number) => api<undefined>("DELETE", `/api/teams/${id}`),
};
