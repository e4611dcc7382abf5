/**
 * The shape a translation must have: every key of the English catalog, each a string. The
 * English catalog (`as const`) is the source of truth; `Catalog<typeof en>` makes tsc refuse a
 * translation that misses or adds a key.
 */
export type Catalog<T> = { readonly [K in keyof T]: T[K] extends string ? string : Catalog<T[K]> };
