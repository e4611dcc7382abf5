import { Badge, Code, Stack, Text, Tooltip } from "@mantine/core";
import type { DeviceIdentityView, IdentityFlow } from "../../api/types.ts";
import { formatDateTime } from "../../format.ts";

const flowLabels: Record<IdentityFlow, { label: string; color: string; explain: string }> = {
  "built-in": { label: "built-in CA", color: "blue", explain: "Zero touch: the device made its key and sent a CSR; on association this server's CA issues its certificate." },
  operator: { label: "operator CA", color: "grape", explain: "The device presents a certificate from your CA (--mtlscacert/--mtlscert/--mtlskey)." },
  token: { label: "device token", color: "gray", explain: "No certificate: the device is bound by the token the server handed it at first contact." },
};

/** A badge saying which flow the device's identity follows, with what that means in its tooltip. */
export function FlowBadge({ flow }: { flow: IdentityFlow }) {
  const { label, color, explain } = flowLabels[flow];
  return (
    <Tooltip label={explain} multiline w={300}>
      <Badge variant="light" color={color} size="sm" styles={{ label: { textTransform: "none" } }}>
        {label}
      </Badge>
    </Tooltip>
  );
}

/** "expired, same key as <serial>" for a device that came back with an expired certificate. */
export function reenrollmentText(reenrollment: NonNullable<DeviceIdentityView["Reenrollment"]>): string {
  return reenrollment.SameKey ? `expired, same key as ${reenrollment.PreviousSerial}` : `expired certificate ${reenrollment.PreviousSerial}, new key`;
}

/**
 * A waiting device's identity: its flow, the SPKI SHA-256 of the key in its CSR in full (the
 * agent logs the same 64 hex digits: compare them before associating), and whether it came back
 * with an expired certificate.
 */
export function WaitingIdentity({ identity }: { identity: DeviceIdentityView }) {
  return (
    <Stack gap={2}>
      <div>
        <FlowBadge flow={identity.Flow} />
      </div>
      {identity.EnrollmentKeyFingerprint && (
        <Text size="xs" c="dimmed" maw={250}>
          key SHA-256{" "}
          <Code data-testid="enrollment-key-fingerprint" style={{ wordBreak: "break-all" }}>
            {identity.EnrollmentKeyFingerprint}
          </Code>
        </Text>
      )}
      {identity.Reenrollment && (
        <Tooltip label={`Came back ${formatDateTime(identity.Reenrollment.At)}`}>
          <Badge color="orange" variant="light" size="sm" styles={{ label: { textTransform: "none" } }}>
            {reenrollmentText(identity.Reenrollment)}
          </Badge>
        </Tooltip>
      )}
    </Stack>
  );
}
