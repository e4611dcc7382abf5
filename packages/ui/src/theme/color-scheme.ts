import { localStorageColorSchemeManager } from "@mantine/core";

/**
 * Where the header's toggle keeps the colour scheme chosen ("light", "dark" or "auto": the OS's).
 * public/color-scheme.js reads the same key before the first paint.
 */
export const colorSchemeStorageKey = "pier-color-scheme";

/** Mantine's manager on {@link colorSchemeStorageKey}; it also follows other tabs' changes. */
export const colorSchemeManager = localStorageColorSchemeManager({ key: colorSchemeStorageKey });
