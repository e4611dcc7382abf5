import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { chmodSync, chownSync, copyFileSync, readFileSync } from "node:fs";
import { buildImages } from "../../../scripts/build-images.ts";
import { acquireHostLock } from "../../../scripts/host-lock.ts";
import { agentChartPath } from "@pier/protocol";
import { PierApi, bash, docker, pier, pierOk, run, seedCertificates, tempDir, testImage, until, waitForDockerLog, type TempDir } from "../src/index.ts";

/**
 * The seeds' deployment commands, run with Pier's images on the real engine: Docker standalone
 * (official guide and blog), then Swarm with secrets. They publish the seeds' host ports 9443
 * and 8000, so everything here runs in order, in this one file. Agents in containers reach the
 * server's published ports at the docker0 bridge's address, which the mTLS certificate covers.
 */
const password = "correct horse battery staple";
const serverUid = 10001;
const names = { server: "pier-e2e-server", agent: "pier-e2e-agent", data: "pier-e2e-data", agentData: "pier-e2e-agent-data", stack: "pier-e2e" };
let dir: TempDir;
let certs: string;
let gateway: string;

interface Endpoint {
  Id: number;
  EdgeID: string;
  UserTrusted: boolean;
  Heartbeat: boolean;
}

/** Runs a shell script (the seeds' commands) and fails with its output when it fails. */
function sh(script: string): string {
  const result = bash(script, { cwd: dir.path });
  if (result.status !== 0) throw new Error(`${script}\nfailed (${result.status}):\n${result.output}`);
  return result.stdout.trim();
}

function removeStandalone(): void {
  run("docker", ["rm", "-f", names.server, names.agent, `${names.agent}-blog`]);
  run("docker", ["volume", "rm", names.data, names.agentData, `${names.agentData}-blog`]);
}

/** Leaves a swarm this file made (a failed run may have left one), never someone else's. */
function leaveOurSwarm(): void {
  if (run("docker", ["info", "--format", "{{.Swarm.LocalNodeState}}"]).stdout.trim() !== "active") return;
  const labels = run("docker", ["node", "inspect", "self", "--format", "{{json .Spec.Labels}}"]).stdout;
  if (!labels.includes('"pier-e2e"')) throw new Error("This Docker Engine is in a swarm the tests did not make; run them on an engine outside any swarm.");
  run("docker", ["swarm", "leave", "--force"]);
}

/** The swarm's volumes, once its tasks' containers are gone. */
async function removeSwarmVolumes(): Promise<void> {
  const volumes = ["pier_agent_data", `${names.stack}_pier_data`];
  await until("the swarm's volumes to be free", () => {
    for (const volume of volumes) run("docker", ["volume", "rm", volume]);
    return Promise.resolve(volumes.every((volume) => run("docker", ["volume", "inspect", volume]).status !== 0) ? true : undefined);
  }, 30_000);
}

/**
 * An API client for a server in a container, trusting the built-in CA the server made in its
 * /data, logged in as admin; `created` says whether the admin had to be created first (with the
 * setup token the server wrote to /data/admin-setup-token, read as docs/deploy.md says).
 */
async function adminApi(container: string): Promise<{ api: PierApi; created: boolean }> {
  docker(["cp", `${container}:/data/ca/ca.crt`, dir.file(`${container}-ca.crt`)]);
  const api = new PierApi("https://127.0.0.1:9443", { ca: readFileSync(dir.file(`${container}-ca.crt`)) });
  const status = await api.call<{ AdminExists: boolean; SetupTokenRequired: boolean }>("GET", "/api/system/status");
  if (status.body.AdminExists) {
    await api.login("admin", password);
    return { api, created: false };
  }
  expect(status.body.SetupTokenRequired).toBe(true);
  // As docs/deploy.md says: the image has no shell or cat, its node reads the file.
  const token = docker(["exec", container, "node", "-p", "fs.readFileSync('/data/admin-setup-token','utf8')"]);
  expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  const init = await api.initAdmin("admin", password, token);
  if (init.status !== 200) throw new Error(`admin init: ${init.status} ${JSON.stringify(init.body)}`);
  await api.login("admin", password);
  return { api, created: init.status === 200 };
}

