import { useDebouncedValue } from "@mantine/hooks";
import { useEffect, useState } from "react";
import { type EnvironmentListPage, type EnvironmentListQuery, type EnvironmentSort, type PageSize, environmentListPath, loadEnvironmentPage } from "../api/environment-list.ts";
import { type Polled, usePolling } from "./use-polling.ts";

/** A server-paged environment list as a screen holds it: the query, its setters, and the page polled. */
export interface EnvironmentList {
  /** What the controls show (the search as typed). */
  query: EnvironmentListQuery;
  page: Polled<EnvironmentListPage>;
  setSearch: (value: string) => void;
  /** Sorts by `sort`; the column already sorted by flips its order. */
  toggleSort: (sort: EnvironmentSort) => void;
  setPage: (page: number) => void;
  setPageSize: (size: PageSize) => void;
  setStatus: (status: EnvironmentListQuery["status"]) => void;
  setTagIds: (tagIds: readonly number[]) => void;
  setEdgeGroupId: (edgeGroupId: number | undefined) => void;
}

/**
 * The state of a paged list of environments, reloaded every `intervalMs`: the search is debounced
 * (300 ms) so typing sends one request, and any change of filter, sort or page size goes back to
 * page 1. The page shown stays until the next one arrives.
 *
 * @example
 * const list = useEnvironmentList("home", 5000);
 * list.page.data?.total; // how many environments match
 */
export function useEnvironmentList(list: EnvironmentListQuery["list"], intervalMs: number, initialSort: EnvironmentSort = "Name"): EnvironmentList {
  const [search, setSearchText] = useState("");
  const [sort, setSort] = useState<EnvironmentSort>(initialSort);
  const [order, setOrder] = useState<"asc" | "desc">("asc");
  const [page, setPageNumber] = useState(1);
  const [pageSize, setPageSizeValue] = useState<PageSize>(25);
  const [status, setStatusValue] = useState<EnvironmentListQuery["status"]>();
  const [tagIds, setTagIdsValue] = useState<readonly number[]>([]);
  const [edgeGroupId, setEdgeGroupIdValue] = useState<number>();
  const [debouncedSearch] = useDebouncedValue(search, 300);

  const sent: EnvironmentListQuery = {
    list,
    search: debouncedSearch,
    sort,
    order,
    page,
    pageSize,
    ...(status === undefined ? {} : { status }),
    ...(tagIds.length === 0 ? {} : { tagIds }),
    ...(edgeGroupId === undefined ? {} : { edgeGroupId }),
  };
  const polled = usePolling((signal) => loadEnvironmentPage(sent, signal), intervalMs, environmentListPath(sent), { keepDataOnKeyChange: true });

  // Devices removed or associated meanwhile may leave the page shown past the end: go to the last.
  const total = polled.data?.total;
  useEffect(() => {
    if (total === undefined) return;
    const last = Math.max(1, Math.ceil(total / pageSize));
    if (page > last) setPageNumber(last);
  }, [total, page, pageSize]);

  return {
    query: { ...sent, search },
    page: polled,
    setSearch: (value) => {
      setSearchText(value);
      setPageNumber(1);
    },
    toggleSort: (next) => {
      if (next === sort) setOrder(order === "asc" ? "desc" : "asc");
      else {
        setSort(next);
        setOrder("asc");
      }
      setPageNumber(1);
    },
    setPage: setPageNumber,
    setPageSize: (size) => {
      setPageSizeValue(size);
      setPageNumber(1);
    },
    setStatus: (value) => {
      setStatusValue(value);
      setPageNumber(1);
    },
    setTagIds: (value) => {
      setTagIdsValue(value);
      setPageNumber(1);
    },
    setEdgeGroupId: (value) => {
      setEdgeGroupIdValue(value);
      setPageNumber(1);
    },
  };
}
