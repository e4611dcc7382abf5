import { request } from "./client.ts";

/**
 * Splits Docker's multiplexed log stream (non-TTY containers) into text: each frame is an
 * 8-byte header — stream (1 stdout, 2 stderr), three zero bytes, big-endian uint32 length —
 * then the payload. Frames arrive split across chunks, so unfinished bytes are kept.
 */
export class DockerLogDemuxer {
  #pending = new Uint8Array(0);
  readonly #decoders = new Map<number, TextDecoder>();

  /** Feeds a chunk; returns the text of the frames it completed. */
  push(chunk: Uint8Array): string {
    const buffer = new Uint8Array(this.#pending.length + chunk.length);
    buffer.set(this.#pending);
    buffer.set(chunk, this.#pending.length);
    const view = new DataView(buffer.buffer);
    let offset = 0;
    let text = "";
    while (buffer.length - offset >= 8) {
      const stream = buffer[offset] ?? 1;
      const length = view.getUint32(offset + 4);
      if (buffer.length - offset - 8 < length) break;
      text += this.#decoder(stream).decode(buffer.subarray(offset + 8, offset + 8 + length), { stream: true });
      offset += 8 + length;
    }
    this.#pending = buffer.slice(offset);
    return text;
  }

  #decoder(stream: number): TextDecoder {
    let decoder = this.#decoders.get(stream);
    if (!decoder) {
      decoder = new TextDecoder();
      this.#decoders.set(stream, decoder);
    }
    return decoder;
  }
}

/** What to follow and where the text goes. */
export interface FollowLogsOptions {
  environmentId: number;
  containerId: string;
  /** A TTY container's logs are raw text, not multiplexed (`Config.Tty`). */
  tty: boolean;
  /** Lines of the past to start with (default 200), or "all". */
  tail?: number | "all";
  /** Only lines since this time, in Unix seconds. */
  since?: number;
  /** Each line prefixed with its RFC 3339 time (Docker's `timestamps=1`). */
  timestamps?: boolean;
  signal: AbortSignal;
  onText: (text: string) => void;
}

/**
 * Follows a container's logs through the environment's tunnel until the stream ends or the
 * signal aborts (then it resolves quietly: closing the drawer is not an error).
 *
 * @example
 * await followLogs({ environmentId: 1, containerId: "abc", tty: false, signal, onText: (t) => append(t) });
 */
export async function followLogs(options: FollowLogsOptions): Promise<void> {
  const query = new URLSearchParams({ follow: "1", stdout: "1", stderr: "1", tail: String(options.tail ?? 200) });
  if (options.since !== undefined) query.set("since", String(options.since));
  if (options.timestamps) query.set("timestamps", "1");
  const path = `/api/endpoints/${options.environmentId}/docker/containers/${encodeURIComponent(options.containerId)}/logs?${query.toString()}`;
  try {
    const response = await request("GET", path, { signal: options.signal });
    if (!response.body) return;
    const reader = response.body.getReader();
    const demuxer = options.tty ? undefined : new DockerLogDemuxer();
    const raw = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      const text = demuxer ? demuxer.push(value) : raw.decode(value, { stream: true });
      if (text !== "") options.onText(text);
    }
  } catch (error) {
    if (options.signal.aborted) return;
    throw error;
  }
}

/**
 * Lines of `text` containing `search` (case-insensitive); all of it when the search is empty.
 *
 * @example
 * matchingLines("a\nerror: b\nc", "ERROR"); // "error: b"
 */
export function matchingLines(text: string, search: string): string {
  const needle = search.trim().toLowerCase();
  if (needle === "") return text;
  return text
    .split("\n")
    .filter((line) => line.toLowerCase().includes(needle))
    .join("\n");
}
