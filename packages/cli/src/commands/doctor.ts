import { diagnoseCertificateSet, type Finding, type InputFile } from "@pier/pki";
import { parseCommand, readInputFile, required } from "../args.ts";
import { CliError, exitCodes } from "../errors.ts";
import type { Output } from "../output.ts";
import { connectCommand } from "./doctor-connect.ts";

const usage = `Usage:
  pier doctor --ca FILE --cert FILE --key FILE --role client|server [--host NAME] [--crl FILE]
  pier doctor --connect HOST:PORT [--servername NAME] [--ca FILE] [--cert FILE --key FILE]

The first form checks whether a certificate set would work for that TLS role and names each
defect with its fix. The second probes a live TLS endpoint. Exit status 0 when all is well,
1 when a problem was found, 2 for a malformed command line.`;

function input(path: string, flag: string): InputFile {
  return { path, data: readInputFile(path, flag) };
}

function formatFinding(finding: Finding): string {
  const mark = finding.severity === "error" ? "✗" : "!";
  return `${mark} ${finding.file}: ${finding.problem} — ${finding.fix}`;
}

/** `pier doctor …` */
export async function doctorCommand(argv: string[], out: Output): Promise<number> {
  const { values } = parseCommand("doctor", argv, {
    ca: { type: "string" },
    cert: { type: "string" },
    key: { type: "string" },
    crl: { type: "string" },
    role: { type: "string" },
    host: { type: "string" },
    connect: { type: "string" },
    servername: { type: "string" },
    timeout: { type: "string" },
  });
  if (values.help) return out.help(usage);
  if (values.connect !== undefined) return connectCommand(values, out);
  const role = required(values.role, "--role", "doctor");
  if (role !== "client" && role !== "server") throw new CliError("usage", `--role must be "client" or "server", not "${role}".`);
  const report = diagnoseCertificateSet({
    role,
    cert: input(required(values.cert, "--cert", "doctor"), "--cert"),
    ...(values.ca === undefined ? {} : { ca: input(values.ca, "--ca") }),
    ...(values.key === undefined ? {} : { key: input(values.key, "--key") }),
    ...(values.crl === undefined ? {} : { crl: input(values.crl, "--crl") }),
    ...(values.host === undefined ? {} : { host: values.host }),
  });
  for (const line of report.passed) out.line(`✓ ${line}`);
  for (const finding of report.findings) out.line(formatFinding(finding));
  if (values.ca === undefined) out.line("! no --ca given: the chain of trust was not checked");
  if (values.key === undefined) out.line("! no --key given: whether the key matches was not checked");
  const errors = report.findings.filter((f) => f.severity === "error").length;
  out.line(report.ok ? `OK: this set works as a TLS ${role} certificate.` : `${errors} problem(s) found.`);
  return report.ok ? exitCodes.ok : exitCodes.problems;
}
