import { i18n } from "../i18n/index.ts";

/** The create form as typed: one entry a line for ports, env and volumes. */
export interface ContainerForm {
  image: string;
  name: string;
  command: string;
  ports: string;
  env: string;
  volumes: string;
  /** `HostConfig.NetworkMode`: "" for Docker's default bridge, `none`, `host`, or a network's name. */
  network: string;
  restart: "no" | "always" | "unless-stopped" | "on-failure";
}

/** A line the form cannot turn into Docker's terms: which field, and why (in the UI's language, when thrown). */
export class FormLineError extends Error {
  override readonly name = "FormLineError";
  constructor(
    readonly field: keyof ContainerForm,
    message: string,
  ) {
    super(message);
  }
}

/** Limits of the form, so a paste cannot make a request Docker would refuse less clearly. */
export const containerFormLimits = { image: 255, name: 128, network: 128, command: 4096, lines: 100, line: 1024 } as const;

function lines(field: keyof ContainerForm, text: string): string[] {
  const all = text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "");
  if (all.length > containerFormLimits.lines) throw new FormLineError(field, i18n.t("docker:create.errors.tooManyLines", { max: containerFormLimits.lines, lines: all.length }));
  const long = all.find((line) => line.length > containerFormLimits.line);
  if (long) throw new FormLineError(field, i18n.t("docker:create.errors.lineTooLong", { length: long.length, max: containerFormLimits.line }));
  return all;
}

/**
 * Splits a command line into argv as a POSIX shell would for words and quotes (no variables,
 * no globs): `sh -c "echo hi"` → `["sh", "-c", "echo hi"]`.
 */
export function splitCommand(command: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < command.length; i++) {
    const char = command.charAt(i);
    if (quote) {
      if (char === quote) quote = undefined;
      else if (char === "\\" && quote === '"' && i + 1 < command.length) word = (word ?? "") + command.charAt(++i);
      else word = (word ?? "") + char;
    } else if (char === '"' || char === "'") {
      quote = char;
      word ??= "";
    } else if (char === "\\" && i + 1 < command.length) word = (word ?? "") + command.charAt(++i);
    else if (/\s/.test(char)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else word = (word ?? "") + char;
  }
  if (quote) throw new FormLineError("command", i18n.t("docker:create.errors.unclosedQuote", { quote }));
  if (word !== undefined) words.push(word);
  return words;
}

const portLine = /^(?:(\d{1,3}(?:\.\d{1,3}){3}):)?(?:(\d{1,5}):)?(\d{1,5})(?:\/(tcp|udp|sctp))?$/;

/**
 * The body of `POST /containers/create` for the form (the name goes in the query), or a
 * `FormLineError` naming the field at fault.
 *
 * @example
 * createBody({ image: "nginx", name: "web", command: "", ports: "8080:80", env: "A=1", volumes: "data:/data", network: "", restart: "always" });
 */
export function createBody(form: ContainerForm): Record<string, unknown> {
  const image = form.image.trim();
  if (image === "") throw new FormLineError("image", i18n.t("docker:create.errors.imageRequired"));
  if (image.length > containerFormLimits.image) throw new FormLineError("image", i18n.t("docker:create.errors.tooLong", { max: containerFormLimits.image }));
  if (form.name.length > containerFormLimits.name) throw new FormLineError("name", i18n.t("docker:create.errors.tooLong", { max: containerFormLimits.name }));
  if (form.command.length > containerFormLimits.command) throw new FormLineError("command", i18n.t("docker:create.errors.tooLong", { max: containerFormLimits.command }));
  const exposed: Record<string, object> = {};
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const line of lines("ports", form.ports)) {
    const match = portLine.exec(line);
    if (!match) throw new FormLineError("ports", i18n.t("docker:create.errors.badPort", { line }));
    const key = `${match[3]}/${match[4] ?? "tcp"}`;
    exposed[key] = {};
    if (match[2]) (bindings[key] ??= []).push({ HostIp: match[1] ?? "", HostPort: match[2] });
  }
  const env = lines("env", form.env);
  const badEnv = env.find((line) => !/^[^=\s]+=/.test(line));
  if (badEnv) throw new FormLineError("env", i18n.t("docker:create.errors.badEnv", { line: badEnv }));
  const binds = lines("volumes", form.volumes);
  const badBind = binds.find((line) => !/^[^:]+:\/[^:]*(:(ro|rw))?$/.test(line));
  if (badBind) throw new FormLineError("volumes", i18n.t("docker:create.errors.badVolume", { line: badBind }));
  const network = form.network.trim();
  if (network.length > containerFormLimits.network || (network !== "" && !/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/.test(network))) throw new FormLineError("network", i18n.t("docker:create.errors.badNetwork", { network }));
  const cmd = splitCommand(form.command);
  return {
    Image: image,
    ...(cmd.length > 0 ? { Cmd: cmd } : {}),
    ...(env.length > 0 ? { Env: env } : {}),
    ...(Object.keys(exposed).length > 0 ? { ExposedPorts: exposed } : {}),
    HostConfig: { PortBindings: bindings, Binds: binds, RestartPolicy: { Name: form.restart }, ...(network === "" ? {} : { NetworkMode: network }) },
  };
}
