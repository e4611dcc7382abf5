import { Center, Loader } from "@mantine/core";
import { useTranslation } from "react-i18next";

/** Shown while a screen's first data (or the session check) is on its way. */
export function PageLoader() {
  const { t } = useTranslation("environments");
  return (
    <Center h="60vh" aria-busy="true">
      <Loader aria-label={t("components.loading")} />
    </Center>
  );
}
