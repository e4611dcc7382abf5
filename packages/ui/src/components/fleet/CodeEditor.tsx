import { Alert, Box, Input, Text } from "@mantine/core";
import { useId, useRef, type KeyboardEvent } from "react";
import { useTranslation } from "react-i18next";
import { formatNumber } from "../../format.ts";

const lineHeight = 20;
const editorFont = { fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace", fontSize: 13, lineHeight: `${lineHeight}px` };

/** An error the editor shows beside its text: the message and the line it is about (1-based). */
export interface CodeEditorError {
  message: string;
  line?: number | undefined;
  /** The place in the file the server named (`services.web.build`). */
  path?: string | undefined;
}

/**
 * A monospaced text editor with line numbers for compose files and scripts: Tab inserts two
 * spaces (Escape, then Tab, leaves the editor), the line an error points at is marked, and the
 * error is shown under the text, which stays as typed.
 *
 * @example
 * <CodeEditor label="Compose file" value={text} onChange={setText} error={{ message, line: 5 }} />
 */
export function CodeEditor({ label, description, value, onChange, error, rows = 18, maxBytes }: { label: string; description?: string; value: string; onChange: (value: string) => void; error?: CodeEditorError | undefined; rows?: number; maxBytes?: number }) {
  const { t } = useTranslation("fleet");
  const id = useId();
  const errorId = `${id}-error`;
  const gutter = useRef<HTMLDivElement>(null);
  const leaveOnTab = useRef(false);
  const lineCount = value.split("\n").length;
  const bytes = new TextEncoder().encode(value).length;

  function handleKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (event.key === "Escape") {
      leaveOnTab.current = true;
      return;
    }
    if (event.key !== "Tab" || event.shiftKey || event.ctrlKey || event.altKey || event.metaKey || leaveOnTab.current) {
      leaveOnTab.current = false;
      return;
    }
    event.preventDefault();
    const area = event.currentTarget;
    const { selectionStart, selectionEnd } = area;
    onChange(`${value.slice(0, selectionStart)}  ${value.slice(selectionEnd)}`);
    requestAnimationFrame(() => area.setSelectionRange(selectionStart + 2, selectionStart + 2));
  }

  return (
    <Input.Wrapper id={id} label={label} description={description} mb="md">
      <Box style={{ display: "flex", border: `1px solid ${error ? "var(--mantine-color-red-6)" : "var(--mantine-color-default-border)"}`, borderRadius: 4, overflow: "hidden", marginTop: 4 }}>
        <div ref={gutter} aria-hidden style={{ ...editorFont, overflow: "hidden", height: rows * lineHeight + 16, padding: "8px 8px 8px 4px", minWidth: 44, textAlign: "right", color: "var(--mantine-color-dimmed)", background: "light-dark(var(--mantine-color-gray-0), var(--mantine-color-dark-6))", userSelect: "none" }}>
          {Array.from({ length: lineCount }, (_, index) => (
            <div key={index} style={index + 1 === error?.line ? { color: "var(--mantine-color-red-text)", fontWeight: 700, background: "var(--mantine-color-red-light)" } : undefined}>
              {index + 1}
            </div>
          ))}
        </div>
        <textarea
          id={id}
          value={value}
          spellCheck={false}
          wrap="off"
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? errorId : undefined}
          onChange={(event) => onChange(event.currentTarget.value)}
          onKeyDown={handleKeyDown}
          onScroll={(event) => {
            if (gutter.current) gutter.current.scrollTop = event.currentTarget.scrollTop;
          }}
          style={{ ...editorFont, flex: 1, border: "none", outline: "none", color: "var(--mantine-color-text)", background: "var(--mantine-color-body)", resize: "none", padding: 8, height: rows * lineHeight + 16, whiteSpace: "pre", overflow: "auto", tabSize: 2 }}
        />
      </Box>
      {maxBytes !== undefined && (
        <Text size="xs" c={bytes > maxBytes ? "red" : "dimmed"} mt={4}>
          {t("editor.size", { count: lineCount, bytes: formatNumber(bytes), max: formatNumber(maxBytes) })}
        </Text>
      )}
      {error && (
        <Alert id={errorId} color="red" mt="xs" role="alert" title={error.line ? (error.path ? t("editor.errorLineAt", { line: error.line, path: error.path }) : t("editor.errorLine", { line: error.line })) : error.path}>
          <Text size="sm" style={{ whiteSpace: "pre-wrap", wordBreak: "break-word" }}>
            {error.message}
          </Text>
        </Alert>
      )}
    </Input.Wrapper>
  );
}
