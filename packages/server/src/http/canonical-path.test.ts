import { describe, expect, it } from "vitest";
import { ServerError } from "../errors.ts";
import { canonicalPath, maxPathBytes } from "./canonical-path.ts";

function refusal(target: string): ServerError {
  try {
    canonicalPath(target);
  } catch (error) {
    if (error instanceof ServerError) return error;
    throw error;
  }
  throw new Error(`${target} was not refused`);
}

describe("canonicalPath", () => {
  it.each([
    ["/", "/", ""],
    ["/api/endpoints/1/docker/containers/json", "/api/endpoints/1/docker/containers/json", ""],
    ["/api/endpoints/1/docker/containers/json?all=1&filters=%7B%22a%22%3A1%7D", "/api/endpoints/1/docker/containers/json", "?all=1&filters=%7B%22a%22%3A1%7D"],
    // Unreserved escapes are decoded (what the API's router would do), others upper-cased.
    ["/%61pi/users/%31/tokens", "/api/users/1/tokens", ""],
    ["/api/endpoints/1/docker/images/my%3aimage/json", "/api/endpoints/1/docker/images/my%3Aimage/json", ""],
    ["/a%2eb/c.d/.hidden-name/...", "/a.b/c.d/.hidden-name/...", ""],
    ["/api/users/", "/api/users/", ""],
    // The query passes through untouched, dots and encoded slashes included.
    ["/api/endpoints/1/docker/x?p=../../%2f..%5c&q=//", "/api/endpoints/1/docker/x", "?p=../../%2f..%5c&q=//"],
    ["/assets/index-abc.js", "/assets/index-abc.js", ""],
  ])("keeps %s as %s", (target, path, query) => {
    expect(canonicalPath(target)).toEqual({ path, query, url: path + query });
  });

  it.each([
    ["/api/endpoints/1/dockerX/../../../users/1/tokens", /dot segment/],
    ["/api/endpoints/1/docker/../../../users", /dot segment/],
    ["/api/endpoints/1/docker/./containers/json", /dot segment/],
    ["/api/endpoints/1/docker/containers/..", /dot segment/],
    ["/api/endpoints/1/docker/%2e%2e/%2e%2e/users", /dot segment/],
    ["/api/endpoints/1/docker/.%2E/x", /dot segment/],
    ["/api/endpoints/1/docker/%2E/x", /dot segment/],
    ["/x/../api/users/admin/init", /dot segment/],
    ["/api/endpoints/1/docker%2f..%2f..%2fusers", /encoded slash/],
    ["/api/endpoints/1/docker/containers%2Fjson", /encoded slash/],
    ["/api/endpoints/1/docker/a%5c..%5cb", /encoded slash/],
    ["/api/endpoints/1/docker/a\\..\\b", /backslash/],
    ["/api/users%00/x", /NUL/],
    ["/api/users\0/x", /not allowed/],
    ["/api//users", /empty segment/],
    ["//api/users", /empty segment/],
    ["/api/endpoints/1/docker//containers/json", /empty segment/],
    ["/api/users/%zz", /malformed percent-escape/],
    ["/api/users/%2", /malformed percent-escape/],
    ["/api/users#/../../auth", /not allowed/],
    ["/api/users\t/x", /not allowed/],
    ["/api/users/é", /not allowed/],
    ["http://pier.example.com/api/users", /origin-form/],
    ["pier.example.com:443", /origin-form/],
    ["*", /`\*`/],
    ["", /origin-form/],
  ])("refuses %j with 400", (target, reason) => {
    const error = refusal(target);
    expect(error.status).toBe(400);
    expect(error.code).toBe("bad_request");
    expect(error.message).toMatch(reason);
    expect(error.fix).toMatch(/no `\.` or `\.\.` segments/);
  });

  it(`refuses paths over ${maxPathBytes} bytes, not queries`, () => {
    const longest = `/${"a".repeat(maxPathBytes - 1)}`;
    expect(canonicalPath(longest).path).toBe(longest);
    expect(refusal(`${longest}a`).message).toMatch(/longer than 8192/);
    expect(canonicalPath(`/api?${"q".repeat(maxPathBytes * 2)}`).path).toBe("/api");
  });
});
