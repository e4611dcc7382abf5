import { Alert, Anchor, Container } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { Link, isRouteErrorResponse, useRouteError } from "react-router";
import { messageOf } from "../api/client.ts";

/** What a route shows when loading it failed (the server unreachable, a bug). */
export function RouteError() {
  const error = useRouteError();
  const { t } = useTranslation("auth");
  const message = isRouteErrorResponse(error) ? `${error.status} ${error.statusText}` : messageOf(error);
  return (
    <Container size="sm" py="xl">
      <Alert color="red" title={t("routeError.title")} role="alert">
        {message}{" "}
        <Anchor component={Link} to="/" reloadDocument>
          {t("routeError.reload")}
        </Anchor>
      </Alert>
    </Container>
  );
}
