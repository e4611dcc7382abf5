import { formatEndpointReport, probeEndpoint } from "@pier/pki";
import { optionalInteger, readInputFile } from "../args.ts";
import { CliError, exitCodes } from "../errors.ts";
import type { Output } from "../output.ts";

/** Splits `host:port` or `[v6]:port`. */
function parseTarget(text: string): { host: string; port: number } {
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  const port = Number(match?.[2]);
  if (!match?.[1] || !Number.isInteger(port) || port < 1 || port > 65535) throw new CliError("usage", `--connect needs HOST:PORT (e.g. pier.example.com:9443), got "${text}".`);
  return { host: match[1], port };
}

/** `pier doctor --connect HOST:PORT …` */
export async function connectCommand(values: Record<string, string | boolean | (string | boolean)[] | undefined>, out: Output): Promise<number> {
  const target = parseTarget(String(values.connect));
  const str = (name: string) => (typeof values[name] === "string" ? values[name] : undefined);
  const cert = str("cert");
  const key = str("key");
  if ((cert === undefined) !== (key === undefined)) throw new CliError("usage", "--cert and --key go together.");
  const ca = str("ca");
  const servername = str("servername");
  const timeoutMs = optionalInteger(str("timeout"), "--timeout");
  const report = await probeEndpoint({
    ...target,
    ...(servername === undefined ? {} : { servername }),
    ...(ca === undefined ? {} : { ca: readInputFile(ca, "--ca") }),
    ...(cert === undefined ? {} : { cert: readInputFile(cert, "--cert") }),
    ...(key === undefined ? {} : { key: readInputFile(key, "--key") }),
    ...(timeoutMs === undefined ? {} : { timeoutMs: timeoutMs * 1000 }),
  });
  for (const line of formatEndpointReport(report)) out.line(line);
  const ok = report.handshake?.ok === true && report.serverCertificate?.trust.verified === true;
  return ok ? exitCodes.ok : exitCodes.problems;
}
