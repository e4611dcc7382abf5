import { createServer, type Server } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ServerError } from "../errors.ts";
import { createDockerProxy } from "./docker-proxy.ts";

/**
 * The Docker proxy's own path check, behind the server's entry check: called with a path that
 * would resolve elsewhere, it answers 400 before authenticating or opening a tunnel. The
 * store, session registry and tunnel broker are stand-ins that fail the test if reached.
 */
describe("the Docker proxy never forwards a path that resolves elsewhere", () => {
  const reached: string[] = [];
  const unreachable = (what: string) => () => {
    reached.push(what);
    throw new ServerError("internal", `${what} was reached`);
  };
  const proxy = createDockerProxy({
    store: { environments: { get: unreachable("store") } } as never,
    isReachable: unreachable("edge"),
    tunnels: { open: unreachable("tunnels") },
    authenticate: unreachable("authenticate"),
    lastCheckIn: () => null,
    log: () => undefined,
  });
  let server: Server;
  let port: number;

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (!proxy.request(req, res)) res.writeHead(418).end();
    });
    server.on("upgrade", (req, socket, head) => {
      if (!proxy.upgrade(req, socket, head)) socket.end("HTTP/1.1 418 Not Ours\r\n\r\n");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function raw(head: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, "127.0.0.1");
      let text = "";
      socket.setEncoding("utf8");
      socket.on("data", (chunk: string) => (text += chunk));
      socket.on("end", () => resolve(text));
      socket.on("error", reject);
      socket.write(`${head}\r\nHost: pier\r\nConnection: close\r\n\r\n`);
    });
  }

  it("answers 400 in the one error shape for dot segments and encoded slashes after /docker, on requests and upgrades", async () => {
    for (const head of [
      "GET /api/endpoints/1/docker/../../../users/1/tokens HTTP/1.1",
      "GET /api/endpoints/1/docker/containers/%2e%2e/%2E%2E/images/json HTTP/1.1",
      "GET /api/endpoints/1/docker/containers%2fjson HTTP/1.1",
      "POST /api/endpoints/1/docker/containers/x/../y/attach HTTP/1.1\r\nUpgrade: tcp\r\nConnection: Upgrade",
    ]) {
      const answer = await raw(head);
      expect(answer, head).toMatch(/^HTTP\/1\.1 400 /);
      expect(JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4))).toMatchObject({ code: "bad_request", message: expect.any(String) as unknown, fix: expect.any(String) as unknown });
    }
    expect(reached).toEqual([]);
  });

  it("takes a normal path to authentication first (the precondition), and leaves other paths alone", async () => {
    const answer = await raw("GET /api/endpoints/1/docker/containers/json HTTP/1.1");
    expect(answer).toMatch(/^HTTP\/1\.1 500 /);
    expect(reached).toEqual(["authenticate"]);
    expect(await raw("GET /api/endpoints/1/dockerX/../x HTTP/1.1")).toMatch(/^HTTP\/1\.1 418 /);
  });
});
