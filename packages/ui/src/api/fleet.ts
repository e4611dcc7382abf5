/**
 * The fleet's API calls (docs/fleet.md): tags, edge groups, edge stacks, edge jobs, registries.
 * Each returns the server's JSON as typed in fleet-types.ts; failures throw `ApiError`.
 */

import { api } from "./client.ts";
import type { AgentUpdateBody, AgentUpdateSchedule, EdgeGroup, EdgeGroupBody, EdgeJob, EdgeJobBody, EdgeJobTask, EdgeStack, EdgeStackCreateBody, EdgeStackUpdateBody, Registry, Tag } from "./fleet-types.ts";

type Signal = { signal?: AbortSignal };

/** Tags: `/api/tags`. */
export const tagsApi = {
  list: ({ signal }: Signal = {}) => api<Tag[]>("GET", "/api/tags", signal ? { signal } : {}),
  create: (name: string) => api<Tag>("POST", "/api/tags", { body: { Name: name } }),
  remove: (id: number) => api<undefined>("DELETE", `/api/tags/${id}`),
  /** Sets an environment's tags (the whole set). */
  setForEnvironment: (environmentId: number, tagIds: readonly number[]) => api<unknown>("PUT", `/api/endpoints/${environmentId}`, { body: { TagIDs: tagIds } }),
};

/** Edge groups: `/api/edge_groups`. */
export const edgeGroupsApi = {
  list: ({ signal }: Signal = {}) => api<EdgeGroup[]>("GET", "/api/edge_groups", signal ? { signal } : {}),
  get: (id: number, { signal }: Signal = {}) => api<EdgeGroup>("GET", `/api/edge_groups/${id}`, signal ? { signal } : {}),
  create: (body: EdgeGroupBody) => api<EdgeGroup>("POST", "/api/edge_groups", { body }),
  update: (id: number, body: EdgeGroupBody) => api<EdgeGroup>("PUT", `/api/edge_groups/${id}`, { body }),
  remove: (id: number) => api<undefined>("DELETE", `/api/edge_groups/${id}`),
};

/** Edge stacks: `/api/edge_stacks`. */
export const edgeStacksApi = {
  list: ({ signal }: Signal = {}) => api<EdgeStack[]>("GET", "/api/edge_stacks", signal ? { signal } : {}),
  get: (id: number, { signal }: Signal = {}) => api<EdgeStack>("GET", `/api/edge_stacks/${id}`, signal ? { signal } : {}),
  file: async (id: number, { signal }: Signal = {}) => (await api<{ StackFileContent: string }>("GET", `/api/edge_stacks/${id}/file`, signal ? { signal } : {})).StackFileContent,
  /** The compose file of a kept earlier version. */
  fileOfVersion: async (id: number, version: number) => (await api<{ StackFileContent: string }>("GET", `/api/edge_stacks/${id}/file?version=${version}`)).StackFileContent,
  create: (body: EdgeStackCreateBody) => api<EdgeStack>("POST", "/api/edge_stacks/create/string", { body }),
  update: (id: number, body: EdgeStackUpdateBody) => api<EdgeStack>("PUT", `/api/edge_stacks/${id}`, { body }),
  remove: (id: number) => api<undefined>("DELETE", `/api/edge_stacks/${id}`),
  /** Pauses, resumes or aborts the stack's staged rollout. */
  rollout: (id: number, action: "pause" | "resume" | "abort") => api<unknown>("POST", `/api/edge_stacks/${id}/rollout/${action}`),
};

/** Edge jobs: `/api/edge_jobs`. */
export const edgeJobsApi = {
  list: ({ signal }: Signal = {}) => api<EdgeJob[]>("GET", "/api/edge_jobs", signal ? { signal } : {}),
  get: (id: number, { signal }: Signal = {}) => api<EdgeJob>("GET", `/api/edge_jobs/${id}`, signal ? { signal } : {}),
  file: async (id: number, { signal }: Signal = {}) => (await api<{ FileContent: string }>("GET", `/api/edge_jobs/${id}/file`, signal ? { signal } : {})).FileContent,
  create: (body: EdgeJobBody) => api<EdgeJob>("POST", "/api/edge_jobs/create/string", { body }),
  update: (id: number, body: EdgeJobBody) => api<EdgeJob>("PUT", `/api/edge_jobs/${id}`, { body }),
  remove: (id: number) => api<undefined>("DELETE", `/api/edge_jobs/${id}`),
  tasks: (id: number, { signal }: Signal = {}) => api<EdgeJobTask[]>("GET", `/api/edge_jobs/${id}/tasks`, signal ? { signal } : {}),
  /** Asks the device for its last output (LogsStatus 2 until it arrives). */
  requestLogs: (id: number, taskId: string) => api<undefined>("POST", `/api/edge_jobs/${id}/tasks/${encodeURIComponent(taskId)}/logs`),
  logs: async (id: number, taskId: string, { signal }: Signal = {}) => (await api<{ FileContent: string }>("GET", `/api/edge_jobs/${id}/tasks/${encodeURIComponent(taskId)}/logs`, signal ? { signal } : {})).FileContent,
  clearLogs: (id: number, taskId: string) => api<undefined>("DELETE", `/api/edge_jobs/${id}/tasks/${encodeURIComponent(taskId)}/logs`),
};

/** Agent updates: `/api/edge_update_schedules`. */
export const agentUpdatesApi = {
  list: ({ signal }: Signal = {}) => api<AgentUpdateSchedule[]>("GET", "/api/edge_update_schedules", signal ? { signal } : {}),
  get: (id: number, { signal }: Signal = {}) => api<AgentUpdateSchedule>("GET", `/api/edge_update_schedules/${id}`, signal ? { signal } : {}),
  create: (body: AgentUpdateBody) => api<AgentUpdateSchedule>("POST", "/api/edge_update_schedules", { body }),
  remove: (id: number) => api<undefined>("DELETE", `/api/edge_update_schedules/${id}`),
};

/** Registries: `/api/registries` (read only here: the stack editor's picker). */
export const registriesApi = {
  list: ({ signal }: Signal = {}) => api<Registry[]>("GET", "/api/registries", signal ? { signal } : {}),
};
