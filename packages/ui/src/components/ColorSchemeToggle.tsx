import { type MantineColorScheme, SegmentedControl, Tooltip, VisuallyHidden, useMantineColorScheme } from "@mantine/core";
import { IconDeviceDesktop, IconMoon, IconSun } from "@tabler/icons-react";
import type { ComponentType } from "react";

const choices: { value: MantineColorScheme; label: string; icon: ComponentType<{ size?: number; stroke?: number }> }[] = [
  { value: "light", label: "Light", icon: IconSun },
  { value: "dark", label: "Dark", icon: IconMoon },
  { value: "auto", label: "Auto", icon: IconDeviceDesktop },
];

/** Light / Dark / Auto (the OS's scheme, the default); the choice is kept in localStorage. */
export function ColorSchemeToggle() {
  const { colorScheme, setColorScheme } = useMantineColorScheme();
  return (
    <SegmentedControl
      size="xs"
      aria-label="Colour scheme"
      value={colorScheme}
      onChange={setColorScheme}
      data={choices.map((choice) => ({
        value: choice.value,
        label: (
          <Tooltip label={choice.value === "auto" ? "Auto: as the system" : choice.label} withArrow openDelay={300}>
            <span style={{ display: "flex", alignItems: "center" }}>
              <choice.icon size={16} stroke={1.8} />
              <VisuallyHidden>{choice.label}</VisuallyHidden>
            </span>
          </Tooltip>
        ),
      }))}
    />
  );
}
