import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fleetLimits } from "@pier/protocol";
import { maxComposeAliases, supportedComposeKeys, validateComposeFile } from "./compose-validation.ts";

/** The ServerError `validateComposeFile` throws for `text`, or `undefined` when it accepts it. */
function refusal(text: string, envVars: { name: string; value: string }[] = []): { code: string; field?: string; message: string; details?: { path?: string } } | undefined {
  try {
    validateComposeFile(text, envVars);
    return undefined;
  } catch (error) {
    return error as { code: string; field?: string; message: string };
  }
}

const web = (lines: string) => `services:\n  web:\n    image: nginx:1.27\n${lines}`;

/** A file using every supported key once (with the long forms where they exist). */
const everyKey = `
version: "3.8"
x-common: &common
  restart: unless-stopped
services:
  web:
    <<: *common
    image: registry.example.com:5000/web:1
    command: ["nginx", "-g", "daemon off;"]
    entrypoint: /docker-entrypoint.sh
    environment:
      MODE: production
    ports: ["8080:80", "127.0.0.1:8443:443/tcp"]
    volumes:
      - data:/var/lib/web
      - /etc/localtime:/etc/localtime:ro
      - type: bind
        source: /srv/config
        target: /config
        read_only: true
    networks: [front]
    labels: { team: edge }
    healthcheck:
      test: ["CMD", "true"]
      interval: 30s
    depends_on: [cache]
    working_dir: /srv
    user: "1000:1000"
    hostname: web
    privileged: false
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    devices: ["/dev/ttyUSB0:/dev/ttyUSB0"]
    logging:
      driver: json-file
      options: { max-size: 10m }
    deploy:
      replicas: 2
      mode: replicated
      placement: { constraints: ["node.role == worker"] }
      resources: { limits: { cpus: "0.5", memory: 256M } }
      restart_policy: { condition: on-failure }
      update_config: { parallelism: 1 }
  cache:
    image: redis:7
    networks:
      front: {}
networks:
  front:
    name: front
    driver: bridge
    driver_opts: { com.docker.network.bridge.name: br-front }
    ipam: { config: [{ subnet: 172.28.0.0/16 }] }
    external: false
    internal: false
    attachable: true
    labels: [tier=front]
volumes:
  data:
    name: web-data
    driver: local
    driver_opts: { type: none }
    external: false
    labels: { keep: "yes" }
`;

