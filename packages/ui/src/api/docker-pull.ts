import { i18n } from "../i18n/index.ts";
import { request } from "./client.ts";

/** One line of Docker's `POST /images/create` progress stream. */
interface PullEvent {
  status?: string;
  id?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message?: string };
}

/** Where a pull stands: bytes of the layers that said their size, and the last status line. */
export interface PullProgress {
  /** Bytes downloaded of `total`, over the layers that reported a size. */
  current: number;
  total: number;
  /** Layers by id, with their last status ("Downloading", "Pull complete", …). */
  layers: ReadonlyMap<string, string>;
  /** The last line without a layer ("Digest: …", "Status: Downloaded newer image for …"). */
  status: string;
}

/** The longest image reference the dialog takes (Docker's 255-character name plus a tag). */
export const maxImageReference = 384;

/**
 * Pulls `reference` on the device's Docker Engine through the server (`POST /images/create`),
 * reporting progress as Docker streams it; rejects with Docker's own message, whole, when the
 * pull fails (an unknown image, no access, no space) — a failure Docker reports with a 200 and
 * an `error` line.
 *
 * @example
 * await pullImage(4, "busybox:1.36", (progress) => setProgress(progress), signal);
 */
export async function pullImage(environmentId: number, reference: string, onProgress: (progress: PullProgress) => void, signal: AbortSignal): Promise<void> {
  const response = await request("POST", `/api/endpoints/${environmentId}/docker/images/create?${new URLSearchParams({ fromImage: reference }).toString()}`, { signal });
  const reader = response.body?.getReader();
  if (!reader) return;
  const decoder = new TextDecoder();
  const layers = new Map<string, string>();
  const sizes = new Map<string, { current: number; total: number }>();
  let status = "";
  let pending = "";
  for (;;) {
    const { done, value } = await reader.read();
    pending += done ? decoder.decode() : decoder.decode(value, { stream: true });
    const lines = pending.split("\n");
    pending = done ? "" : (lines.pop() ?? "");
    for (const line of lines) {
      if (line.trim() === "") continue;
      const event = JSON.parse(line) as PullEvent;
      if (event.error !== undefined || event.errorDetail?.message !== undefined) throw new Error(event.errorDetail?.message ?? event.error ?? i18n.t("docker:pull.failed"));
      if (event.id !== undefined && event.status !== undefined && !event.status.startsWith("Pulling from")) {
        layers.set(event.id, event.status);
        const detail = event.progressDetail;
        if (detail?.total !== undefined && detail.total > 0) sizes.set(event.id, { current: detail.current ?? 0, total: detail.total });
        if (event.status === "Download complete" || event.status === "Pull complete") {
          const size = sizes.get(event.id);
          if (size) size.current = size.total;
        }
      } else if (event.status !== undefined) {
        status = event.id !== undefined ? `${event.status} ${event.id}` : event.status;
      }
    }
    let current = 0;
    let total = 0;
    for (const size of sizes.values()) {
      current += size.current;
      total += size.total;
    }
    onProgress({ current, total, layers, status });
    if (done) return;
  }
}
