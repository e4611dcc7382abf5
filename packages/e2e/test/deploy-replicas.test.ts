import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { haproxyBinary, haproxyConfig, proxySource, run, type RunResult } from "../src/index.ts";

// docs/deploy.md "Several replicas" and deploy/swarm/ against the HAProxy set-up the replicas
// tests and bench/replicas.ts run (packages/e2e/src/haproxy.ts), and against the real haproxy.
const root = join(import.meta.dirname, "..", "..", "..");
const deployDoc = readFileSync(join(root, "docs", "deploy.md"), "utf8");
const swarmDir = join(root, "deploy", "swarm");

/** The fenced block of `language` in docs/deploy.md's "Several replicas" section. */
function documented(language: string): string {
  const section = deployDoc.slice(deployDoc.indexOf("## Several replicas"), deployDoc.indexOf("## Upgrades keep"));
  const block = new RegExp("```" + language + "\\n([\\s\\S]*?)```").exec(section)?.[1];
  if (block === undefined) throw new Error(`docs/deploy.md "Several replicas" has no ${language} block`);
  return block;
}

/** The configuration's directives: comments and blank lines dropped, indentation normalised. */
function directives(config: string): string[] {
  return config
    .split("\n")
    .map((line) => line.replace(/#.*$/, "").trim())
    .filter((line) => line !== "");
}

/** `haproxy -c` (check only) on `config`. */
function haproxyCheck(config: string): RunResult {
  const dir = mkdtempSync(join(tmpdir(), "pier-haproxy-doc-"));
  try {
    writeFileSync(join(dir, "haproxy.cfg"), config);
    return run(haproxyBinary, ["-c", "-f", join(dir, "haproxy.cfg")]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("the replicas' load balancer, as documented and as tested", () => {
  it("docs/deploy.md's HAProxy configuration is the test fixture's, with the documented addresses", () => {
    const doc = documented("haproxy");
    const replicas = [
      { httpsPort: 19443, tunnelPort: 18000, host: "10.0.0.11" },
      { httpsPort: 29443, tunnelPort: 28000, host: "10.0.0.12" },
    ];
    // The fixture's `source` only keeps the tests' direct clients on 127.0.0.1 apart from HAProxy's.
    const fixture = haproxyConfig({ httpsPort: 9443, tunnelPort: 8000 }, replicas, { maxConnections: 50_000, sendProxy: true })
      .replaceAll(` source ${proxySource}`, "")
      .replace(/bind 127\.0\.0\.1:/g, "bind :")
      .replace(/127\.0\.0\.1:(\d+)/g, (_, port: string) => {
        const replica = replicas.find((r) => r.httpsPort === Number(port) || r.tunnelPort === Number(port));
        return `${replica?.host}:${replica?.httpsPort === Number(port) ? 9443 : 8000}`;
      });
    // Precondition: the fixture has the options the doc explains (a check that a typo cannot pass).
    expect(fixture).toContain("server replica1 10.0.0.12:8000 check inter 500ms fall 2 rise 1 send-proxy-v2 check-send-proxy");
    expect(directives(doc)).toEqual(directives(fixture));
  });

  it("the documented HAProxy configurations pass haproxy -c, and a broken one does not", () => {
    for (const config of [documented("haproxy"), readFileSync(join(swarmDir, "haproxy-replicas.cfg"), "utf8")]) {
      const checked = haproxyCheck(config);
      expect(checked.output).toContain("Configuration file is valid");
      expect(checked.status).toBe(0);
    }
    expect(haproxyCheck(documented("haproxy").replace("mode tcp", "mode tcpx")).status).not.toBe(0);
  });

  it("the Swarm balancer has the fixture's options, with the replicas found at tasks.server", () => {
    const swarm = directives(readFileSync(join(swarmDir, "haproxy-replicas.cfg"), "utf8"));
    const doc = directives(documented("haproxy"));
    const serverLines = (lines: string[]) => lines.filter((line) => /^server(-template)? /.test(line));
    // Everything but how the replicas are named is the documented (and tested) configuration.
    expect(swarm.filter((line) => !/^(server-template |resolvers |nameserver |hold |accepted_payload_size )/.test(line))).toEqual(doc.filter((line) => !line.startsWith("server ")));
    expect(serverLines(swarm)).toEqual([
      "server-template replica 10 tasks.server:9443 check inter 500ms fall 2 rise 1 send-proxy-v2 check-send-proxy resolvers docker init-addr none",
      "server-template replica 10 tasks.server:8000 check inter 500ms fall 2 rise 1 send-proxy-v2 check-send-proxy resolvers docker init-addr none",
    ]);
    expect(swarm).toContain("nameserver dns 127.0.0.11:53");
  });
});

interface StackService {
  image: string;
  command?: string;
  environment?: Record<string, string>;
  volumes?: { type: string; target: string }[];
  ports?: { target: number; published: number; mode: string }[];
  networks?: string[];
  deploy: { replicas: number; update_config?: { order: string } };
  secrets?: { source: string; uid: string; gid: string; mode: number }[];
  configs?: { source: string; target: string }[];
}

describe("deploy/swarm/pier-replicas-stack.yml", () => {
  const stack = parse(readFileSync(join(swarmDir, "pier-replicas-stack.yml"), "utf8"), { version: "1.1" }) as {
    services: Record<string, StackService>;
    networks?: Record<string, { ipam?: { config: { subnet: string }[] } }>;
    secrets: Record<string, { external: boolean }>;
    configs: Record<string, { external: boolean }>;
  };
  const server = stack.services["server"];
  const balancer = stack.services["balancer"];

  it("runs three server replicas on PostgreSQL, each announcing its own task as peer address", () => {
    expect(server?.image).toBe("pier-server:latest");
    expect(server?.deploy.replicas).toBe(3);
    expect(server?.deploy.update_config?.order).toBe("start-first");
    expect(server?.command).toContain("--peer-bind 0.0.0.0:9445");
    // HAProxy's PROXY headers are accepted from the stack's own network only.
    expect(server?.command).toContain("--proxy-protocol-from 10.77.0.0/24");
    expect(stack.networks?.["pier"]?.ipam?.config).toEqual([{ subnet: "10.77.0.0/24" }]);
    expect(server?.environment?.["PIER_PEER_ADDRESS"]).toBe("{{.Task.Name}}:9445");
    expect(server?.environment?.["PIER_DATABASE_URL"]).toMatch(/^\$\{PIER_DATABASE_URL:\?/);
    // /data is a cache: nothing on a volume that would outlive the task or be shared.
    expect(server?.volumes).toEqual([{ type: "tmpfs", target: "/data" }]);
    expect(server?.ports).toBeUndefined();
  });

  it("hands the secret file and the database password over as uid 10001's own 0400 secrets, named by the environment", () => {
    const secrets = server?.secrets ?? [];
    expect(secrets.map((s) => s.source).sort()).toEqual(["pier.pgpass", "pier.secret-file"]);
    for (const secret of secrets) {
      expect(secret).toMatchObject({ uid: "10001", gid: "10001", mode: 0o400 });
      expect(stack.secrets[secret.source]).toEqual({ external: true });
    }
    expect(server?.environment?.["PIER_SECRET_FILE"]).toBe("/run/secrets/pier.secret-file");
    expect(server?.environment?.["PGPASSFILE"]).toBe("/run/secrets/pier.pgpass");
    expect(server?.environment?.["PIER_DATABASE_URL"]).not.toMatch(/:\/\/[^@/]*:[^@/]*@/); // no password in the URL
  });

  it("puts HAProxy with the Swarm configuration in front, on the same network, ports in host mode", () => {
    expect(balancer?.image).toMatch(/^haproxy:/);
    expect(balancer?.ports).toEqual([
      { target: 9443, published: 9443, protocol: "tcp", mode: "host" },
      { target: 8000, published: 8000, protocol: "tcp", mode: "host" },
    ]);
    expect(balancer?.networks).toEqual(server?.networks);
    expect(balancer?.configs).toEqual([{ source: "pier.haproxy", target: "/usr/local/etc/haproxy/haproxy.cfg" }]);
    expect(stack.configs["pier.haproxy"]).toEqual({ external: true });
    // The service the balancer's DNS name (tasks.server) resolves is the one above.
    expect(readFileSync(join(swarmDir, "haproxy-replicas.cfg"), "utf8")).toContain("tasks.server:");
    expect(Object.keys(stack.services)).toContain("server");
  });
});
