import { Alert, Anchor, type CSSVariablesResolver, Drawer, DrawerHeader, Modal, ModalHeader, Notification, type MantineTheme, createTheme, darken, keys, lighten, luminance } from "@mantine/core";

/**
 * Pier's Mantine theme: Mantine's defaults, blue as the primary colour, links always underlined
 * (a link inside a sentence must not be told apart by its colour alone: axe-core's
 * `link-in-text-block`; blue on the dark scheme's text is 1.5:1), a name for the icon-only
 * close buttons of alerts, notifications, dialogs and drawers (`button-name`), and no banner landmark in
 * a dialog's or drawer's `<header>` (the app's header is the page's one banner:
 * `landmark-no-duplicate-banner`).
 */
export const theme = createTheme({
  primaryColor: "blue",
  components: {
    Anchor: Anchor.extend({ defaultProps: { underline: "always" } }),
    Alert: Alert.extend({ defaultProps: { closeButtonLabel: "Dismiss" } }),
    Notification: Notification.extend({ defaultProps: { closeButtonProps: { "aria-label": "Close notification" } } }),
    Modal: Modal.extend({ defaultProps: { closeButtonProps: { "aria-label": "Close" } } }),
    Drawer: Drawer.extend({ defaultProps: { closeButtonProps: { "aria-label": "Close" } } }),
    ModalHeader: ModalHeader.extend({ defaultProps: { role: "none" } }),
    DrawerHeader: DrawerHeader.extend({ defaultProps: { role: "none" } }),
  },
});

/** WCAG 2.1 AA for normal text (1.4.3), with a little margin for rounding. */
const minimumContrast = 4.6;

/** The contrast ratio of two opaque colours (WCAG 2.1 definition). */
export function contrastRatio(first: string, second: string): number {
  const [light, dark] = [luminance(first), luminance(second)].sort((a, b) => b - a) as [number, number];
  return (light + 0.05) / (dark + 0.05);
}

/**
 * `color`, darkened (`towards: "dark"`) or lightened in steps of 4% until it reaches
 * {@link minimumContrast} against every one of `backgrounds`.
 */
export function readable(color: string, backgrounds: readonly string[], towards: "dark" | "light"): string {
  let result = color;
  for (let step = 1; step <= 25 && backgrounds.some((background) => contrastRatio(result, background) < minimumContrast); step += 1) {
    result = towards === "dark" ? darken(color, step * 0.04) : lighten(color, step * 0.04);
  }
  return result;
}

/**
 * Mantine's colour variables where its defaults fall short of WCAG AA contrast (axe-core's
 * `color-contrast`, checked on every screen by the browser tests), in both schemes: dimmed text
 * (gray.6 on white is 3.3:1), error text, links, filled buttons and badges under white text
 * (blue.6 is 3.6:1, green and yellow far less), the text of light badges and alerts, and coloured
 * text — each shade moved only as far as needed, against the surfaces it is drawn on (the body,
 * paper, a hovered table row, a selected row).
 */
export const cssVariablesResolver: CSSVariablesResolver = (resolved: MantineTheme) => {
  const { colors } = resolved;
  const lightSurfaces = ["#ffffff", colors.gray[0], colors.gray[1], colors.blue[1]];
  const darkSurfaces = [colors.dark[7], colors.dark[6], colors.dark[5], darken(colors.blue[9], 0.5)];
  const light: Record<string, string> = {
    "--mantine-color-dimmed": readable(colors.gray[6], lightSurfaces, "dark"),
    "--mantine-color-error": readable(colors.red[6], lightSurfaces, "dark"),
    "--mantine-color-anchor": readable(colors[resolved.primaryColor]?.[6] ?? colors.blue[6], lightSurfaces, "dark"),
  };
  const dark: Record<string, string> = {
    "--mantine-color-dimmed": readable(colors.dark[2], darkSurfaces, "light"),
    "--mantine-color-error": readable(colors.red[6], darkSurfaces, "light"),
  };
  for (const name of keys(colors)) {
    const shades = colors[name];
    if (!shades || name === "dark") continue;
    const filledLight = readable(shades[6], ["#ffffff"], "dark");
    const filledDark = readable(shades[8], ["#ffffff"], "dark");
    Object.assign(light, {
      [`--mantine-color-${name}-filled`]: filledLight,
      [`--mantine-color-${name}-filled-hover`]: darken(filledLight, 0.1),
      [`--mantine-color-${name}-text`]: readable(shades[6], lightSurfaces, "dark"),
      [`--mantine-color-${name}-light-color`]: readable(shades[9], [shades[1], shades[2], "#ffffff"], "dark"),
    });
    Object.assign(dark, {
      [`--mantine-color-${name}-filled`]: filledDark,
      [`--mantine-color-${name}-filled-hover`]: darken(filledDark, 0.1),
      [`--mantine-color-${name}-text`]: readable(shades[4], darkSurfaces, "light"),
      [`--mantine-color-${name}-light-color`]: readable(shades[0], [darken(shades[9], 0.5), darken(shades[9], 0.3), colors.dark[7]], "light"),
    });
  }
  return { variables: {}, light, dark };
};
