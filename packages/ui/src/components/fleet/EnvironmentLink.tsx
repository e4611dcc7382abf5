import { Anchor } from "@mantine/core";
import { Link } from "react-router";

/**
 * A device's environment in a fleet table or list, linked to its page.
 *
 * @example
 * <EnvironmentLink id={row.environmentId} name={environmentName(names.data, row.environmentId)} />
 */
export function EnvironmentLink({ id, name }: { id: number; name: string }) {
  return (
    <Anchor component={Link} to={`/environments/${id}`} size="sm">
      {name}
    </Anchor>
  );
}
