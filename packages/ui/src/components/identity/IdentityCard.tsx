import { Badge, Button, Code, Group, Paper, SimpleGrid, Stack, Text, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconBan, IconRefresh } from "@tabler/icons-react";
import { type ReactNode, useState } from "react";
import { Trans, useTranslation } from "react-i18next";
import { api, messageOf } from "../../api/client.ts";
import type { Endpoint } from "../../api/types.ts";
import { formatDateTime } from "../../format.ts";
import { formatTimeLeft } from "../certificates/expiry-buckets.ts";
import { ConfirmDialog, type ConfirmRequest } from "../ConfirmDialog.tsx";
import { FlowBadge, reenrollmentText } from "./IdentityFlow.tsx";
import { useCan } from "../../hooks/use-current-user.ts";

function Fact({ label, children }: { label: string; children: ReactNode }) {
  return (
    <Stack gap={2}>
      <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
        {label}
      </Text>
      <div>{children}</div>
    </Stack>
  );
}

const statusColors: Record<string, string> = { active: "green", expiring: "orange", expired: "red", revoked: "gray", superseded: "blue" };

// The statuses the server names (`pki:statuses.<status>`); another is shown as sent.
const knownStatuses = ["active", "expiring", "expired", "revoked", "superseded"] as const;
const isKnownStatus = (status: string): status is (typeof knownStatuses)[number] => (knownStatuses as readonly string[]).includes(status);

/**
 * The device's identity on its page: which flow, the certificate from the built-in CA (serial,
 * not-after, status) or the one it presented (shared by how many environments), and Renew /
 * Revoke (confirmed) for a certificate from the built-in CA.
 */
export function IdentityCard({ environment, onChanged }: { environment: Endpoint; onChanged: () => Promise<void> }) {
  const { t } = useTranslation("pki");
  const [confirm, setConfirm] = useState<ConfirmRequest>();
  const [busy, setBusy] = useState(false);
  // Renewing and revoking certificates is PKI: administrators only (the server refuses others).
  const administers = useCan("administer");
  const identity = environment.Pier.Identity;
  const presented = environment.Pier.ClientCertificate;
  const issued = identity?.Certificate ?? null;
  const sharedBy = presented?.SharedBy ?? 0;
  if (!identity && !presented) return null;

  async function act(what: "revoke" | "renew") {
    setBusy(true);
    try {
      await api("POST", `/api/endpoints/${environment.Id}/certificate/${what}`, what === "revoke" ? { body: {} } : {});
      notifications.show({ color: "green", message: what === "revoke" ? t("device.revoked", { name: environment.Name }) : t("device.toldToRenew", { name: environment.Name }) });
      await onChanged();
    } catch (failure) {
      notifications.show({ color: "red", title: what === "revoke" ? t("identity.notRevoked") : t("identity.notRenewed"), message: messageOf(failure), autoClose: false });
    } finally {
      setBusy(false);
    }
  }

  const actionable = administers && issued !== null && issued.Status !== "revoked";
  return (
    <Paper withBorder radius="md" p="lg" mb="lg" aria-label={t("identity.title")} component="section">
      <Group justify="space-between" align="flex-start" mb="sm">
        <Title order={2} size="h3">{t("identity.title")}</Title>
        {actionable && (
          <Group gap="xs">
            <Button size="xs" variant="light" leftSection={<IconRefresh size={14} />} loading={busy} onClick={() => void act("renew")}>
              {t("identity.renewCertificate")}
            </Button>
            <Button
              size="xs"
              variant="light"
              color="red"
              leftSection={<IconBan size={14} />}
              disabled={busy}
              onClick={() =>
                setConfirm({
                  title: t("device.revokeTitle", { name: environment.Name }),
                  message: t("identity.revokeMessage"),
                  confirmLabel: t("device.revoke"),
                  onConfirm: () => act("revoke"),
                })
              }
            >
              {t("device.revoke")}
            </Button>
          </Group>
        )}
      </Group>
      <SimpleGrid cols={{ base: 2, md: 4 }} spacing="md">
        <Fact label={t("identity.flow")}>{identity ? <FlowBadge flow={identity.Flow} /> : "—"}</Fact>
        <Fact label={t("identity.serial")}>{issued ? <Code>{issued.Serial}</Code> : presented ? <Code>{presented.SerialNumber}</Code> : <Text size="sm">{t("values.none", { ns: "common" })}</Text>}</Fact>
        <Fact label={t("identity.notAfter")}>
          {issued || presented ? (
            <>
              <Text size="sm">{formatDateTime(issued?.NotAfter ?? presented?.NotAfter)}</Text>
              <Text size="xs" c="dimmed">
                {formatTimeLeft(issued?.NotAfter ?? presented?.NotAfter ?? "")}
              </Text>
            </>
          ) : (
            "—"
          )}
        </Fact>
        <Fact label={t("identity.status")}>
          {issued ? (
            <Badge variant="light" color={statusColors[issued.Status] ?? "gray"} styles={{ label: { textTransform: "none" } }}>
              {isKnownStatus(issued.Status) ? t(`statuses.${issued.Status}`) : issued.Status}
            </Badge>
          ) : sharedBy > 1 ? (
            <Badge variant="light" color="grape" styles={{ label: { textTransform: "none" } }}>
              {t("identity.sharedBy", { count: sharedBy })}
            </Badge>
          ) : (
            <Text size="sm">{presented ? t("identity.operatorCertificate") : "—"}</Text>
          )}
        </Fact>
      </SimpleGrid>
      {presented && (
        <Text size="xs" c="dimmed" mt="sm">
          <Trans t={t} i18nKey="identity.presented" values={{ subject: presented.Subject, issuer: presented.Issuer }} components={{ data: <span data-untranslated /> }} />
        </Text>
      )}
      {identity?.Reenrollment && (
        <Text size="sm" c="orange" mt="xs">
          {t("identity.reenrolledAt", { text: reenrollmentText(identity.Reenrollment, t), date: formatDateTime(identity.Reenrollment.At) })}
        </Text>
      )}
      <ConfirmDialog request={confirm} onClose={() => setConfirm(undefined)} />
    </Paper>
  );
}
