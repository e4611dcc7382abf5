import { Button, Group, Modal, Text } from "@mantine/core";
import { useState } from "react";
import { useTranslation } from "react-i18next";

/** What a destructive action asks before it runs. */
export interface ConfirmRequest {
  title: string;
  message: string;
  confirmLabel: string;
  onConfirm: () => Promise<void>;
  /** A change that destroys nothing (associating devices): the confirm button is not red. */
  safe?: boolean;
}

/**
 * Asks for confirmation; the action runs on the confirm button and the dialog closes after it
 * (Escape or Cancel leaves everything as it was). Cancel has the initial focus, so an Enter
 * pressed out of habit destroys nothing.
 *
 * @example
 * <ConfirmDialog request={pending} onClose={() => setPending(undefined)} />
 */
export function ConfirmDialog({ request, onClose }: { request: ConfirmRequest | undefined; onClose: () => void }) {
  const [busy, setBusy] = useState(false);
  const { t } = useTranslation();

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
        <Button variant="default" onClick={onClose} disabled={busy} data-autofocus>
          {t("actions.cancel")}
        </Button>
        <Button color={request?.safe ? "blue" : "red"} onClick={() => void confirm()} loading={busy}>
          {request?.confirmLabel}
        </Button>
      </Group>
    </Modal>
  );
}
