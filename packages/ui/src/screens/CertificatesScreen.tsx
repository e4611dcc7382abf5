import { Anchor, Badge, Stack } from "@mantine/core";
import { Link } from "react-router";
import { api } from "../api/client.ts";
import type { CertSummary, Certificates } from "../api/types.ts";
import { CertificateTable, type CertificateRow } from "../components/certificates/CertificateTable.tsx";
import { ExpiryTimeline, type ExpiryEntry } from "../components/certificates/ExpiryTimeline.tsx";
import { LoadError } from "../components/LoadError.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { PageLoader } from "../components/PageLoader.tsx";
import { usePolling } from "../hooks/use-polling.ts";

function rowOf(certificate: Omit<CertSummary, "NotBefore"> & { NotBefore: string | null }, extra?: CertificateRow["extra"]): CertificateRow {
  return { key: certificate.FingerprintSHA256, subject: certificate.Subject, issuer: certificate.Issuer, fingerprint: certificate.FingerprintSHA256, notBefore: certificate.NotBefore, notAfter: certificate.NotAfter, ...(extra ? { extra } : {}) };
}

// One bar per distinct certificate still in use: the issued server certificate in force is
// the same as "Server", revoked ones no longer matter.
function timelineOf(certificates: Certificates): ExpiryEntry[] {
  const entries: ExpiryEntry[] = [];
  const seen = new Set<string>();
  const add = (label: string, certificate: { FingerprintSHA256: string; NotAfter: string }) => {
    if (seen.has(certificate.FingerprintSHA256)) return;
    seen.add(certificate.FingerprintSHA256);
    entries.push({ key: certificate.FingerprintSHA256, label, notAfter: certificate.NotAfter });
  };
  if (certificates.CA) add(`CA · ${certificates.CA.Subject}`, certificates.CA);
  add(`Server · ${certificates.Server.Subject}`, certificates.Server);
  if (certificates.Mtls) add(`mTLS · ${certificates.Mtls.Subject}`, certificates.Mtls);
  for (const client of certificates.Clients) add(`Client · ${client.EnvironmentName}`, client);
  for (const issued of certificates.Issued) if (!issued.Revoked) add(`Issued · ${issued.Subject}`, issued);
  return entries;
}

/** `/certificates`: the built-in CA, what it issued, what is in force, the devices' certificates, and when they expire. */
export function CertificatesScreen() {
  const certificates = usePolling((signal) => api<Certificates>("GET", "/api/certificates", { signal }), 5000);
  const data = certificates.data;
  if (!data) return certificates.error ? <LoadError message={certificates.error} /> : <PageLoader />;

  const inForce = [rowOf(data.Server, ["HTTPS listener"]), ...(data.Mtls ? [rowOf(data.Mtls, ["mTLS domain"])] : [])];
  return (
    <>
      <PageHeader title="Certificates" description="Every certificate this server knows of, and how long each has left." />
      <LoadError message={certificates.error} />
      <Stack gap="lg">
        <ExpiryTimeline entries={timelineOf(data)} />
        <CertificateTable title="In force" description="What the listeners present to browsers and agents." extraHeaders={["Role"]} rows={inForce} empty="—" />
        <CertificateTable
          title="Client certificates"
          description="The certificates devices last presented over mTLS."
          extraHeaders={["Environment"]}
          rows={data.Clients.map((client) =>
            rowOf(client, [
              <Anchor key="environment" component={Link} to={`/environments/${client.EnvironmentId}`} size="sm">
                {client.EnvironmentName}
              </Anchor>,
            ]),
          )}
          empty="No device has presented a client certificate yet."
        />
        <CertificateTable title="Built-in CA" description="The CA this server created in its data directory (pier ca)." rows={data.CA ? [rowOf(data.CA)] : []} empty="No built-in CA: the server runs with certificates given by flags." />
        <CertificateTable
          title="Issued by the built-in CA"
          extraHeaders={["Profile"]}
          rows={data.Issued.map((issued) => ({ ...rowOf(issued, [<Badge key="profile" variant="light" color={issued.Profile === "server" ? "blue" : "grape"}>{issued.Profile}</Badge>]), key: issued.SerialNumber, revoked: issued.Revoked }))}
          empty="The built-in CA has issued nothing yet."
        />
      </Stack>
    </>
  );
}
