import { Input } from "@mantine/core";
import { useId } from "react";
import classes from "./PemFileInput.module.css";

/** A PEM file picked by the operator, read as text. */
export interface PemFile {
  name: string;
  text: string;
}

/**
 * A native `<input type="file">` with a real `<label for>`: `getByLabel(label)` finds the input
 * itself, so tests can `setInputFiles` on it, and the keyboard opens the file chooser.
 */
export function PemFileInput({ label, description, error, disabled, accept, onChange }: { label: string; description?: string; error?: string; disabled?: boolean; accept?: string; onChange: (file: PemFile | undefined) => void }) {
  const id = useId();
  return (
    <Input.Wrapper id={id} label={label} description={description} error={error} errorProps={{ role: "alert" }}>
      <input
        id={id}
        type="file"
        className={classes.input}
        accept={accept ?? ".pem,.crt,.cer,.key,text/plain,application/x-pem-file"}
        disabled={disabled}
        aria-invalid={error ? true : undefined}
        aria-describedby={[error ? `${id}-error` : "", description ? `${id}-description` : ""].filter(Boolean).join(" ") || undefined}
        onChange={(event) => {
          const file = event.currentTarget.files?.[0];
          if (!file) {
            onChange(undefined);
            return;
          }
          void file.text().then((text) => onChange({ name: file.name, text }));
        }}
      />
    </Input.Wrapper>
  );
}
