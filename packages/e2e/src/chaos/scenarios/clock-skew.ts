import { describeClockSkew } from "@pier/protocol/wire";
import { type EndpointView } from "../../pier-api.ts";
import { startPierAgent, type PierProcess } from "../../pier-processes.ts";
import { tempDir } from "../../temp-dir.ts";
import { until } from "../../until.ts";
import { startBuiltInCaServer } from "../../zero-touch.ts";
import type { ChaosOptions, ChaosRecorder, ChaosScenario } from "../scenario.ts";
import { measuredSkewSeconds, skewedClock } from "../skewed-clock.ts";

const name = "clock-skew";
const password = "chaos-clock-skew-password-1";
const hour = 3600;

/** What the API shows of a device here. */
type Device = EndpointView<{
  Connected: boolean;
  ClockSkew: { Seconds: number; MeasuredAt: string } | null;
  Identity: { Reenrollment: unknown; Certificate: { Serial: string; Status: string } | null };
}>;

/** One device of the scenario: its clock's offset, and what was seen of it. */
interface SkewedDevice {
  readonly label: string;
  readonly offsetSeconds: number;
  /** Verifies the server with the built-in CA's certificate as `--mtlscacert` (else the EDGE_KEY pin): OpenSSL then checks the dates. */
  readonly caFile: boolean;
  /** Its clock is past the server certificate's expiry (397 days): it must stay refused. */
  readonly refused: boolean;
  readonly edgeId: string;
  agent?: PierProcess;
  startedAt: number;
  /** ms from the agent's start to its log naming the skew, and to the API showing it. */
  agentDiagnosedMs?: number;
  apiDiagnosedMs?: number;
  readonly serials: Set<string>;
  /** Polls that found it disconnected, back in the Waiting Room, or with an expired certificate. */
  disconnected: number;
  waiting: number;
  expired: number;
}

/** `5 h 2 min` → seconds (the wording of `formatSkewDuration`). */
function secondsOf(amount: string): number {
  const unit = (pattern: RegExp) => Number(amount.match(pattern)?.[1] ?? 0);
  return unit(/(\d+) d/) * 86_400 + unit(/(\d+) h/) * 3600 + unit(/(\d+) min/) * 60 + unit(/(\d+) s\b/);
}

/** The agent's line naming its clock skew: amount and direction. */
function agentSkewLine(output: string): { amount: string; seconds: number } | undefined {
  const match = output.match(/clock skew: this device's clock is (.+?) (behind|ahead of) the server's/);
  if (!match?.[1]) return undefined;
  return { amount: `${match[1]} ${match[2]}`, seconds: secondsOf(match[1]) * (match[2] === "behind" ? -1 : 1) };
}

/**
 * Issue 22, "Clock skew": real `pier agent` processes under Debian's `faketime` (libfaketime),
 * their clocks hours behind and ahead of the server's (a built-in-CA server, zero touch), with
 * device certificates shorter-lived than the skew (so a device judging them by its own clock
 * would renew hours late, or think a fresh one expired). Both ends must name the skew with its
 * amount, the device page (API) show it, and each device stay connected and renew on time.
 */
