import { Alert } from "@mantine/core";
import { IconAlertTriangle } from "@tabler/icons-react";

/** A failed load, shown above the (possibly stale) data; the next refresh clears it. */
export function LoadError({ message }: { message: string | undefined }) {
  if (!message) return null;
  return (
    <Alert color="red" icon={<IconAlertTriangle size={18} />} mb="md" role="alert">
      {message}
    </Alert>
  );
}
