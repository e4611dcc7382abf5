import { afterAll, describe, expect, it } from "vitest";
import { generateKeyPairSync, privateKeyToPem } from "@pier/pki";
import { dialServers, serverCa } from "./dial-servers.testkit.ts";
import { AgentError } from "./errors.ts";

const hour = 3_600_000;

/** A CA valid from `caFromMs` (ms from now) for 100 h. */
const laterCa = (caFromMs: number) => serverCa("Pier built-in CA (made later than this device's clock)", { fromMs: caFromMs, untilMs: 100 * hour });

const servers = dialServers("dial-clock-skew");
afterAll(() => servers.close());
const tlsServer = servers.start;
/** Dials with `--mtlscacert` = `caFile`: resolves when accepted, rejects with the agent's error. */
const dial = servers.dial;

// Found by the chaos scenario clock-skew (docs/chaos.md): a device 5 h behind, given the built-in
// CA as --mtlscacert, refused the server with "certificate is not yet valid" forever.
describe("dialServer with --mtlscacert on a device whose clock is behind", () => {
  const serverKey = generateKeyPairSync();

  it("accepts a server certificate (and CA) not valid yet by this device's clock whose chain and name verify", async () => {
    const ca = laterCa(5 * hour);
    const server = await tlsServer(ca.issue(serverKey, { fromMs: 5 * hour, untilMs: 30 * hour }), serverKey);
    await expect(dial(server.port, serverKey, ca.pem)).resolves.toBeUndefined();
  });

  it("does so too presenting a client certificate, with trust.pem beside the CA file, and again on a resumed session", async () => {
    const ca = laterCa(5 * hour);
    const server = await tlsServer(ca.issue(serverKey, { fromMs: 5 * hour, untilMs: 30 * hour }), serverKey);
    const client = generateKeyPairSync();
    const identity = { cert: Buffer.from(ca.issue(client, { fromMs: 5 * hour, untilMs: 30 * hour })), key: Buffer.from(privateKeyToPem(client.privateKey)), trust: Buffer.from(ca.pem) };
    await expect(dial(server.port, serverKey, ca.pem, identity)).resolves.toBeUndefined();
    await expect(dial(server.port, serverKey, ca.pem, identity)).resolves.toBeUndefined();
  });

  it("refuses a forged certificate under a CA not valid yet", async () => {
    const ca = laterCa(5 * hour);
    const forger = generateKeyPairSync();
    const server = await tlsServer(ca.issue(serverKey, { fromMs: -hour, untilMs: 30 * hour, signingKey: forger }), serverKey);
    const refusal = await dial(server.port, serverKey, ca.pem).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(AgentError);
    expect((refusal as AgentError).message).toMatch(/signature|does not verify up to a CA of --mtlscacert/);
    expect(server.received()).toBe(0);
  });

  it("refuses one not valid yet for another name, and one that expired (an old key), whatever the clock", async () => {
    const ca = laterCa(-hour);
    const wrongName = await tlsServer(ca.issue(serverKey, { fromMs: 5 * hour, untilMs: 30 * hour, ip: "10.9.8.7" }), serverKey);
    await expect(dial(wrongName.port, serverKey, ca.pem)).rejects.toThrow(/is not for 127\.0\.0\.1/);
    const expired = await tlsServer(ca.issue(serverKey, { fromMs: -2 * hour, untilMs: -hour }), serverKey);
    await expect(dial(expired.port, serverKey, ca.pem)).rejects.toThrow(AgentError);
    await expect(dial(expired.port, serverKey, ca.pem)).rejects.not.toThrow(/not valid yet/);
  });
});
