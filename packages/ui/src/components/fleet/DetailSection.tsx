import { Paper, Title } from "@mantine/core";
import type { ReactNode } from "react";

/**
 * A titled panel under a fleet item's form (a stack's devices, a job's results), named by its
 * title for screen readers.
 *
 * @example
 * <DetailSection id="job-results" title="Results"><Table aria-label="Job results">…</Table></DetailSection>
 */
export function DetailSection({ id, title, children }: { id: string; title: string; children: ReactNode }) {
  return (
    <Paper withBorder radius="md" p="lg" component="section" aria-labelledby={id}>
      <Title order={2} size="h4" id={id} mb="sm">
        {title}
      </Title>
      {children}
    </Paper>
  );
}
