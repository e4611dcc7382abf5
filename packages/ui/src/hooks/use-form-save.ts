import { useState } from "react";
import { ApiError, messageOf } from "../api/client.ts";

/** Why a form was not saved: the message, and the request field the server blames if any. */
export interface FormError {
  message: string;
  field?: string | undefined;
}

/** A form's save as `useFormSave` keeps it. */
export interface FormSave {
  /** True while the action runs (the submit button's `loading`). */
  busy: boolean;
  error: FormError | undefined;
  setError: (error: FormError | undefined) => void;
  /** The error's message when it blames `field`, for that input's `error`. */
  fieldError: (field: string) => string | undefined;
  /** Clears the last error, runs `action`, and keeps its failure as the error. */
  run: (action: () => Promise<void>) => Promise<void>;
}

/**
 * The busy flag and the refusal of a form that saves through the API.
 *
 * @example
 * const save = useFormSave();
 * <form onSubmit={(event) => { event.preventDefault(); void save.run(() => tagsApi.create(body)); }}>
 */
export function useFormSave(): FormSave {
  const [error, setError] = useState<FormError>();
  const [busy, setBusy] = useState(false);

  async function run(action: () => Promise<void>) {
    setBusy(true);
    setError(undefined);
    try {
      await action();
    } catch (failure) {
      setError({ message: messageOf(failure), field: failure instanceof ApiError ? failure.field : undefined });
    } finally {
      setBusy(false);
    }
  }

  const fieldError = (field: string) => (error?.field === field ? error.message : undefined);
  return { busy, error, setError, fieldError, run };
}
