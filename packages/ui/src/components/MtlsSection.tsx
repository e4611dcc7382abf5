import { Alert, Badge, Button, Group, Paper, SimpleGrid, Stack, Switch, Table, Text, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconInfoCircle } from "@tabler/icons-react";
import { useEffect, useState } from "react";
import { ApiError, api, messageOf } from "../api/client.ts";
import type { MtlsField, MtlsImpact, MtlsState } from "../api/types.ts";
import { formatDate, formatExpiry } from "../format.ts";
import { usePolling } from "../hooks/use-polling.ts";
import { ConfirmDialog, type ConfirmRequest } from "./ConfirmDialog.tsx";
import { LoadError } from "./LoadError.tsx";
import { lockoutWarning, needsConfirmation } from "./mtls-lockout.ts";
import { type PemFile, PemFileInput } from "./PemFileInput.tsx";

const fields: { field: MtlsField; label: string; description: string; optional?: boolean }[] = [
  { field: "CaCert", label: "CA certificate", description: "The CA that issued this certificate and the agents' client certificates (PEM)." },
  { field: "Cert", label: "TLS certificate", description: "The server certificate of the mTLS domain, intermediates after it (PEM)." },
  { field: "Key", label: "TLS key", description: "Its private key, unencrypted (PEM)." },
  { field: "Crl", label: "CRL (optional)", description: "The CA's CRL, one per CA of the CA file (PEM): revoked client certificates are refused, their connections closed.", optional: true },
];

const sourceText: Record<MtlsState["Source"], string> = { none: "not configured", flags: "from --mtls* flags", uploaded: "uploaded" };

function MtlsStateTable({ state }: { state: MtlsState }) {
  const rows = [
    { what: "Source", value: <Badge variant="light" color={state.Source === "none" ? "gray" : "green"}>{sourceText[state.Source]}</Badge> },
    ...(state.CaCert ? [{ what: "CA", value: <Text size="sm">{state.CaCert.Subject} · expires {formatDate(state.CaCert.NotAfter)} ({formatExpiry(state.CaCert.NotAfter)})</Text> }] : []),
    ...(state.Cert
      ? [
          { what: "Certificate", value: <Text size="sm">{state.Cert.Subject} · expires {formatDate(state.Cert.NotAfter)} ({formatExpiry(state.Cert.NotAfter)})</Text> },
          { what: "Names", value: <Text size="sm">{state.Cert.Names.join(", ") || "—"}</Text> },
        ]
      : []),
    ...(state.Crl ?? []).map((crl, index) => ({
      what: index === 0 ? "CRL" : "",
      value: (
        <Text size="sm">
          {crl.Issuer}
          {crl.CrlNumber === null ? "" : ` · number ${crl.CrlNumber}`} · {crl.Entries} revoked{crl.NextUpdate ? ` · next update ${formatDate(crl.NextUpdate)} (${formatExpiry(crl.NextUpdate)})` : ""}
        </Text>
      ),
    })),
  ];
  return (
    <Table withRowBorders={false} verticalSpacing={4} aria-label="mTLS state">
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
      notifications.show({ color: "green", message: useSeparate ? "mTLS certificates applied" : "Separate mTLS certificate removed" });
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
      title: impact.CoversHost ? "This would lock you out of this address" : "Agents will be disconnected",
      message: lockoutWarning(impact, window.location.hostname),
      confirmLabel: "Apply anyway",
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
      title: "Remove the separate mTLS certificate?",
      message: "The uploaded set is deleted and the mTLS domain is turned off at once: agents connect with the server's main certificate.",
      confirmLabel: "Remove mTLS certificate",
      onConfirm: apply,
    });
  }

  return (
    <Paper withBorder radius="md" p="lg">
      <Stack>
        <div>
          <Title order={2} size="h3">mTLS certificate</Title>
          <Text size="sm" c="dimmed">
            A separate certificate for the names agents connect to: connections to those names must present a client certificate of its CA. Applied to both listeners at once, no restart.
          </Text>
        </div>
        <LoadError message={state.error} />
        {state.data && <MtlsStateTable state={state.data} />}
        {fromFlags && (
          <Alert color="blue" icon={<IconInfoCircle size={18} />}>
            The mTLS files come from the --mtlscacert, --mtlscert and --mtlskey flags of the server: change the files on disk (they are watched and reloaded). Uploading is disabled.
          </Alert>
        )}
        <Switch label="Use separate mTLS cert" checked={useSeparate} disabled={fromFlags || !state.data} onChange={(event) => setUseSeparate(event.currentTarget.checked)} />
        {useSeparate && !fromFlags && (
          <SimpleGrid cols={{ base: 1, md: 3 }}>
            {fields.map(({ field, label, description }) => (
              <PemFileInput
                key={field}
                label={label}
                description={description}
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
            Apply mTLS certificates
          </Button>
          {useSeparate && !complete && !fromFlags && (
            <Text size="sm" c="dimmed">
              Choose the three files first.
            </Text>
          )}
        </Group>
      </Stack>
      <ConfirmDialog request={confirm} onClose={() => setConfirm(undefined)} />
    </Paper>
  );
}