/** A fleet EDGE_KEY whose addresses are the server's published ports as containers see them. */
async function edgeKey(api: PierApi): Promise<string> {
  const res = await api.call<{ edgeKey: string }>("POST", "/api/endpoints/edge/generate-key", { url: `https://${gateway}:9443`, tunnelServerAddress: `${gateway}:8000` });
  expect(res.status).toBe(200);
  return res.body.edgeKey;
}

async function endpoint(api: PierApi, edgeId: string, predicate: (e: Endpoint) => boolean = () => true): Promise<Endpoint> {
  return until(
    `environment ${edgeId}`,
    async () => (await api.call<Endpoint[]>("GET", "/api/endpoints")).body.find((e) => e.EdgeID === edgeId && predicate(e)),
    60_000,
  );
}

/** Waiting room → Associate → heartbeat green; returns the environment id. */
async function associate(api: PierApi, edgeId: string): Promise<number> {
  const waiting = await until(`${edgeId} in the waiting room`, async () => (await api.call<Endpoint[]>("GET", "/api/endpoints?edgeDeviceUntrusted=true")).body.find((e) => e.EdgeID === edgeId), 60_000);
  expect(waiting.UserTrusted).toBe(false);
  expect((await api.call("POST", `/api/endpoints/${waiting.Id}/edge/trust`)).status).toBe(204);
  await endpoint(api, edgeId, (e) => e.UserTrusted && e.Heartbeat);
  return waiting.Id;
}

/** Container names the device's Docker Engine lists, asked through the tunnel. */
async function containersThroughTunnel(api: PierApi, id: number): Promise<string[]> {
  const res = await until(`containers of environment ${id}`, async () => {
    const answer = await api.call<{ Names: string[] }[]>("GET", `/api/endpoints/${id}/docker/containers/json?all=1`);
    return answer.status === 200 ? answer : undefined;
  });
  return res.body.flatMap((c) => c.Names);
}

beforeAll(async () => {
  removeStandalone();
  leaveOurSwarm();
  await removeSwarmVolumes();
  await buildImages();
  dir = tempDir("deploy");
  // The server runs as uid 10001: the certificate directory must be searchable and its key readable by it.
  chmodSync(dir.path, 0o755);
  certs = dir.file("certs");
  // The host's address on Docker's default bridge, where containers meet published ports: the
  // bridge's gateway, which Docker makes the subnet's first address unless told otherwise.
  const [ipam] = JSON.parse(docker(["network", "inspect", "bridge", "--format", "{{json .IPAM.Config}}"])) as { Subnet: string; Gateway?: string }[];
  gateway = ipam?.Gateway ?? (ipam?.Subnet ?? "").replace(/\.\d+\/\d+$/, ".1");
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(gateway)) throw new Error(`Docker's default bridge has no IPv4 gateway: ${JSON.stringify(ipam)}`);
  const must = (args: string[]) => pierOk(args, { cwd: dir.path });
  must(["ca", "init", "--dir", "ca", "--cn", "Deploy mTLS CA"]);
  sh("mkdir -m 755 certs && cp ca/ca.crt certs/mtlsca.crt");
  must(["ca", "issue", "server", "--dir", "ca", "--san", "DNS:localhost", "--san", `IP:${gateway}`, "--out", "certs/mtlsserver"]);
  must(["ca", "issue", "client", "--dir", "ca", "--cn", "edge-docker", "--out", "certs/client"]);
  must(["ca", "issue", "client", "--dir", "ca", "--cn", "edge-swarm", "--out", "certs/swarm-client"]);
}, 300_000);

/** Held from swarm init to leave: one swarm at a time on this machine (every node binds the gossip port 7946). */
let releaseSwarm: (() => void) | undefined;

afterAll(async () => {
  removeStandalone();
  leaveOurSwarm();
  releaseSwarm?.();
  await removeSwarmVolumes();
  await dir[Symbol.asyncDispose]();
});