describe("compose validation", () => {
  it("accepts a file using every key of the supported list (and x- extensions, YAML merge keys)", () => {
    expect(refusal(everyKey)).toBeUndefined();
    // Precondition: the sample really uses each listed service, deploy, network and volume key.
    for (const key of [...supportedComposeKeys.service, ...supportedComposeKeys.deploy, ...supportedComposeKeys.network, ...supportedComposeKeys.volume, ...supportedComposeKeys.topLevel]) {
      expect(everyKey, key).toMatch(new RegExp(`\\b${key}:`));
    }
  });

  it("lists in docs/fleet.md \"Supported compose keys\" exactly the keys the validator accepts", () => {
    const doc = readFileSync(join(import.meta.dirname, "../../../../../docs/fleet.md"), "utf8");
    const section = doc.split("## Supported compose keys")[1]?.split("\n## ")[0] ?? "";
    expect(section).not.toBe("");
    const listed = (label: string) => {
      const line = section.split("\n").find((candidate) => candidate.startsWith(`- ${label}:`)) ?? "";
      return [...line.matchAll(/`([a-z_]+)`/g)].map((match) => match[1]);
    };
    expect(listed("Top level")).toEqual([...supportedComposeKeys.topLevel]);
    expect(listed("Service")).toEqual([...supportedComposeKeys.service]);
    expect(listed("deploy")).toEqual([...supportedComposeKeys.deploy]);
    expect(listed("Network")).toEqual([...supportedComposeKeys.network]);
    expect(listed("Volume")).toEqual([...supportedComposeKeys.volume]);
  });

  it("refuses build with its path and what to do instead", () => {
    const error = refusal("services:\n  web:\n    image: web\n    build: .\n");
    expect(error).toMatchObject({ code: "bad_request", field: "stackFileContent", details: { path: "services.web.build" } });
    expect(error?.message).toBe("Invalid stackFileContent: services.web.build: not supported: Pier deploys images; build it and push it to a registry");
  });

  it.each([
    ["services.web.env_file", web("    env_file: .env\n")],
    ["services.web.secrets", web("    secrets: [token]\n")],
    ["services.web.container_name", web("    container_name: web\n")],
    ["services.web.tty", web("    tty: true\n")],
    ["services.web.network_mode", web("    network_mode: host\n")],
    ["services.web.extends", web("    extends: { service: base }\n")],
    ["services.web.deploy.rollback_config", web("    deploy: { rollback_config: { parallelism: 1 } }\n")],
    ["secrets", "services:\n  web:\n    image: a\nsecrets:\n  token:\n    file: ./token\n"],
    ["configs", "services:\n  web:\n    image: a\nconfigs:\n  conf:\n    file: ./conf\n"],
    ["networks.front.enable_ipv6", "services:\n  web:\n    image: a\nnetworks:\n  front:\n    enable_ipv6: true\n"],
  ])("refuses the unlisted key %s", (path, text) => {
    const error = refusal(text);
    expect(error).toMatchObject({ code: "bad_request", field: "stackFileContent", details: { path } });
    expect(error?.message).toContain(`${path}: not supported`);
  });

  it("refuses what the Compose schema refuses, naming the path", () => {
    expect(refusal(web("    colour: blue\n"))).toMatchObject({ details: { path: "services.web.colour" } });
    expect(refusal(web("    ports: 8080\n"))?.message).toContain("services.web.ports: must be array");
    expect(refusal("services:\n  web:\n    image: [1]\n")).toMatchObject({ details: { path: "services.web.image" } });
    expect(refusal("service:\n  web:\n    image: a\n")).toMatchObject({ details: { path: "service" } });
  });

  it("refuses a service without an image, no service at all, anonymous and relative volumes, undeclared volumes and networks", () => {
    expect(refusal("services:\n  web:\n    command: sleep 1\n")).toMatchObject({ details: { path: "services.web.image" } });
    expect(refusal("services: {}\n")).toMatchObject({ details: { path: "services" } });
    expect(refusal(web("    volumes: [/data]\n"))?.message).toContain("anonymous volumes are not supported");
    expect(refusal(web("    volumes: ['./data:/data']\n"))?.message).toContain('services.web.volumes.0: the bind mount source "./data" is relative');
    expect(refusal(web("    volumes: ['data:/data']\n"))?.message).toContain('the volume "data" is not declared');
    expect(refusal(web("    volumes: [{ type: tmpfs, target: /tmp }]\n"))).toMatchObject({ details: { path: "services.web.volumes.0.type" } });
    expect(refusal(web("    networks: [back]\n"))).toMatchObject({ details: { path: "services.web.networks.back" } });
    expect(refusal(web("    networks: [default]\n"))).toBeUndefined();
  });

  it("refuses YAML that does not parse, several documents, and an alias bomb, saying where", () => {
    expect(refusal("services:\n  web:\n    image: a\n   bad: [\n")?.message).toMatch(/not valid YAML at line \d+, column \d+/);
    expect(refusal("services:\n  web:\n    image: a\n    image: b\n")?.message).toContain("not valid YAML");
    expect(refusal("services: {}\n---\nservices: {}\n")?.message).toContain("2 YAML documents");
    const levels = ["a: &a [x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 12; i++) levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(", ")}]`);
    const bomb = `x-bomb:\n${levels.map((line) => `  ${line}`).join("\n")}\nservices:\n  web:\n    image: a\n`;
    expect(bomb.split("*").length - 1).toBeGreaterThan(maxComposeAliases);
    expect(refusal(bomb)?.message).toContain("aliases");
    expect(refusal("")?.message).toContain("empty");
  });

  it(`refuses a file over ${fleetLimits.composeFileBytes} bytes and accepts one at the limit`, () => {
    const base = web("");
    const atLimit = base + "#".repeat(fleetLimits.composeFileBytes - Buffer.byteLength(base) - 1) + "\n";
    expect(Buffer.byteLength(atLimit)).toBe(fleetLimits.composeFileBytes);
    expect(refusal(atLimit)).toBeUndefined();
    expect(refusal(`${atLimit}#`)?.message).toContain(`at most ${fleetLimits.composeFileBytes}`);
  });

  it("interpolates ${VAR} from envVars and defaults, and refuses a name neither set nor defaulted", () => {
    const file = "services:\n  web:\n    image: nginx:${TAG}\n    environment:\n      PRICE: $$5\n      LEVEL: ${LEVEL:-info}\n";
    expect(refusal(file, [{ name: "TAG", value: "1.27" }])).toBeUndefined();
    const error = refusal(file);
    expect(error).toMatchObject({ code: "bad_request", field: "stackFileContent", details: { path: "services.web.image" } });
    expect(error?.message).toBe("Invalid stackFileContent: services.web.image: ${TAG} is not set");
    expect(refusal(web("    user: ${USER_ID:?the uid to run as}\n"))?.message).toContain("${USER_ID} is required: the uid to run as");
    expect(refusal(web("    user: ${USER_ID:?x}\n"), [{ name: "USER_ID", value: "" }])?.message).toContain("is required");
    expect(refusal(web("    user: ${USER_ID?x}\n"), [{ name: "USER_ID", value: "" }])).toBeUndefined();
    expect(refusal(web("    user: ${1BAD}\n"))?.message).toContain("not a valid variable reference");
    // A variable may fill a value the schema checks (ports as a string).
    expect(refusal(web('    ports: ["${PORT:-8080}:80"]\n'))).toBeUndefined();
  });
});
