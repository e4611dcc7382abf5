import { type Permission, can } from "@pier/protocol";
import { useRouteLoaderData } from "react-router";
import type { UserView } from "../api/users.ts";

/** The signed-in user, as the app's root route loaded it (router.tsx, route id "app"). */
export function useCurrentUser(): UserView {
  const user = useRouteLoaderData<UserView>("app");
  if (!user) throw new Error("useCurrentUser is used outside the signed-in app.");
  return user;
}

/**
 * Whether the signed-in user's role holds `permission` (`@pier/protocol`'s `can`, the server's
 * own table): controls the server would refuse are hidden or disabled.
 *
 * @example
 * const canOperate = useCan("operate");
 */
export function useCan(permission: Permission): boolean {
  return can(useCurrentUser().RoleName, permission);
}
