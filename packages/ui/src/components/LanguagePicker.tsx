import { Select } from "@mantine/core";
import { IconLanguage } from "@tabler/icons-react";
import { useTranslation } from "react-i18next";
import { currentLocale, locales, setLocale } from "../i18n/index.ts";

/** The UI's language: each named in itself; the choice is kept for the next visit. */
export function LanguagePicker() {
  const { t } = useTranslation();
  return (
    <Select
      size="xs"
      w={120}
      aria-label={t("language.label")}
      leftSection={<IconLanguage size={14} aria-hidden />}
      data={locales.map((locale) => ({ value: locale.tag, label: locale.name }))}
      value={currentLocale()}
      allowDeselect={false}
      comboboxProps={{ withinPortal: true }}
      onChange={(value) => {
        if (value) void setLocale(value);
      }}
    />
  );
}
