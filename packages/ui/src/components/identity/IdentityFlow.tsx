import { Badge, Code, Stack, Text, Tooltip } from "@mantine/core";
import type { TFunction } from "i18next";
import { useTranslation } from "react-i18next";
import type { DeviceIdentityView, IdentityFlow } from "../../api/types.ts";
import { formatDateTime } from "../../format.ts";

// Each flow's colour and its words (`pki:flows.<key>.label`, `.explain`).
const flowStyles: Record<IdentityFlow, { key: "builtIn" | "operator" | "token"; color: string }> = {
  "built-in": { key: "builtIn", color: "blue" },
  operator: { key: "operator", color: "grape" },
  token: { key: "token", color: "gray" },
};

/** A badge saying which flow the device's identity follows, with what that means in its tooltip. */
export function FlowBadge({ flow }: { flow: IdentityFlow }) {
  const { t } = useTranslation("pki");
  const { key, color } = flowStyles[flow];
  return (
    <Tooltip label={t(`flows.${key}.explain`)} multiline w={300}>
      <Badge variant="light" color={color} size="sm" styles={{ label: { textTransform: "none" } }}>
        {t(`flows.${key}.label`)}
      </Badge>
    </Tooltip>
  );
}

/** "expired, same key as <serial>" for a device that came back with an expired certificate (`t` of the `pki` namespace). */
export function reenrollmentText(reenrollment: NonNullable<DeviceIdentityView["Reenrollment"]>, t: TFunction<"pki">): string {
  return reenrollment.SameKey ? t("flows.sameKey", { serial: reenrollment.PreviousSerial }) : t("flows.newKey", { serial: reenrollment.PreviousSerial });
}

/**
 * A waiting device's identity: its flow, the SPKI SHA-256 of the key in its CSR in full (the
 * agent logs the same 64 hex digits: compare them before associating), and whether it came back
 * with an expired certificate.
 */
export function WaitingIdentity({ identity }: { identity: DeviceIdentityView }) {
  const { t } = useTranslation("pki");
  return (
    <Stack gap={2}>
      <div>
        <FlowBadge flow={identity.Flow} />
      </div>
      {identity.EnrollmentKeyFingerprint && (
        <Text size="xs" c="dimmed" maw={250}>
          {t("flows.keyFingerprint")}{" "}
          <Code data-testid="enrollment-key-fingerprint" style={{ wordBreak: "break-all" }}>
            {identity.EnrollmentKeyFingerprint}
          </Code>
        </Text>
      )}
      {identity.Reenrollment && (
        <Tooltip label={t("flows.cameBack", { date: formatDateTime(identity.Reenrollment.At) })}>
          <Badge color="orange" variant="light" size="sm" styles={{ label: { textTransform: "none" } }}>
            {reenrollmentText(identity.Reenrollment, t)}
          </Badge>
        </Tooltip>
      )}
    </Stack>
  );
}
