import { Badge, Code, Paper, Table, Text, Title, Tooltip } from "@mantine/core";
import type { ReactNode } from "react";
import { useTranslation } from "react-i18next";
import { daysUntil, formatDate, formatExpiry, shortId } from "../../format.ts";
import { EmptyTableRow } from "../EmptyTableRow.tsx";

/** The columns every certificate row has. */
export interface CertificateRow {
  key: string;
  subject: string;
  issuer: string;
  fingerprint: string;
  notBefore: string | null;
  notAfter: string;
  /** Extra cells before the standard ones (role, environment, profile…). */
  extra?: ReactNode[];
  revoked?: boolean;
}

function ExpiryBadge({ notAfter, revoked }: { notAfter: string; revoked?: boolean }) {
  const { t } = useTranslation("pki");
  if (revoked) return <Badge color="gray" variant="light">{t("statuses.revoked")}</Badge>;
  const days = daysUntil(notAfter);
  const color = days < 0 ? "red" : days < 30 ? "orange" : days < 90 ? "yellow" : "green";
  return (
    <Tooltip label={formatDate(notAfter)} withArrow>
      <Badge color={color} variant="light" styles={{ label: { textTransform: "none" } }}>
        {formatExpiry(notAfter)}
      </Badge>
    </Tooltip>
  );
}

/**
 * A titled table of certificates: subject, issuer, fingerprint, validity. Subjects and issuers
 * are shown as the certificates say them (`data-untranslated` for the browser tests' language check).
 */
export function CertificateTable({ title, description, extraHeaders = [], rows, empty }: { title: string; description?: ReactNode; extraHeaders?: string[]; rows: CertificateRow[]; empty: string }) {
  const { t } = useTranslation("pki");
  const columns = extraHeaders.length + 5;
  return (
    <Paper withBorder radius="md" p="lg">
      <Title order={2} size="h3">{title}</Title>
      {description && (
        <Text size="sm" c="dimmed">
          {description}
        </Text>
      )}
      <Table mt="sm" verticalSpacing="xs" highlightOnHover aria-label={title}>
        <Table.Thead>
          <Table.Tr>
            {extraHeaders.map((header) => (
              <Table.Th key={header}>{header}</Table.Th>
            ))}
            <Table.Th>{t("table.subject")}</Table.Th>
            <Table.Th>{t("table.issuer")}</Table.Th>
            <Table.Th>{t("table.fingerprint")}</Table.Th>
            <Table.Th>{t("table.validFrom")}</Table.Th>
            <Table.Th>{t("table.expires")}</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((row) => (
            <Table.Tr key={row.key}>
              {(row.extra ?? []).map((cell, index) => (
                <Table.Td key={extraHeaders[index] ?? index}>{cell}</Table.Td>
              ))}
              <Table.Td>
                <Text size="sm" fw={500} style={{ wordBreak: "break-word" }} data-untranslated>
                  {row.subject}
                </Text>
              </Table.Td>
              <Table.Td>
                <Text size="sm" c="dimmed" style={{ wordBreak: "break-word" }} data-untranslated>
                  {row.issuer}
                </Text>
              </Table.Td>
              <Table.Td>
                <Tooltip label={row.fingerprint} withArrow maw={360} multiline>
                  <Code>{shortId(row.fingerprint)}</Code>
                </Tooltip>
              </Table.Td>
              <Table.Td>
                <Text size="sm">{formatDate(row.notBefore)}</Text>
              </Table.Td>
              <Table.Td>
                <ExpiryBadge notAfter={row.notAfter} {...(row.revoked ? { revoked: true } : {})} />
              </Table.Td>
            </Table.Tr>
          ))}
          {rows.length === 0 && (
            <EmptyTableRow columns={columns}>{empty}</EmptyTableRow>
          )}
        </Table.Tbody>
      </Table>
    </Paper>
  );
}
