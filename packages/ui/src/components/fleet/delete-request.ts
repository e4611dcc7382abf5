import { notifications } from "@mantine/notifications";
import type { ConfirmRequest } from "../ConfirmDialog.tsx";

/** What a fleet item's Delete button confirms and does. */
export interface DeletionOptions {
  /** The kind, lower case: "edge group", "agent update"… */
  readonly what: string;
  readonly name: string;
  readonly message: string;
  readonly confirmLabel: string;
  readonly remove: () => Promise<void>;
  /** Where to go once deleted (the list). */
  readonly listPath: string;
  readonly navigate: (path: string) => void | Promise<void>;
  /** Told the reason when the server refuses. */
  readonly onError: (message: string) => void;
  readonly messageOf: (failure: unknown) => string;
}

/**
 * The confirmation of a fleet item's deletion: on confirm it deletes, says so, and returns to the
 * list; a refusal is handed to `onError` as the server words it.
 *
 * @example
 * setPending(deletionRequest({ what: "edge job", name: job.Name, … }));
 */
export function deletionRequest(options: DeletionOptions): ConfirmRequest {
  const { what, name } = options;
  return {
    title: `Delete ${what} ${name}?`,
    message: options.message,
    confirmLabel: options.confirmLabel,
    onConfirm: async () => {
      try {
        await options.remove();
        notifications.show({ color: "green", message: `${what.charAt(0).toUpperCase()}${what.slice(1)} ${name} deleted.` });
        await options.navigate(options.listPath);
      } catch (failure) {
        options.onError(options.messageOf(failure));
      }
    },
  };
}
