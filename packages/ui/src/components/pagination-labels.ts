import { i18n } from "../i18n/index.ts";

/**
 * Names for Mantine Pagination's arrow buttons, which have only an icon (axe-core's
 * `button-name`): pass as `getControlProps`.
 *
 * @example
 * <Pagination total={pages} value={page} onChange={setPage} getControlProps={paginationControlProps} />
 */
export function paginationControlProps(control: "first" | "previous" | "next" | "last"): { "aria-label": string } {
  return { "aria-label": i18n.t(`environments:pagination.${control}`) };
}
