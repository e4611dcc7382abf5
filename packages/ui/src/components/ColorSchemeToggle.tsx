import { type MantineColorScheme, SegmentedControl, Tooltip, VisuallyHidden, useMantineColorScheme } from "@mantine/core";
import { IconDeviceDesktop, IconMoon, IconSun } from "@tabler/icons-react";
import type { ComponentType } from "react";
import { useTranslation } from "react-i18next";

const choices: { value: MantineColorScheme & ("light" | "dark" | "auto"); icon: ComponentType<{ size?: number; stroke?: number }> }[] = [
  { value: "light", icon: IconSun },
  { value: "dark", icon: IconMoon },
  { value: "auto", icon: IconDeviceDesktop },
];

/** Light / Dark / Auto (the OS's scheme, the default); the choice is kept in localStorage. */
export function ColorSchemeToggle() {
  const { colorScheme, setColorScheme } = useMantineColorScheme();
  const { t } = useTranslation();
  return (
    <SegmentedControl
      size="xs"
      aria-label={t("colorScheme.label")}
      value={colorScheme}
      onChange={setColorScheme}
      data={choices.map((choice) => ({
        value: choice.value,
        label: (
          <Tooltip label={choice.value === "auto" ? t("colorScheme.autoHint") : t(`colorScheme.${choice.value}`)} withArrow openDelay={300}>
            <span style={{ display: "flex", alignItems: "center" }}>
              <choice.icon size={16} stroke={1.8} />
              <VisuallyHidden>{t(`colorScheme.${choice.value}`)}</VisuallyHidden>
            </span>
          </Tooltip>
        ),
      }))}
    />
  );
}
