import { Alert, Badge, Button, Code, Group, Paper, SimpleGrid, Stack, Switch, Table, Text, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconInfoCircle } from "@tabler/icons-react";
import { useEffect, useState } from "react";
import { Trans, useTranslation } from "react-i18next";
import { ApiError, api, messageOf } from "../api/client.ts";
import type { MtlsField, MtlsImpact, MtlsState } from "../api/types.ts";
import { formatDate, formatExpiry, formatNumber } from "../format.ts";
import { usePolling } from "../hooks/use-polling.ts";
import { ConfirmDialog, type ConfirmRequest } from "./ConfirmDialog.tsx";
import { LoadError } from "./LoadError.tsx";
import { lockoutWarning, needsConfirmation } from "./mtls-lockout.ts";
import { type PemFile, PemFileInput } from "./PemFileInput.tsx";

// The files of an mTLS set, each named by `pki:mtls.fields.<field>`.
const fields: { field: MtlsField; optional?: boolean }[] = [{ field: "CaCert" }, { field: "Cert" }, { field: "Key" }, { field: "Crl", optional: true }];

// "CN · expires 12 Mar 2027 (in 89 days)".
function ExpiresLine({ subject, notAfter }: { subject: string; notAfter: string }) {
  const { t } = useTranslation("pki");
  return (
    <Text size="sm">
      <Trans t={t} i18nKey="mtls.state.expires" values={{ subject, date: formatDate(notAfter), left: formatExpiry(notAfter) }} components={{ subject: <span data-untranslated /> }} />
    </Text>
  );
}

// A CRL: its issuer (as the CA wrote it), number, revoked entries and next update, as a " · " list.
function CrlLine({ crl }: { crl: NonNullable<MtlsState["Crl"]>[number] }) {
  const { t } = useTranslation("pki");
  const parts = [
    ...(crl.CrlNumber === null ? [] : [t("mtls.state.crlNumber", { number: crl.CrlNumber })]),
    t("mtls.state.crlRevoked", { entries: formatNumber(crl.Entries) }),
    ...(crl.NextUpdate ? [t("mtls.state.crlNextUpdate", { date: formatDate(crl.NextUpdate), left: formatExpiry(crl.NextUpdate) })] : []),
  ];
  return (
    <Text size="sm">
      <span data-untranslated>{crl.Issuer}</span>
      {` · ${parts.join(" · ")}`}
    </Text>
  );
}

