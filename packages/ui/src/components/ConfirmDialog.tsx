import { Button, Group, Modal, Text } from "@mantine/core";
import { useState } from "react";

/** What a destructive action asks before it runs. */
export interface ConfirmRequest {
  title: string;
  message: string;
  confirmLabel: string;
  onConfirm: () => Promise<void>;
}

/**
 * Asks for confirmation; the action runs on the confirm button and the dialog closes after it
 * (Escape or Cancel leaves everything as it was).
 *
 * @example
 * <ConfirmDialog request={pending} onClose={() => setPending(undefined)} />
 */
export function ConfirmDialog({ request, onClose }: { request: ConfirmRequest | undefined; onClose: () => void }) {
  const [busy, setBusy] = useState(false);

  async function confirm() {
    if (!request) return;
    setBusy(true);
    try {
      await request.onConfirm();
    } finally {
      setBusy(false);
      onClose();
    }
  }

  return (
    <Modal opened={request !== undefined} onClose={onClose} title={request?.title} centered>
      <Text size="sm">{request?.message}</Text>
      <Group justify="flex-end" mt="lg">
        <Button variant="default" onClick={onClose} disabled={busy}>
          Cancel
        </Button>
        <Button color="red" onClick={() => void confirm()} loading={busy} data-autofocus>
          {request?.confirmLabel}
        </Button>
      </Group>
    </Modal>
  );
}
