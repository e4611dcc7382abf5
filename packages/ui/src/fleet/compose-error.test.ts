import { describe, expect, it } from "vitest";
import { composeErrorLocation } from "./compose-error.ts";

const compose = `# a comment
services:
  web:
    image: registry.local/web:1
    build: .
    ports:
      - "80:80"
      - "443:443"
  db:
    image: postgres:17
    environment:
      - A=1
    volumes: ["data:/var/lib/postgresql"]
volumes:
  data: {}
`;

describe("composeErrorLocation", () => {
  it("finds the line of the path the server names", () => {
    expect(composeErrorLocation("services.web.build: not supported: Pier deploys images; build it and push it to a registry", compose)).toEqual({ path: "services.web.build", line: 5 });
    expect(composeErrorLocation("services.db.image: must be a string", compose)).toEqual({ path: "services.db.image", line: 10 });
  });

  it("reads the path after the server's \"Invalid stackFileContent: \" and from its details", () => {
    expect(composeErrorLocation("Invalid stackFileContent: services.web.build: not supported: Pier deploys images", compose)).toEqual({ path: "services.web.build", line: 5 });
    expect(composeErrorLocation("Invalid stackFileContent: must NOT have additional properties (Compose specification)", compose, "services.db.environment.0")).toEqual({ path: "services.db.environment.0", line: 12 });
    expect(composeErrorLocation("Invalid stackFileContent: not valid YAML at line 7, column 3: bad indentation", compose, "")).toEqual({ path: undefined, line: 7 });
  });

  it("finds a list item by its index, in dotted, bracketed and JSON-pointer forms", () => {
    expect(composeErrorLocation("services.web.ports.1: invalid port", compose).line).toBe(8);
    expect(composeErrorLocation("services.web.ports[0]: invalid port", compose).line).toBe(7);
    expect(composeErrorLocation("/services/db/environment/0: invalid", compose).line).toBe(12);
  });

  it("points at the deepest key it finds when the rest is in flow style or absent", () => {
    expect(composeErrorLocation("services.db.volumes.0: invalid volume", compose).line).toBe(13);
    expect(composeErrorLocation("services.cache.image: missing", compose)).toEqual({ path: "services.cache.image", line: 2 });
  });

  it("takes the line of a YAML syntax error from the message", () => {
    expect(composeErrorLocation("The compose file is not valid YAML: Nested mappings are not allowed in compact mappings at line 3, column 10", "a: b: c")).toEqual({ path: undefined, line: 3 });
  });

  it("does not read a sentence as a path", () => {
    expect(composeErrorLocation("Error: the compose file is empty", compose)).toEqual({ path: undefined, line: undefined });
  });

  it("does not match a key that only starts like the segment", () => {
    expect(composeErrorLocation("services.we.image: x", compose)).toEqual({ path: "services.we.image", line: 2 });
  });
});
