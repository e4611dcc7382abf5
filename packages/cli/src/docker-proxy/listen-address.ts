import { isIP } from "node:net";
import { resolve } from "node:path";
import { CliError } from "../errors.ts";

/** Where `pier docker-proxy` listens: a Unix socket, or TCP on a loopback address. */
export type ListenAddress = { readonly kind: "unix"; readonly path: string } | { readonly kind: "tcp"; readonly host: string; readonly port: number };

const loopback = (host: string) => host === "localhost" || (isIP(host) === 4 && host.startsWith("127.")) || host === "::1";

/**
 * Parses `--listen`: `unix:///path/to.sock` (or a bare path), `tcp://127.0.0.1:2375`, or
 * `127.0.0.1:2375`. Only loopback TCP addresses are accepted: whoever can connect drives the
 * device's Docker Engine, which is root on the device, with the operator's credentials.
 *
 * @example
 * parseListenAddress("unix:///run/pier/edge-3.sock"); // { kind: "unix", path: "/run/pier/edge-3.sock" }
 */
export function parseListenAddress(text: string): ListenAddress {
  if (text.startsWith("unix://")) {
    const path = text.slice("unix://".length);
    if (path === "") throw new CliError("usage", `--listen unix:// needs a path, e.g. unix:///tmp/pier-docker.sock.`);
    return { kind: "unix", path: resolve(path) };
  }
  if (text.startsWith("/") || text.startsWith("./")) return { kind: "unix", path: resolve(text) };
  const hostPort = text.replace(/^tcp:\/\//, "");
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(hostPort) ?? /^([^:/]+):(\d+)$/.exec(hostPort);
  const port = Number(match?.[2]);
  if (!match?.[1] || !Number.isInteger(port) || port > 65535) {
    throw new CliError("usage", `--listen needs unix:///path.sock or tcp://127.0.0.1:PORT, got "${text}".`);
  }
  if (!loopback(match[1])) {
    throw new CliError("usage", `--listen ${text}: only loopback addresses (127.0.0.1, ::1, localhost) or a Unix socket: whoever reaches this port drives the device's Docker Engine with your credentials.`);
  }
  return { kind: "tcp", host: match[1], port };
}

/** The `DOCKER_HOST` value that reaches a listening proxy. */
export function dockerHostFor(address: ListenAddress): string {
  if (address.kind === "unix") return `unix://${address.path}`;
  return `tcp://${address.host.includes(":") ? `[${address.host}]` : address.host}:${address.port}`;
}
