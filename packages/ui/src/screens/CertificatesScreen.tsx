import { Badge, Button, Code, Stack } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconDownload } from "@tabler/icons-react";
import type { TFunction } from "i18next";
import { Trans, useTranslation } from "react-i18next";
import { ApiError, api, messageOf, request } from "../api/client.ts";
import type { AlertView, CertSummary, Certificates, DeviceCertificatePage, RotationState } from "../api/types.ts";
import { AlertsPanel } from "../components/certificates/AlertsPanel.tsx";
import { CertificateTable, type CertificateRow } from "../components/certificates/CertificateTable.tsx";
import { DeviceCertificateInventory, inventoryPath, useInventoryFilters } from "../components/certificates/DeviceCertificateInventory.tsx";
import type { NamedExpiry } from "../components/certificates/expiry-buckets.ts";
import { ExpiryTimeline } from "../components/certificates/ExpiryTimeline.tsx";
import { RotationPanel } from "../components/certificates/RotationPanel.tsx";
import { LoadError } from "../components/LoadError.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { PageLoader } from "../components/PageLoader.tsx";
import { usePolling } from "../hooks/use-polling.ts";
import { usePageTitle } from "../hooks/use-page-title.ts";

function rowOf(certificate: Omit<CertSummary, "NotBefore"> & { NotBefore: string | null }, extra?: CertificateRow["extra"]): CertificateRow {
  return { key: certificate.FingerprintSHA256, subject: certificate.Subject, issuer: certificate.Issuer, fingerprint: certificate.FingerprintSHA256, notBefore: certificate.NotBefore, notAfter: certificate.NotAfter, ...(extra ? { extra } : {}) };
}

// The certificates named in the expiry view: the CA and what the listeners present (device
// certificates are counted by the server).
function namedExpiries(certificates: Certificates, t: TFunction<"pki">): NamedExpiry[] {
  const named: NamedExpiry[] = [];
  if (certificates.CA) named.push({ key: `ca:${certificates.CA.FingerprintSHA256}`, label: t("certificates.named.builtInCa"), notAfter: certificates.CA.NotAfter });
  named.push({ key: `server:${certificates.Server.FingerprintSHA256}`, label: t("certificates.named.server"), notAfter: certificates.Server.NotAfter });
  if (certificates.Mtls) named.push({ key: `mtls:${certificates.Mtls.FingerprintSHA256}`, label: t("certificates.named.mtls"), notAfter: certificates.Mtls.NotAfter });
  return named;
}

// The profiles `pier ca` issues under ("server", "client") in the UI's language; another as sent.
function profileText(profile: string, t: TFunction<"pki">): string {
  return profile === "server" || profile === "client" ? t(`certificates.profiles.${profile}`) : profile;
}

// No built-in CA (409) or a server without rotation (404): no rotation panel.
async function loadRotation(signal: AbortSignal): Promise<RotationState | null> {
  try {
    return await api<RotationState>("GET", "/api/pki/rotation", { signal });
  } catch (failure) {
    if (failure instanceof ApiError && (failure.status === 404 || failure.status === 409)) return null;
    throw failure;
  }
}

// A server without alerts answers 404: no panel.
async function loadAlerts(signal: AbortSignal): Promise<AlertView[] | null> {
  try {
    return await api<AlertView[]>("GET", "/api/pier/alerts?active=true&limit=50", { signal });
  } catch (failure) {
    if (failure instanceof ApiError && failure.status === 404) return null;
    throw failure;
  }
}

async function downloadCa(failed: string): Promise<void> {
  try {
    const response = await request("GET", "/api/pki/ca");
    const url = URL.createObjectURL(new Blob([await response.text()], { type: "application/x-pem-file" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = "pier-ca.pem";
    link.click();
    URL.revokeObjectURL(url);
  } catch (failure) {
    notifications.show({ color: "red", title: failed, message: messageOf(failure) });
  }
}

/** `/certificates`: every device certificate and its status, the expiry view, the CA rotation, and the certificates in force. */
export function CertificatesScreen() {
  const { t } = useTranslation("pki");
  usePageTitle(t("certificates.title"));
  const certificates = usePolling((signal) => api<Certificates>("GET", "/api/certificates", { signal }), 5000);
  const { filters, query, setSearch, setStatus, setPage } = useInventoryFilters();
  const path = inventoryPath(query);
  // 10 s: a page costs the server about 150 ms of CPU with 45,000 certificates (docs/ui.md).
  const inventory = usePolling((signal) => api<DeviceCertificatePage>("GET", path, { signal }), 10_000, path, { keepDataOnKeyChange: true });
  const rotation = usePolling(loadRotation, 5000);
  const alerts = usePolling(loadAlerts, 10_000);
  const data = certificates.data;
  if (!data) return certificates.error ? <LoadError message={certificates.error} /> : <PageLoader />;

  const inForce = [rowOf(data.Server, [t("certificates.inForce.https")]), ...(data.Mtls ? [rowOf(data.Mtls, [t("certificates.inForce.mtlsDomain")])] : [])];
  return (
    <>
      <PageHeader
        title={t("certificates.title")}
        description={t("certificates.description")}
        actions={
          data.CA ? (
            <Button variant="light" leftSection={<IconDownload size={16} />} onClick={() => void downloadCa(t("certificates.downloadCaFailed"))}>
              {t("certificates.downloadCa")}
            </Button>
          ) : undefined
        }
      />
      <LoadError message={certificates.error} />
      <Stack gap="lg">
        <AlertsPanel alerts={alerts} />
        <ExpiryTimeline counts={inventory.data?.Expiry} named={namedExpiries(data, t)} />
        <DeviceCertificateInventory inventory={inventory} filters={filters} onSearch={setSearch} onStatus={setStatus} onPage={setPage} />
        <RotationPanel rotation={rotation} />
        <CertificateTable title={t("certificates.inForce.title")} description={t("certificates.inForce.description")} extraHeaders={[t("certificates.inForce.role")]} rows={inForce} empty="—" />
        <CertificateTable title={t("certificates.builtInCa.title")} description={<Trans t={t} i18nKey="certificates.builtInCa.description" components={{ code: <Code /> }} />} rows={data.CA ? [rowOf(data.CA)] : []} empty={t("certificates.builtInCa.empty")} />
        <CertificateTable
          title={t("certificates.issued.title")}
          extraHeaders={[t("certificates.issued.profile")]}
          rows={data.Issued.map((issued) => ({ ...rowOf(issued, [<Badge key="profile" variant="light" color={issued.Profile === "server" ? "blue" : "grape"}>{profileText(issued.Profile, t)}</Badge>]), key: issued.SerialNumber, revoked: issued.Revoked }))}
          empty={t("certificates.issued.empty")}
        />
      </Stack>
    </>
  );
}
