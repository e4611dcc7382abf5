import { readInputFile, optionalInteger, parseCommand, required } from "../args.ts";
import { dockerHostFor, parseListenAddress } from "../docker-proxy/listen-address.ts";
import { startLocalDockerProxy } from "../docker-proxy/local-docker-proxy.ts";
import { ServerConnection, answerMessage, type ServerCredentials } from "../docker-proxy/server-connection.ts";
import { CliError, exitCodes } from "../errors.ts";
import type { Output } from "../output.ts";

const usage = `Usage: pier docker-proxy --env ID --listen ADDRESS [options]

Serves the Docker Engine API of one associated edge environment on a local socket, through the
Pier server and the device's tunnel, so the real docker CLI works against the device:

  pier docker-proxy --env 3 --listen unix:///tmp/edge-3.sock --url https://pier.example.com:9443 --api-key-file key.txt
  DOCKER_HOST=unix:///tmp/edge-3.sock docker ps

Options:
  --env ID              the environment (its Id in /api/endpoints)
  --listen ADDRESS      unix:///path.sock (created with mode 0600) or tcp://127.0.0.1:PORT (loopback only)
  --url URL             the Pier server (default $PIER_URL, else https://localhost:9443)
  --ca FILE             CA that issued the server's certificate (default: the system's roots);
                        for the built-in CA: <server --data>/ca/ca.crt
  --cert F --key F      client certificate, for a server that requires one from everyone (--sslcacert)
  --api-key-file FILE   an access token (POST /api/users/{id}/tokens); or set PIER_API_KEY
  --username NAME --password-file FILE
                        log in as this user instead (the session is renewed before it expires)
  --log-level LEVEL     debug (every request), info (default), warn`;

const levels = ["debug", "info", "warn"] as const;
type Level = (typeof levels)[number];

function readSecret(path: string, flag: string): string {
  const text = readInputFile(path, flag).toString("utf8").replace(/\r?\n$/, "");
  if (text === "") throw new CliError("input", `${flag} ${path} is empty.`);
  return text;
}

function credentialsFrom(values: { "api-key-file"?: string; username?: string; "password-file"?: string }): ServerCredentials {
  if (values.username !== undefined || values["password-file"] !== undefined) {
    if (values.username === undefined || values["password-file"] === undefined) throw new CliError("usage", "--username and --password-file go together.");
    if (values["api-key-file"] !== undefined) throw new CliError("usage", "Give either --api-key-file or --username/--password-file, not both.");
    return { kind: "password", username: values.username, password: readSecret(values["password-file"], "--password-file") };
  }
  if (values["api-key-file"] !== undefined) return { kind: "api-key", apiKey: readSecret(values["api-key-file"], "--api-key-file") };
  const fromEnvironment = process.env.PIER_API_KEY;
  if (fromEnvironment) return { kind: "api-key", apiKey: fromEnvironment };
  throw new CliError("usage", "Credentials are required: --api-key-file FILE (or PIER_API_KEY), or --username NAME --password-file FILE. See: pier docker-proxy --help");
}

function serverUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CliError("usage", `--url needs https://HOST[:PORT], got "${text}".`);
  }
  if (url.protocol !== "https:") throw new CliError("usage", `--url must be https:// (Pier speaks TLS only), got "${text}".`);
  return url;
}

/** Checks at start that the environment exists, is associated and that the credentials work. */
async function checkEnvironment(server: ServerConnection, environmentId: number): Promise<string> {
  const answer = await server.json("GET", `/api/endpoints/${environmentId}`);
  if (answer.status === 401) throw new CliError("failed", `The Pier server at ${server.url.origin} refused the credentials: ${answerMessage(answer)}`);
  if (answer.status === 404) throw new CliError("failed", `Environment ${environmentId} does not exist on ${server.url.origin}: list them with GET /api/endpoints.`);
  if (answer.status !== 200) throw new CliError("failed", `The Pier server at ${server.url.origin} answered ${answer.status} for environment ${environmentId}: ${answerMessage(answer)}`);
  const environment = answer.body as { Name?: unknown; UserTrusted?: unknown };
  const name = typeof environment.Name === "string" ? environment.Name : `environment ${environmentId}`;
  if (environment.UserTrusted !== true) {
    throw new CliError("failed", `Environment ${environmentId} ("${name}") is in the waiting room: associate it first (POST /api/endpoints/${environmentId}/edge/trust, or Associate in the UI), then start the proxy.`);
  }
  return name;
}

/** `pier docker-proxy`: runs until SIGINT/SIGTERM. */
export async function dockerProxyCommand(argv: string[], out: Output): Promise<number> {
  const { values } = parseCommand("docker-proxy", argv, {
    env: { type: "string" },
    listen: { type: "string" },
    url: { type: "string" },
    ca: { type: "string" },
    cert: { type: "string" },
    key: { type: "string" },
    "api-key-file": { type: "string" },
    username: { type: "string" },
    "password-file": { type: "string" },
    "log-level": { type: "string" },
  });
  if (values.help) return out.help(usage);
  const environmentId = optionalInteger(required(values.env, "--env", "docker-proxy"), "--env") ?? 0;
  if (environmentId < 1) throw new CliError("usage", "--env needs an environment Id (1 or more).");
  const listen = parseListenAddress(required(values.listen, "--listen", "docker-proxy"));
  const level = (values["log-level"] ?? "info") as Level;
  if (!levels.includes(level)) throw new CliError("usage", `--log-level must be one of ${levels.join(", ")}.`);
  if ((values.cert === undefined) !== (values.key === undefined)) throw new CliError("usage", "--cert and --key go together.");
  const server = new ServerConnection({
    url: serverUrl(values.url ?? process.env.PIER_URL ?? "https://localhost:9443"),
    credentials: credentialsFrom(values),
    ...(values.ca === undefined ? {} : { ca: readInputFile(values.ca, "--ca") }),
    ...(values.cert === undefined ? {} : { cert: readInputFile(values.cert, "--cert") }),
    ...(values.key === undefined ? {} : { key: readInputFile(values.key, "--key") }),
  });
  const log = (at: Level, message: string) => {
    if (levels.indexOf(at) >= levels.indexOf(level)) out.error(`${new Date().toISOString()} ${at.toUpperCase().padEnd(5)} ${message}`);
  };
  try {
    const name = await checkEnvironment(server, environmentId);
    await using proxy = await startLocalDockerProxy({ server, environmentId, listen, log });
    const dockerHost = dockerHostFor(proxy.address);
    log("info", `environment ${environmentId} ("${name}") on ${server.url.origin} is served at ${dockerHost}`);
    out.line(`DOCKER_HOST=${dockerHost}`);
    await new Promise<void>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    log("info", "stopping");
  } finally {
    server.close();
  }
  return exitCodes.ok;
}