function MtlsStateTable({ state }: { state: MtlsState }) {
  const { t } = useTranslation("pki");
  const rows = [
    { what: t("mtls.state.source"), value: <Badge variant="light" color={state.Source === "none" ? "gray" : "green"}><Trans t={t} i18nKey={`mtls.sources.${state.Source}`} components={{ code: <Code /> }} /></Badge> },
    ...(state.CaCert ? [{ what: t("mtls.state.ca"), value: <ExpiresLine subject={state.CaCert.Subject} notAfter={state.CaCert.NotAfter} /> }] : []),
    ...(state.Cert
      ? [
          { what: t("mtls.state.certificate"), value: <ExpiresLine subject={state.Cert.Subject} notAfter={state.Cert.NotAfter} /> },
          { what: t("mtls.state.names"), value: <Text size="sm" data-untranslated>{state.Cert.Names.join(", ") || "—"}</Text> },
        ]
      : []),
    ...(state.Crl ?? []).map((crl, index) => ({ what: index === 0 ? t("mtls.state.crl") : "", value: <CrlLine crl={crl} /> })),
  ];
  return (
    <Table withRowBorders={false} verticalSpacing={4} aria-label={t("mtls.state.label")}>
      <Table.Tbody>
        {rows.map((row, index) => (
          <Table.Tr key={`${row.what}-${index}`}>
            <Table.Th w={120} fw={500} c="dimmed">
              {row.what}
            </Table.Th>
            <Table.Td>{row.value}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

/** The separate mTLS certificate: its state, and the upload applied live to both listeners. */
export function MtlsSection() {
  const { t } = useTranslation("pki");
  const state = usePolling((signal) => api<MtlsState>("GET", "/api/settings/edge/mtls", { signal }), 0);
  const [useSeparate, setUseSeparate] = useState(false);
  const [files, setFiles] = useState<Partial<Record<MtlsField, PemFile>>>({});
  const [refusal, setRefusal] = useState<{ field?: MtlsField; text: string }>();
  const [busy, setBusy] = useState(false);
  const [confirm, setConfirm] = useState<ConfirmRequest>();

  const source = state.data?.Source;
  useEffect(() => {
    if (source) setUseSeparate(source !== "none");
  }, [source]);

  const fromFlags = source === "flags";
  const complete = fields.every(({ field, optional }) => optional === true || files[field] !== undefined);
  const removing = !useSeparate && source === "uploaded";

  async function apply() {
    setBusy(true);
    setRefusal(undefined);
    try {
      const body = useSeparate ? { UseSeparateCert: true, CaCert: files.CaCert?.text, Cert: files.Cert?.text, Key: files.Key?.text, ...(files.Crl ? { Crl: files.Crl.text } : {}) } : { UseSeparateCert: false };
      await api<MtlsState>("PUT", "/api/settings/edge/mtls", { body });
      notifications.show({ color: "green", message: useSeparate ? t("mtls.applied") : t("mtls.removed") });
      await state.refresh();
    } catch (failure) {
      const field = failure instanceof ApiError && fields.some((f) => f.field === failure.field) ? (failure.field as MtlsField) : undefined;
      // One text node, message and fix together: the reader sees both under the field at fault.
      const text = messageOf(failure);
      setRefusal({ ...(field ? { field } : {}), text });
    } finally {
      setBusy(false);
    }
  }

  // Before an upload: would this browser be locked out, or agents disconnected? Then confirm,
  // naming an address that keeps working (docs/ui.md, "The mTLS lock-out warning").
  async function checkThenApply() {
    setBusy(true);
    setRefusal(undefined);
    let impact: MtlsImpact;
    try {
      impact = await api<MtlsImpact>("POST", "/api/settings/edge/mtls/impact", { body: { Cert: files.Cert?.text, CaCert: files.CaCert?.text, Host: window.location.hostname } });
    } catch (failure) {
      const field = failure instanceof ApiError && fields.some((f) => f.field === failure.field) ? (failure.field as MtlsField) : undefined;
      setRefusal({ ...(field ? { field } : {}), text: messageOf(failure) });
      return;
    } finally {
      setBusy(false);
    }
    if (!needsConfirmation(impact)) {
      await apply();
      return;
    }
    setConfirm({
      title: impact.CoversHost ? t("mtls.lockedOut") : t("mtls.disconnected"),
      message: lockoutWarning(impact, window.location.hostname),
      confirmLabel: t("mtls.applyAnyway"),
      onConfirm: apply,
    });
  }

  function handleApply() {
    if (useSeparate) {
      void checkThenApply();
      return;
    }
    if (!removing) {
      void apply();
      return;
    }
    setConfirm({
      title: t("mtls.remove.title"),
      message: t("mtls.remove.message"),
      confirmLabel: t("mtls.remove.action"),
      onConfirm: apply,
    });
  }

  return (
    <Paper withBorder radius="md" p="lg">
      <Stack>
        <div>
          <Title order={2} size="h3">{t("mtls.title")}</Title>
          <Text size="sm" c="dimmed">
            {t("mtls.description")}
          </Text>
        </div>
        <LoadError message={state.error} />
        {state.data && <MtlsStateTable state={state.data} />}
        {fromFlags && (
          <Alert color="blue" icon={<IconInfoCircle size={18} />}>
            <Trans t={t} i18nKey="mtls.fromFlags" components={{ code: <Code /> }} />
          </Alert>
        )}
        <Switch label={t("mtls.useSeparate")} checked={useSeparate} disabled={fromFlags || !state.data} onChange={(event) => setUseSeparate(event.currentTarget.checked)} />
        {useSeparate && !fromFlags && (
          <SimpleGrid cols={{ base: 1, md: 3 }}>
            {fields.map(({ field }) => (
              <PemFileInput
                key={field}
                label={t(`mtls.fields.${field}.label`)}
                description={t(`mtls.fields.${field}.description`)}
                error={refusal?.field === field ? refusal.text : undefined}
                onChange={(file) => {
                  setFiles((current) => ({ ...current, [field]: file }));
                  if (refusal?.field === field) setRefusal(undefined);
                }}
              />
            ))}
          </SimpleGrid>
        )}
        {refusal && !refusal.field && (
          <Alert color="red" role="alert">
            {refusal.text}
          </Alert>
        )}
        <Group>
          <Button onClick={handleApply} loading={busy} disabled={fromFlags || !state.data || (useSeparate ? !complete : source !== "uploaded")}>
            {t("mtls.apply")}
          </Button>
          {useSeparate && !complete && !fromFlags && (
            <Text size="sm" c="dimmed">
              {t("mtls.chooseFiles")}
            </Text>
          )}
        </Group>
      </Stack>
      <ConfirmDialog request={confirm} onClose={() => setConfirm(undefined)} />
    </Paper>
  );
}
