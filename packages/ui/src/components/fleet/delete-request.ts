import { notifications } from "@mantine/notifications";
import { i18n } from "../../i18n/index.ts";
import type { ConfirmRequest } from "../ConfirmDialog.tsx";

/** The kinds of fleet item a Delete button deletes (their words: `fleet` catalog, `deletion`). */
export type DeletionKind = "edgeGroup" | "edgeStack" | "edgeJob" | "agentUpdate";

/** What a fleet item's Delete button confirms and does. */
export interface DeletionOptions {
  readonly kind: DeletionKind;
  readonly name: string;
  readonly remove: () => Promise<void>;
  /** Where to go once deleted (the list). */
  readonly listPath: string;
  readonly navigate: (path: string) => void | Promise<void>;
  /** Told the reason when the server refuses. */
  readonly onError: (message: string) => void;
  readonly messageOf: (failure: unknown) => string;
}

/**
 * The confirmation of a fleet item's deletion, in the UI's language: on confirm it deletes, says
 * so, and returns to the list; a refusal is handed to `onError` as the server words it.
 *
 * @example
 * setPending(deletionRequest({ kind: "edgeJob", name: job.Name, … }));
 */
export function deletionRequest(options: DeletionOptions): ConfirmRequest {
  const { kind, name } = options;
  return {
    title: i18n.t(`fleet:deletion.${kind}.title`, { name }),
    message: i18n.t(`fleet:deletion.${kind}.message`),
    confirmLabel: i18n.t(`fleet:deletion.${kind}.confirm`),
    onConfirm: async () => {
      try {
        await options.remove();
        notifications.show({ color: "green", message: i18n.t(`fleet:deletion.${kind}.done`, { name }) });
        await options.navigate(options.listPath);
      } catch (failure) {
        options.onError(options.messageOf(failure));
      }
    },
  };
}