export const clockSkewScenario: ChaosScenario = {
  name,
  summary: "agents whose clocks are hours behind and ahead: both ends name the skew with its amount, the API shows it, the sessions stay up and renew on the server's time",
  async run(options: ChaosOptions, recorder: ChaosRecorder): Promise<void> {
    const day = 24 * hour;
    const offsets = options.short
      ? [
          { label: "behind", offsetSeconds: -5 * hour, caFile: true, refused: false },
          { label: "ahead", offsetSeconds: 5 * hour, caFile: false, refused: false },
          { label: "400 d ahead", offsetSeconds: 400 * day, caFile: true, refused: true },
        ]
      : [
          { label: "behind", offsetSeconds: -5 * hour, caFile: false, refused: false },
          { label: "behind, CA file", offsetSeconds: -5 * hour, caFile: true, refused: false },
          { label: "ahead", offsetSeconds: 5 * hour, caFile: false, refused: false },
          { label: "3 d behind, CA file", offsetSeconds: -3 * day, caFile: true, refused: false },
          { label: "400 d ahead", offsetSeconds: 400 * day, caFile: true, refused: true },
        ];
    // Shorter than the skew, so the skew changes the outcome; the short version's needs the test-only floor.
    const lifetimeSeconds = options.short ? 30 : 90;
    const observeMs = Math.round(lifetimeSeconds * 1.6 * 1000);

    // libfaketime must reach the Node that runs `pier`, or nothing below means anything.
    const measured = offsets.map(({ offsetSeconds }) => measuredSkewSeconds(offsetSeconds));
    const reached = offsets.every(({ offsetSeconds }, index) => Math.abs((measured[index] ?? 0) - offsetSeconds) <= 5);
    if (!recorder.check("libfaketime moves the agent's clock", reached, `asked ${offsets.map((o) => o.offsetSeconds).join(", ")} s, Node read ${measured.join(", ")} s`)) return;

    const dir = tempDir(`chaos-${name}`);
    const devices: SkewedDevice[] = offsets.map(({ label, offsetSeconds, caFile, refused }, index) => ({ label, offsetSeconds, caFile, refused, edgeId: `clock-skew-${index + 1}`, startedAt: 0, serials: new Set(), disconnected: 0, waiting: 0, expired: 0 }));
    let stopServer: (() => Promise<void>) | undefined;
    try {
      const { server, api } = await startBuiltInCaServer(dir, password, ["--device-cert-lifetime", `${lifetimeSeconds}s`], options.short ? { env: { PIER_SERVER_TEST_SHORT_CERTS: "1" } } : {});
      stopServer = () => server.stop();
      const setting = await api.call("PUT", "/api/settings", { EdgeAgentCheckinInterval: 2 });
      if (setting.status !== 200) throw new Error(`PUT /api/settings answered ${setting.status}`);
      options.log(`server up; device certificates live ${lifetimeSeconds} s; agents: ${offsets.map((o) => o.label).join(", ")}`);
      const find = (edgeId: string) => api.endpoint<Device>(edgeId);
      const caFile = ["--mtlscacert", dir.file("data/ca/ca.crt")];
      const connected = devices.filter((device) => !device.refused);
      // No Docker engine: an agent reconciles the stacks it finds on its engine, and the main one
      // holds other tests' stacks (the session and the certificates need no Docker).
      const dockerHost = `unix://${dir.file("no-docker.sock")}`;

      for (const device of devices) {
        device.startedAt = performance.now();
        device.agent = startPierAgent({ edgeId: device.edgeId, edgeKey: server.edgeKey, dataDir: dir.file(`agent-${device.edgeId}`), ...(device.caFile ? { args: caFile } : {}), env: { ...skewedClock(device.offsetSeconds).env, DOCKER_HOST: dockerHost } });
      }
      await Promise.all(
        connected.map(async (device) => {
          const agent = device.agent!;
          void agent.waitFor(/clock skew: this device's clock is/, 60_000).then(
            () => (device.agentDiagnosedMs = Math.round(performance.now() - device.startedAt)),
            () => undefined,
          );
          const waiting = await until(`${device.edgeId} in the waiting room`, async () => {
            const found = await find(device.edgeId);
            if (found?.Pier.ClockSkew && device.apiDiagnosedMs === undefined) device.apiDiagnosedMs = Math.round(performance.now() - device.startedAt);
            return found?.UserTrusted === false ? found : undefined;
          }, 60_000);
          const trusted = await api.call("POST", `/api/endpoints/${waiting.Id}/edge/trust`);
          if (trusted.status !== 204) throw new Error(`trusting ${device.edgeId} answered ${trusted.status}`);
          await until(`${device.edgeId} connected with its certificate`, async () => {
            const found = await find(device.edgeId);
            return found?.Pier.Connected && found.Pier.Identity.Certificate !== null;
          }, 60_000);
          options.log(`${device.label}: associated and connected`);
        }),
      );

      // Observe for more than a certificate's lifetime: each must renew on time, and stay up.
      const observedUntil = performance.now() + observeMs;
      while (performance.now() < observedUntil) {
        const all = await api.endpoints<Device>();
        for (const device of connected) {
          const found = all.find((candidate) => candidate.EdgeID === device.edgeId);
          if (!found?.Pier.Connected) device.disconnected += 1;
          if (found?.UserTrusted === false || found?.Pier.Identity.Reenrollment) device.waiting += 1;
          const certificate = found?.Pier.Identity.Certificate;
          if (certificate) device.serials.add(certificate.Serial);
          if (certificate?.Status === "expired") device.expired += 1;
        }
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      options.log(`observed ${Math.round(observeMs / 1000)} s`);

      const all = await api.endpoints<Device>();
      // A server certificate EXPIRED by the device's clock stays refused (an old, possibly compromised key).
      for (const device of devices.filter((candidate) => candidate.refused)) {
        const output = device.agent?.output() ?? "";
        const present = all.some((candidate) => candidate.EdgeID === device.edgeId);
        recorder.check(`${device.label}: refused, saying the server's certificate expired and to check the clock`, !present && /server's certificate has expired.*check the clocks/.test(output), `${present ? "it reached the server (it is listed)" : "not listed"}; its log:\n${output.slice(-2000)}`);
      }
      for (const device of connected) {
        const agentOutput = device.agent?.output() ?? "";
        const produced = describeClockSkew(device.offsetSeconds * 1000);
        const said = agentSkewLine(agentOutput);
        recorder.check(`${device.label}: the agent names the clock skew with its amount`, said?.amount === produced, said ? `the agent said "${said.amount}", produced ${produced}` : `no clock-skew line in the agent's log:\n${agentOutput.slice(-3000)}`);
        if (said) recorder.figure(`${device.label}: agent says`, said.seconds, "s");
        const serverLine = `(${device.edgeId}): its clock is ${produced} the server's`;
        recorder.check(`${device.label}: the server names the clock skew with its amount`, server.output().includes(serverLine), `no "${serverLine}" in the server's log`);
        const shown = all.find((candidate) => candidate.EdgeID === device.edgeId)?.Pier.ClockSkew;
        recorder.check(`${device.label}: the device page (API) shows the skew`, shown !== null && shown !== undefined && Math.abs(shown.Seconds - device.offsetSeconds) <= 30, `Pier.ClockSkew is ${JSON.stringify(shown)}, produced ${device.offsetSeconds} s`);
        if (shown) recorder.figure(`${device.label}: API shows`, shown.Seconds, "s");
        const certificateErrors = agentOutput.split("\n").filter((line) => (/ ERROR /.test(line) && !/Docker/.test(line)) || /not yet valid|has expired|Waiting Room as "expired/.test(line));
        recorder.check(`${device.label}: no certificate error on the device`, certificateErrors.length === 0, certificateErrors.join("\n"));
        recorder.check(
          `${device.label}: the session stays up and renews on the server's time`,
          device.serials.size >= 2 && device.disconnected <= 2 && device.waiting === 0 && device.expired === 0,
          `certificates seen ${device.serials.size} (want ≥ 2: renewed within ${Math.round(observeMs / 1000)} s), polls disconnected ${device.disconnected}, back in the Waiting Room ${device.waiting}, with an expired certificate ${device.expired}`,
        );
        recorder.figure(`${device.label}: renewals`, device.serials.size - 1);
        if (device.agentDiagnosedMs !== undefined) recorder.figure(`${device.label}: agent diagnoses in`, device.agentDiagnosedMs, "ms");
        if (device.apiDiagnosedMs !== undefined) recorder.figure(`${device.label}: API shows in`, device.apiDiagnosedMs, "ms");
        recorder.check(`${device.label}: diagnosed on both ends`, device.agentDiagnosedMs !== undefined && device.apiDiagnosedMs !== undefined, `agent ${device.agentDiagnosedMs ?? "never"} ms, API ${device.apiDiagnosedMs ?? "never"} ms after the agent started`);
      }
    } finally {
      await Promise.all(devices.map((device) => (device.agent ? device.agent.stop() : Promise.resolve())));
      await stopServer?.();
      await dir[Symbol.asyncDispose]();
    }
  },
};
