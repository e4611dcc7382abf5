import { describe, expect, it } from "vitest";
import { AgentError } from "../errors.ts";
import { interpolate, parseComposeProject } from "./compose-model.ts";
import { describeStep, planDeployment, planPulls, serviceConfigHash, type CurrentContainer } from "./stack-plan.ts";

const file = `
services:
  web:
    image: "web:\${TAG:-1}"
    command: sleep 3600
    environment:
      MODE: \${MODE}
      PRICE: "$$5"
    ports: ["127.0.0.1:8080:80", "9000-9001:9000-9001/udp"]
    volumes: ["data:/data:ro", "./conf:/etc/conf"]
    depends_on: [db]
    networks: [front, default]
  db:
    image: db:2
    restart: always
    healthcheck:
      test: ["CMD", "true"]
      interval: 1m30s
networks:
  front: {}
volumes:
  data: {}
`;

const ids = new Map([["web:1", "sha256:w1"], ["web:2", "sha256:w2"], ["db:2", "sha256:d2"]]);
const project = () => parseComposeProject("shop", file, [{ name: "MODE", value: "prod" }], "/data/fleet/stacks/7");

function running(service: string, hash: string, state = "running", exitCode = 0): CurrentContainer {
  return { id: `id-${service}`, name: `shop-${service}-1`, service, number: 1, configHash: hash, state, exitCode };
}

describe("compose model", () => {
  it("interpolates like Compose: ${VAR}, $VAR, defaults, $$, required variables", () => {
    const vars = new Map([["A", "x"], ["EMPTY", ""]]);
    expect(interpolate("${A}-$A-${B:-d}-${EMPTY:-e}-${EMPTY-f}-$$A", vars, "p")).toBe("x-x-d-e--$A");
    expect(() => interpolate("${B:?set B}", vars, "services.web.image")).toThrow(/services\.web\.image: required variable B is missing \(set B\)/);
  });

  it("normalises services: order by depends_on, ports, mounts, networks, durations", () => {
    const shop = project();
    expect(shop.services.map((service) => service.name)).toEqual(["db", "web"]);
    const web = shop.services[1];
    expect(web?.image).toBe("web:1");
    expect(web?.command).toEqual(["sleep", "3600"]);
    expect(web?.environment).toEqual({ MODE: "prod", PRICE: "$5" });
    expect(web?.ports).toEqual([
      { target: 80, published: "8080", hostIp: "127.0.0.1", protocol: "tcp" },
      { target: 9000, published: "9000", protocol: "udp" },
      { target: 9001, published: "9001", protocol: "udp" },
    ]);
    expect(web?.volumes).toEqual([
      { type: "volume", source: "data", target: "/data", readOnly: true },
      { type: "bind", source: "/data/fleet/stacks/7/conf", target: "/etc/conf", readOnly: false },
    ]);
    expect(shop.networks.map((network) => network.name).sort()).toEqual(["shop_default", "shop_front"]);
    expect(shop.volumes.map((volume) => volume.name)).toEqual(["shop_data"]);
    expect(shop.services[0]?.healthcheck).toEqual({ test: ["CMD", "true"], interval: 90e9 });
  });

  it("keeps network and volume options in the Engine API's terms", () => {
    const options = parseComposeProject("n", "services:\n  a:\n    image: x\n    networks: [back]\n    volumes: [v:/v]\nnetworks:\n  back:\n    internal: true\n    driver_opts: {mtu: 1400}\n    ipam:\n      config: [{subnet: 10.9.0.0/24, gateway: 10.9.0.1}]\nvolumes:\n  v:\n    driver_opts: {type: tmpfs, device: tmpfs}\n", [], "/w");
    expect(options.networks).toEqual([{ key: "back", name: "n_back", external: false, driverOpts: { mtu: "1400" }, labels: {}, internal: true, ipam: { config: [{ Subnet: "10.9.0.0/24", Gateway: "10.9.0.1" }] } }]);
    expect(options.volumes).toEqual([{ key: "v", name: "n_v", external: false, driverOpts: { type: "tmpfs", device: "tmpfs" }, labels: {} }]);
  });

  it("refuses what it cannot deploy with stack_invalid and the path", () => {
    const refused = (content: string) => {
      try {
        parseComposeProject("p", content, [], "/w");
      } catch (error) {
        expect(error).toBeInstanceOf(AgentError);
        expect((error as AgentError).code).toBe("stack_invalid");
        return (error as AgentError).message;
      }
      throw new Error("accepted");
    };
    expect(refused("services:\n  a:\n    build: .\n")).toContain("services.a.image: every service needs an image");
    expect(refused("services:\n  a:\n    image: x\n    volumes: [nope:/d]\n")).toContain('services.a.volumes[0]: volume "nope" is not declared');
    expect(refused("services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: y\n    depends_on: [a]\n")).toContain("dependency cycle");
    expect(refused("services: [")).toContain("not valid YAML");
  });
});

