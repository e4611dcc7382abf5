import { Alert, Badge, Code, Text, Tooltip } from "@mantine/core";
import { Trans, useTranslation } from "react-i18next";
import type { Endpoint } from "../api/types.ts";
import { formatDateTime } from "../format.ts";
import { joinList, listParts } from "../list-format.ts";

/** In lists: a red "cloned identity" badge, the addresses and dates in its tooltip. */
export function CloneBadge({ clone }: { clone: Endpoint["Pier"]["Clone"] }) {
  const { t } = useTranslation("environments");
  if (!clone) return null;
  return (
    <Tooltip label={t("clone.tooltip", { addresses: joinList(clone.Addresses), first: formatDateTime(clone.FirstSeen), last: formatDateTime(clone.LastSeen) })} multiline w={320}>
      <Badge color="red" variant="light" size="sm" ml="xs" styles={{ label: { textTransform: "none" } }}>
        {t("clone.badge")}
      </Badge>
    </Tooltip>
  );
}

/** On the environment page: what the clone flag means and what to do about it. */
export function CloneAlert({ clone }: { clone: Endpoint["Pier"]["Clone"] }) {
  const { t } = useTranslation("environments");
  if (!clone) return null;
  // Each address in <Code>, joined as the language joins a list.
  const addresses = (
    <span>
      {listParts(clone.Addresses).map((part, index) => (part.type === "element" ? <Code key={index}>{part.value}</Code> : part.value))}
    </span>
  );
  return (
    <Alert color="red" mb="md" title={t("clone.title")}>
      <Text size="sm">
        <Trans t={t} i18nKey="clone.connections" values={{ first: formatDateTime(clone.FirstSeen), last: formatDateTime(clone.LastSeen) }} components={{ addresses }} />
      </Text>
      <Text size="sm" mt="xs">
        <Trans t={t} i18nKey="clone.advice" components={{ code: <Code /> }} />
      </Text>
    </Alert>
  );
}
