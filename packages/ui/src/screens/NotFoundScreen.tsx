import { Anchor, Stack, Text, Title } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import { usePageTitle } from "../hooks/use-page-title.ts";

/** An unknown address inside the app. */
export function NotFoundScreen() {
  const { t } = useTranslation("auth");
  usePageTitle(t("notFound.pageTitle"));
  return (
    <Stack>
      <Title order={1} size="h2">
        {t("notFound.title")}
      </Title>
      <Text>
        {t("notFound.text")}{" "}
        <Anchor component={Link} to="/">
          {t("notFound.back")}
        </Anchor>
      </Text>
    </Stack>
  );
}