describe("the images", () => {
  it("are small, the server runs unprivileged, the agent with the footprint flags", () => {
    const inspect = (image: string, format: string) => docker(["image", "inspect", image, "--format", format]);
    for (const image of ["pier-server", "pier-agent"]) expect(Number(inspect(image, "{{.Size}}"))).toBeLessThan(140 * 1024 * 1024);
    expect(inspect("pier-server", "{{.Config.User}} {{json .Config.Entrypoint}} {{json .Config.ExposedPorts}} {{json .Config.Volumes}}")).toBe(
      `${serverUid}:${serverUid} ["/usr/local/bin/node","/opt/pier/main.cjs","server"] {"8000/tcp":{},"9443/tcp":{}} {"/data":{}}`,
    );
    expect(JSON.parse(inspect("pier-agent", "{{json .Config.Entrypoint}}"))).toEqual(["/usr/local/bin/node", "--lite-mode", "--max-semi-space-size=1", "/opt/pier/main.cjs", "agent"]);
    const version = docker(["run", "--rm", "--entrypoint", "/usr/local/bin/node", "pier-server", "-p", "process.versions.node + ' ' + process.getuid()"]);
    expect(version).toMatch(new RegExp(`^${process.versions.node} ${serverUid}$`));
    // The web UI in the image is a production build: no React development JSX, no source paths.
    const leaks = docker(["run", "--rm", "--entrypoint", "/usr/local/bin/node", "pier-server", "-p", "const d = '/opt/pier/ui/assets'; require('fs').readdirSync(d).filter((f) => /packages\\/ui\\/src|jsxDEV/.test(require('fs').readFileSync(d + '/' + f, 'utf8'))).join(',') || 'none'"]);
    expect(leaks).toBe("none");
    // No shell in the images: nothing to exec into but node itself.
    expect(run("docker", ["run", "--rm", "--entrypoint", "/bin/sh", "pier-agent", "-c", "true"]).status).not.toBe(0);
  });

  it("a key the server's user cannot read is named at start, with the fix", () => {
    const result = run("docker", ["run", "--rm", "-v", `${certs}:/certs`, "pier-server", "--mtlscacert", "/certs/mtlsca.crt", "--mtlscert", "/certs/mtlsserver.crt", "--mtlskey", "/certs/mtlsserver.key"]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/\/certs\/mtlsserver\.key: cannot be read \(EACCES: permission denied to uid 10001, the server's user\) — .*chown 10001 the host's file, keeping mode 0600/);
  });
});

describe("Docker standalone, the official guide's commands", () => {
  let api: PierApi;
  let key: string;
  let environmentId: number;
  const serverCommand = () => `docker run -d -p 8000:8000 -p 9443:9443 --name ${names.server} --restart=always \\
    -v /var/run/docker.sock:/var/run/docker.sock \\
    -v ${names.data}:/data \\
    -v ${certs}:/certs \\
    pier-server \\
    --mtlscacert /certs/mtlsca.crt \\
    --mtlscert /certs/mtlsserver.crt \\
    --mtlskey /certs/mtlsserver.key`;

  it("the server starts with the mTLS certificate set, its /data on a named volume", async () => {
    chownSync(`${certs}/mtlsserver.key`, serverUid, serverUid);
    sh(serverCommand());
    await waitForDockerLog(["logs", names.server], /Pier server listening: HTTPS 0\.0\.0\.0:9443 \(UI and API\), edge tunnel 0\.0\.0\.0:8000; data in \/data/);
    const admin = await adminApi(names.server);
    expect(admin.created).toBe(true);
    api = admin.api;
    key = await edgeKey(api);
    // The image ships the agent's chart that Add environment's Kubernetes command installs.
    expect(await api.call("HEAD", agentChartPath)).toMatchObject({ status: 200 });
    const mtls = pier(["doctor", "--connect", "localhost:9443", "--ca", `${certs}/mtlsca.crt`]);
    expect(mtls.stdout).toMatch(/Client certificate: required \(acceptable CAs: CN=Deploy mTLS CA\)/);
  });

  it("the agent's docker run reaches the waiting room, is associated, turns green and shows its containers", async () => {
    sh(`docker run -d --name pier-e2e-bystander --network none --label pier-e2e=1 ${testImage} sleep 600`);
    try {
      sh(`docker run -d \\
  -v /var/run/docker.sock:/var/run/docker.sock \\
  -v /var/lib/docker/volumes:/var/lib/docker/volumes \\
  -v /:/host \\
  -v ${certs}:/certs \\
  -v ${names.agentData}:/data \\
  --restart always \\
  -e EDGE=1 \\
  -e EDGE_ID=edge-docker \\
  -e EDGE_KEY=${key} \\
  -e EDGE_INSECURE_POLL=0 \\
  --name ${names.agent} \\
  pier-agent \\
  --mtlscacert /certs/mtlsca.crt \\
  --mtlscert /certs/client.crt \\
  --mtlskey /certs/client.key`);
      await waitForDockerLog(["logs", names.agent], /connected to https:\/\/[\d.]+:8000 as environment \d+ \(placeholder environment id until association\): waiting/);
      environmentId = await associate(api, "edge-docker");
      const listed = await containersThroughTunnel(api, environmentId);
      expect(listed).toEqual(expect.arrayContaining([`/${names.agent}`, `/${names.server}`, "/pier-e2e-bystander"]));
    } finally {
      run("docker", ["rm", "-f", "pier-e2e-bystander"]);
    }
  }, 120_000);

  it("an upgrade replaces the server container and keeps /data: same admin, same device, still associated", async () => {
    docker(["rm", "-f", names.server]);
    sh(serverCommand());
    await waitForDockerLog(["logs", names.server], /Pier server listening/);
    const { api: again, created } = await adminApi(names.server);
    expect(created).toBe(false);
    // The setup token went with the first administrator and did not come back with the upgrade.
    expect(run("docker", ["cp", `${names.server}:/data/admin-setup-token`, dir.file("token-after-upgrade")]).status).not.toBe(0);
    await endpoint(again, "edge-docker", (e) => e.Id === environmentId && e.UserTrusted && e.Heartbeat);
    expect(await containersThroughTunnel(again, environmentId)).toContain(`/${names.agent}`);
    docker(["rm", "-f", names.server, names.agent]);
  }, 120_000);
});

describe("Docker standalone, the blog's commands (one certificate set, client certificates for all)", () => {
  it("the server takes --sslcert/--sslkey/--sslcacert, refuses clients without a certificate, and an agent with the old flag names gets in", async () => {
    const seeds = await seedCertificates(inject("seedDir"));
    const blog = dir.file("blog");
    sh(`mkdir -m 755 ${blog}`);
    for (const file of ["ca.cert", "server.cert", "server.key", "client.cert", "client.key"]) copyFileSync(`${seeds}/${file}`, `${blog}/${file}`);
    chownSync(`${blog}/server.key`, serverUid, serverUid);
    sh(`docker run --name ${names.server} -d -p 8000:8000 -p 9443:9443 --restart=always \\
-v /var/run/docker.sock:/var/run/docker.sock \\
-v ${names.data}-blog:/data \\
-v ${blog}:/certs \\
pier-server --sslcert /certs/server.cert --sslkey /certs/server.key --sslcacert /certs/ca.cert`);
    try {
      const [, fleetKey] = await waitForDockerLog(["logs", names.server], /EDGE_KEY=(\S+)/);
      const tls = { ca: readFileSync(`${blog}/ca.cert`), servername: "localhost" };
      const anonymous = new PierApi("https://127.0.0.1:9443", tls);
      await expect(anonymous.call("GET", "/api/system/status")).rejects.toThrow(/certificate|handshake|socket hang up|ECONNRESET/i);
      const withCertificate = new PierApi("https://127.0.0.1:9443", { ...tls, cert: readFileSync(`${blog}/client.cert`), key: readFileSync(`${blog}/client.key`) });
      expect((await withCertificate.call("GET", "/api/system/status")).status).toBe(200);
      // The blog's certificate names localhost only: this agent shares the host's network to dial it.
      sh(`docker run -d --network host \\
-v /var/run/docker.sock:/var/run/docker.sock \\
-v ${blog}:/certs \\
-v ${names.agentData}-blog:/data \\
--restart always \\
-e EDGE=1 \\
-e EDGE_ID=edge-blog \\
-e EDGE_KEY=${fleetKey} \\
-e EDGE_INSECURE_POLL=0 \\
--name ${names.agent}-blog \\
pier-agent --sslcert /certs/client.cert --sslkey /certs/client.key --sslcacert /certs/ca.cert`);
      await waitForDockerLog(["logs", `${names.agent}-blog`], /connected to https:\/\/localhost:8000 as environment \d+ \(placeholder environment id until association\): waiting/);
    } finally {
      run("docker", ["rm", "-f", names.server, `${names.agent}-blog`]);
      run("docker", ["volume", "rm", `${names.data}-blog`]);
    }
  }, 120_000);
});

describe("Docker Swarm: secrets, the server as a stack, the agent as a global service", () => {
  const service = "pier-agent";
  const serverService = `${names.stack}_server`;

  it("runs on a real single-node swarm; the agent on the leader speaks for the cluster", async () => {
    releaseSwarm = await acquireHostLock("swarm");
    // A docker_gwbridge left by an earlier swarm outlives `swarm leave`, and its Linux bridge is
    // shared by name with the extra engines' swarms (agent swarm-engine.test.ts): one left in that
    // state routed 127.0.0.1:9443 to no server of this swarm (a TLS chain from another run's CA).
    // swarm init makes a fresh one.
    run("docker", ["network", "rm", "docker_gwbridge"]);
    sh(`docker swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 >/dev/null
docker node update --label-add pier-e2e=1 "$(docker info --format '{{.Swarm.NodeID}}')" >/dev/null
docker secret create pier.mtlscacert ${certs}/mtlsca.crt
docker secret create pier.mtlscert ${certs}/mtlsserver.crt
docker secret create pier.mtlskey ${certs}/mtlsserver.key
docker secret create pier-agent-ca ${certs}/mtlsca.crt
docker secret create pier-agent-cert ${certs}/swarm-client.crt
docker secret create pier-agent-key ${certs}/swarm-client.key`);
    const root = new URL("../../..", import.meta.url).pathname;
    sh(`docker stack deploy --resolve-image never -c ${root}deploy/swarm/pier-stack.yml ${names.stack}`);
    await waitForDockerLog(["service", "logs", serverService], /Pier server listening: .*data in \/data/, 120_000);
    const container = docker(["ps", "-q", "--filter", `label=com.docker.swarm.service.name=${serverService}`]);
    const { api } = await adminApi(container);
    const key = await edgeKey(api);
    // Secrets are the server user's alone.
    expect(docker(["exec", container, "/usr/local/bin/node", "-p", "require('fs').statSync('/run/secrets/pier.mtlskey').mode.toString(8) + ' ' + require('fs').statSync('/run/secrets/pier.mtlskey').uid"])).toBe("100400 10001");

    sh(`docker network create \\
  --driver overlay \\
  pier-agent-network;

docker service create -d \\
  --name ${service} \\
  --network pier-agent-network \\
  -e EDGE=1 \\
  -e EDGE_ID=edge-swarm \\
  -e EDGE_KEY=${key} \\
  -e EDGE_INSECURE_POLL=0 \\
  -e AGENT_CLUSTER_ADDR=tasks.${service} \\
  --mode global \\
  --constraint 'node.platform.os == linux' \\
  --mount type=bind,src=//var/run/docker.sock,dst=/var/run/docker.sock \\
  --mount type=bind,src=//var/lib/docker/volumes,dst=/var/lib/docker/volumes \\
  --mount type=bind,src=//,dst=/host \\
  --mount type=volume,src=pier_agent_data,dst=/data \\
  --secret pier-agent-ca --secret pier-agent-cert --secret pier-agent-key \\
  --no-resolve-image \\
  pier-agent \\
  --mtlscacert /run/secrets/pier-agent-ca \\
  --mtlscert /run/secrets/pier-agent-cert \\
  --mtlskey /run/secrets/pier-agent-key`);
    await waitForDockerLog(["service", "logs", service], /cluster tasks\.pier-agent: this node \(.+\) is the swarm's leader: speaking for the cluster \(tasks\.pier-agent resolves to 1 agent\)/, 120_000);
    await waitForDockerLog(["service", "logs", service], /as environment \d+ \(placeholder environment id until association\): waiting/);
    const id = await associate(api, "edge-swarm");
    const listed = await containersThroughTunnel(api, id);
    expect(listed.some((name) => name.startsWith(`/${service}.`))).toBe(true);
    expect(listed.some((name) => name.startsWith(`/${serverService}.`))).toBe(true);
    run("docker", ["service", "rm", service]);
    run("docker", ["stack", "rm", names.stack]);
  }, 300_000);
});
