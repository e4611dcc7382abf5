import { Anchor, Stack, Text, Title } from "@mantine/core";
import { Link } from "react-router";
import { usePageTitle } from "../hooks/use-page-title.ts";

/** An unknown address inside the app. */
export function NotFoundScreen() {
  usePageTitle("Not found");
  return (
    <Stack>
      <Title order={1} size="h2">Page not found</Title>
      <Text>
        Nothing lives at this address.{" "}
        <Anchor component={Link} to="/">
          Back to the environments
        </Anchor>
      </Text>
    </Stack>
  );
}
