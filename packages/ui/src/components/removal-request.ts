import { notifications } from "@mantine/notifications";
import { messageOf } from "../api/client.ts";
import type { ConfirmRequest } from "./ConfirmDialog.tsx";

/** The words of a row's removal, already translated. */
export interface RemovalWords {
  readonly title: string;
  readonly message: string;
  readonly confirmLabel: string;
  /** Shown once removed. */
  readonly done: string;
  /** The title of the notification that gives the server's refusal. */
  readonly failed: string;
}

/**
 * The confirmation of a row's removal from a list screen (a user, a team): on confirm it removes,
 * says so, or keeps the server's refusal on screen until dismissed; the list is refreshed either way.
 *
 * @example
 * setConfirm(removalRequest(words, () => usersApi.remove(user.Id), users.refresh));
 */
export function removalRequest(words: RemovalWords, remove: () => Promise<unknown>, refresh: () => Promise<unknown>): ConfirmRequest {
  return {
    title: words.title,
    message: words.message,
    confirmLabel: words.confirmLabel,
    onConfirm: async () => {
      try {
        await remove();
        notifications.show({ color: "green", message: words.done });
      } catch (failure) {
        notifications.show({ color: "red", title: words.failed, message: messageOf(failure), autoClose: false });
      }
      await refresh();
    },
  };
}
