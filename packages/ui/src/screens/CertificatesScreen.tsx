import { Badge, Button, Stack } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconDownload } from "@tabler/icons-react";
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
function namedExpiries(certificates: Certificates): NamedExpiry[] {
  const named: NamedExpiry[] = [];
  if (certificates.CA) named.push({ key: `ca:${certificates.CA.FingerprintSHA256}`, label: "Built-in CA", notAfter: certificates.CA.NotAfter });
  named.push({ key: `server:${certificates.Server.FingerprintSHA256}`, label: "Server", notAfter: certificates.Server.NotAfter });
  if (certificates.Mtls) named.push({ key: `mtls:${certificates.Mtls.FingerprintSHA256}`, label: "mTLS", notAfter: certificates.Mtls.NotAfter });
  return named;
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

async function downloadCa(): Promise<void> {
  try {
    const response = await request("GET", "/api/pki/ca");
    const url = URL.createObjectURL(new Blob([await response.text()], { type: "application/x-pem-file" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = "pier-ca.pem";
    link.click();
    URL.revokeObjectURL(url);
  } catch (failure) {
    notifications.show({ color: "red", title: "Could not download the CA certificate", message: messageOf(failure) });
  }
}

/** `/certificates`: every device certificate and its status, the expiry view, the CA rotation, and the certificates in force. */
export function CertificatesScreen() {
  usePageTitle("Certificates");
  const certificates = usePolling((signal) => api<Certificates>("GET", "/api/certificates", { signal }), 5000);
  const { filters, query, setSearch, setStatus, setPage } = useInventoryFilters();
  const path = inventoryPath(query);
  // 10 s: a page costs the server about 150 ms of CPU with 45,000 certificates (docs/ui.md).
  const inventory = usePolling((signal) => api<DeviceCertificatePage>("GET", path, { signal }), 10_000, path, { keepDataOnKeyChange: true });
  const rotation = usePolling(loadRotation, 5000);
  const alerts = usePolling(loadAlerts, 10_000);
  const data = certificates.data;
  if (!data) return certificates.error ? <LoadError message={certificates.error} /> : <PageLoader />;

  const inForce = [rowOf(data.Server, ["HTTPS listener"]), ...(data.Mtls ? [rowOf(data.Mtls, ["mTLS domain"])] : [])];
  return (
    <>
      <PageHeader
        title="Certificates"
        description="Every device certificate and how long it has left, the built-in CA and its rotation, and what the listeners present."
        actions={
          data.CA ? (
            <Button variant="light" leftSection={<IconDownload size={16} />} onClick={() => void downloadCa()}>
              Download CA certificate
            </Button>
          ) : undefined
        }
      />
      <LoadError message={certificates.error} />
      <Stack gap="lg">
        <AlertsPanel alerts={alerts} />
        <ExpiryTimeline counts={inventory.data?.Expiry} named={namedExpiries(data)} />
        <DeviceCertificateInventory inventory={inventory} filters={filters} onSearch={setSearch} onStatus={setStatus} onPage={setPage} />
        <RotationPanel rotation={rotation} />
        <CertificateTable title="In force" description="What the listeners present to browsers and agents." extraHeaders={["Role"]} rows={inForce} empty="—" />
        <CertificateTable title="Built-in CA" description="The CA this server created in its data directory (pier ca)." rows={data.CA ? [rowOf(data.CA)] : []} empty="No built-in CA: the server runs with certificates given by flags." />
        <CertificateTable
          title="Server certificates issued by the built-in CA"
          extraHeaders={["Profile"]}
          rows={data.Issued.map((issued) => ({ ...rowOf(issued, [<Badge key="profile" variant="light" color={issued.Profile === "server" ? "blue" : "grape"}>{issued.Profile}</Badge>]), key: issued.SerialNumber, revoked: issued.Revoked }))}
          empty="The built-in CA has issued nothing from its index yet."
        />
      </Stack>
    </>
  );
}