describe("stack plan", () => {
  it("deploys from nothing: pulls missing images, then networks, volumes and containers in dependency order", () => {
    const shop = project();
    expect(planPulls(shop, new Set(["db:2"])).map(describeStep)).toEqual(["pull web:1"]);
    expect(planDeployment(shop, { containers: [], networks: [], volumes: [] }, ids).map(describeStep)).toEqual([
      "create network shop_front",
      "create network shop_default",
      "create volume shop_data",
      "create and start db",
      "create and start web",
    ]);
  });

  it("does nothing when the engine matches (idempotent)", () => {
    const shop = project();
    const [db, web] = shop.services;
    const current = { containers: [running("db", serviceConfigHash(db!, "sha256:d2")), running("web", serviceConfigHash(web!, "sha256:w1"))], networks: ["shop_front", "shop_default"], volumes: ["shop_data"] };
    expect(planDeployment(shop, current, ids)).toEqual([]);
  });

  it("recreates only the service whose configuration or image changed, removes gone services and unused networks, starts stopped ones", () => {
    const shop = project();
    const [db, web] = shop.services;
    const changed = parseComposeProject("shop", file.replace("MODE: ${MODE}", "MODE: test"), [], "/data/fleet/stacks/7");
    expect(serviceConfigHash(changed.services[0]!, "sha256:d2")).toBe(serviceConfigHash(db!, "sha256:d2"));
    expect(serviceConfigHash(changed.services[1]!, "sha256:w1")).not.toBe(serviceConfigHash(web!, "sha256:w1"));
    expect(serviceConfigHash(db!, "sha256:other")).not.toBe(serviceConfigHash(db!, "sha256:d2"));

    const current = {
      containers: [running("db", serviceConfigHash(db!, "sha256:d2"), "exited", 137), running("web", serviceConfigHash(web!, "sha256:w1")), running("old", "x")],
      networks: ["shop_front", "shop_default", "shop_legacy"],
      volumes: ["shop_data"],
    };
    expect(planDeployment(changed, current, ids).map(describeStep)).toEqual([
      "remove shop-old-1 (service removed)",
      "remove shop-web-1 (configuration changed)",
      "create and start web",
      "start shop-db-1",
      "remove network shop_legacy",
    ]);
  });

  it("leaves a one-shot service that exited 0 alone, but restarts one that failed", () => {
    const once = parseComposeProject("o", "services:\n  init:\n    image: web:1\n", [], "/w");
    const hash = serviceConfigHash(once.services[0]!, "sha256:w1");
    const state = (exitCode: number) => ({ containers: [running("init", hash, "exited", exitCode)], networks: ["o_default"], volumes: [] });
    expect(planDeployment(once, state(0), ids)).toEqual([]);
    expect(planDeployment(once, state(1), ids).map(describeStep)).toEqual(["start shop-init-1"]);
  });
});
