const controlLabels = { first: "First page", previous: "Previous page", next: "Next page", last: "Last page" } as const;

/**
 * Names for Mantine Pagination's arrow buttons, which have only an icon (axe-core's
 * `button-name`): pass as `getControlProps`.
 *
 * @example
 * <Pagination total={pages} value={page} onChange={setPage} getControlProps={paginationControlProps} />
 */
export function paginationControlProps(control: keyof typeof controlLabels): { "aria-label": string } {
  return { "aria-label": controlLabels[control] };
}
