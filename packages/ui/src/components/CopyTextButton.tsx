import { Button } from "@mantine/core";
import { IconCheck, IconCopy, IconX } from "@tabler/icons-react";
import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";

// Without the async Clipboard API (a page not served from a secure context) or with its
// permission refused, a selected textarea and the legacy copy command still work.
function copyBySelection(text: string): boolean {
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.append(area);
  area.select();
  try {
    return document.execCommand("copy");
  } catch {
    return false;
  } finally {
    area.remove();
  }
}

/**
 * Copies a text to the clipboard, then says "Copied" for a moment (or that copying failed).
 *
 * @example
 * copyText("docker run …").then((copied) => …);
 */
export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return copyBySelection(text);
  }
}

/** A "Copy" button for a command or key; "Copied" confirms it. `label` names it for assistive technology when a screen has several. */
export function CopyTextButton({ value, label }: { value: string; label?: string }) {
  const [outcome, setOutcome] = useState<"copied" | "failed">();
  const { t } = useTranslation(["common", "environments"]);

  useEffect(() => {
    if (!outcome) return undefined;
    const timer = window.setTimeout(() => setOutcome(undefined), 2500);
    return () => window.clearTimeout(timer);
  }, [outcome]);

  const icon = outcome === "copied" ? <IconCheck size={16} /> : outcome === "failed" ? <IconX size={16} /> : <IconCopy size={16} />;
  return (
    <Button variant={outcome === "copied" ? "filled" : "light"} color={outcome === "copied" ? "teal" : outcome === "failed" ? "red" : "blue"} leftSection={icon} aria-label={label} onClick={() => void copyText(value).then((copied) => setOutcome(copied ? "copied" : "failed"))}>
      {outcome === "copied" ? t("actions.copied") : outcome === "failed" ? t("environments:components.copyFailed") : t("actions.copy")}
    </Button>
  );
}
