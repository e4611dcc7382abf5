import { PkiError } from "@pier/pki";
import { CliError, exitCodes } from "./errors.ts";
import { processOutput, type Output } from "./output.ts";

const usage = `Usage: pier <command> [options]

Commands:
  server        The Pier server: HTTPS API and UI, edge tunnel, waiting room
  agent         The edge agent: connects this device to a Pier server over mutual TLS
  agent-swap    Replace an agent's container with a new image (started by the agent itself)
  docker-proxy  Serve one edge device's Docker Engine API on a local socket, for the docker CLI
  ca            Pier's built-in certificate authority (init, issue, sign, revoke, crl, list, inspect)
  doctor        Explain what is wrong with a certificate set or a live TLS endpoint
  quickstart    Create a CA with a server and a client certificate, and show how to use them
  store         The server's database: copy a single server's SQLite store into PostgreSQL
  audit         The activity log: verify its hash chain in a store or an export

Run "pier <command> --help" for the options of a command.`;

/**
 * Runs the `pier` command line and returns the exit status. Every error is turned into a
 * message and a status here, and only here.
 *
 * @example
 * process.exitCode = await runCli(["ca", "list", "--dir", "./ca"]);
 */
export async function runCli(argv: string[], out: Output = processOutput): Promise<number> {
  const [command, ...rest] = argv;
  // Each command loads only its own modules: the agent on a small device never loads the
  // server's (measured: 6 MB less resident memory).
  try {
    switch (command) {
      case "ca":
        return await (await import("./commands/ca.ts")).caCommand(rest, out);
      case "doctor":
        return await (await import("./commands/doctor.ts")).doctorCommand(rest, out);
      case "quickstart":
        return await (await import("./commands/quickstart.ts")).quickstartCommand(rest, out);
      case "agent":
        return await (await import("./commands/agent.ts")).agentCommand(rest, out);
      case "agent-swap":
        return await (await import("./commands/agent-swap.ts")).agentSwapCommand(rest, out);
      case "server":
        return await (await import("./commands/server.ts")).serverCommand(rest, out);
      case "docker-proxy":
        return await (await import("./commands/docker-proxy.ts")).dockerProxyCommand(rest, out);
      case "store":
        return await (await import("./commands/store.ts")).storeCommand(rest, out);
      case "audit":
        return await (await import("./commands/audit.ts")).auditCommand(rest, out);
      case "version":
      case "--version":
        out.line(`pier 0.1.0 (Node.js ${process.version})`);
        return exitCodes.ok;
      case undefined:
      case "help":
      case "--help":
      case "-h":
        return out.help(usage);
      default:
        throw new CliError("usage", `Unknown command "${command}".\n\n${usage}`);
    }
  } catch (error) {
    if (error instanceof CliError) {
      out.error(`pier: ${error.message}`);
      return error.code === "usage" ? exitCodes.usage : exitCodes.failed;
    }
    if (error instanceof PkiError) {
      out.error(`pier: ${error.message}`);
      return exitCodes.failed;
    }
    out.error(`pier: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return exitCodes.failed;
  }
}

// No top-level await: the bundle (scripts/build-bundle.ts) is CommonJS and starts from bundle-main.ts.
if (import.meta.main) {
  void runCli(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
