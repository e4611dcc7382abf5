import { describe, expect, it } from "vitest";
import { can, roles } from "@pier/protocol";
import { createApiApp } from "../api/app.ts";
import type { ApiDependencies } from "../api/context.ts";
import { dockerPermission, publicPaths, requirePermission, routeAccess, routePermissions } from "./route-permissions.ts";

// Registering routes reads nothing from the dependencies but `fleet`'s services, lazily.
const inert = new Proxy({}, { get: (_target, key) => (key === "fleet" ? new Proxy({}, { get: () => ({}) }) : undefined) }) as ApiDependencies;
const template = (honoPath: string) => honoPath.replace(/:([A-Za-z_][A-Za-z0-9_]*)(\{[^}]*\})?/g, "{$1}");

function everyRoute(): Set<string> {
  const app = createApiApp(inert);
  const routes = new Set<string>();
  for (const definition of app.openAPIRegistry.definitions) if (definition.type === "route") routes.add(`${definition.route.method.toUpperCase()} ${definition.route.path}`);
  for (const route of app.routes) if (route.method !== "ALL") routes.add(`${route.method} ${template(route.path)}`);
  return routes;
}

describe("the route permission table", () => {
  it("declares what every API route needs, and lists no route that does not exist", () => {
    const routes = everyRoute();
    expect(routes.size).toBeGreaterThan(70);
    const undeclared = [...routes].filter((route) => routePermissions[route] === undefined);
    expect(undeclared, "routes missing from auth/route-permissions.ts").toEqual([]);
    const stale = Object.keys(routePermissions).filter((route) => !routes.has(route));
    expect(stale, "entries of auth/route-permissions.ts without a route").toEqual([]);
  });

  it("has no handler for every method (app.all) that the table could not name, only wildcard middlewares", () => {
    const app = createApiApp(inert);
    expect(app.routes.filter((route) => route.method === "ALL" && !route.path.endsWith("*")).map((route) => route.path)).toEqual([]);
  });

  it("denies by default: an unlisted route needs administer", () => {
    expect(routeAccess("GET", "/api/not-listed")).toBe("administer");
    expect(routeAccess("HEAD", "/api/endpoints")).toBe("view");
  });

  it("keeps settings, users and PKI for administrators, and lets no route be public by accident", () => {
    for (const [route, access] of Object.entries(routePermissions)) {
      if (/ \/api\/(settings|pki\/(ca|rotation|device-certificates))/.test(route) && route !== "GET /api/settings/edge/mtls") expect(access, route).toBe("administer");
      if (/^(POST|PUT|DELETE) \/api\/users(\/\{id\})?$/.test(route) || route === "GET /api/users") expect(access, route).toBe("administer");
    }
    expect(publicPaths().sort()).toEqual(["/api/auth", "/api/openapi.json", "/api/pki/crl", "/api/system/status", "/api/users/admin/check", "/api/users/admin/init"]);
  });

  it("gives each role its permissions", () => {
    expect(roles.map((role) => [role, can(role, "view"), can(role, "operate"), can(role, "administer")])).toEqual([
      ["admin", true, true, true],
      ["operator", true, true, false],
      ["helpdesk", true, false, false],
    ]);
  });

  it("lets helpdesk read containers through the Docker proxy, and only operators act on them", () => {
    expect(dockerPermission("GET", "/v1.47/containers/json?all=1")).toBe("view");
    expect(dockerPermission("GET", "/containers/abc/logs?follow=1")).toBe("view");
    expect(dockerPermission("GET", "/containers/abc/stats")).toBe("view");
    expect(dockerPermission("HEAD", "/_ping")).toBe("view");
    for (const [method, path] of [
      ["POST", "/containers/abc/stop"],
      ["POST", "/v1.47/containers/abc/restart"],
      ["DELETE", "/containers/abc"],
      ["POST", "/containers/abc/exec"],
      ["POST", "/exec/xyz/start"],
      ["GET", "/containers/abc/archive?path=/etc"],
      ["GET", "/v1.47/containers/abc/export"],
      ["GET", "/images/get?names=alpine"],
      ["GET", "/containers/abc/attach/ws"],
    ] as const) {
      expect(dockerPermission(method, path), `${method} ${path}`).toBe("operate");
    }
  });

  it("refuses with 403 naming the role needed and the fix", () => {
    expect(() => requirePermission("helpdesk", "operate", "POST /containers/abc/stop")).toThrow(
      expect.objectContaining({ code: "forbidden", message: "POST /containers/abc/stop needs the Operator role (or higher); you act as Helpdesk.", fix: expect.stringContaining("administrator") as unknown }),
    );
    expect(() => requirePermission("operator", "operate", "x")).not.toThrow();
  });
});
