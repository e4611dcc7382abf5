import { Alert, Anchor, Container } from "@mantine/core";
import { Link, isRouteErrorResponse, useRouteError } from "react-router";
import { messageOf } from "../api/client.ts";

/** What a route shows when loading it failed (the server unreachable, a bug). */
export function RouteError() {
  const error = useRouteError();
  const message = isRouteErrorResponse(error) ? `${error.status} ${error.statusText}` : messageOf(error);
  return (
    <Container size="sm" py="xl">
      <Alert color="red" title="This page could not be shown" role="alert">
        {message}{" "}
        <Anchor component={Link} to="/" reloadDocument>
          Reload
        </Anchor>
      </Alert>
    </Container>
  );
}
