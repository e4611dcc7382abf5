import { afterAll, describe, expect, it } from "vitest";
import { generateKeyPairSync, privateKeyToPem, type KeyPair } from "@pier/pki";
import { dialServers, serverCa } from "./dial-servers.testkit.ts";
import { AgentError } from "./errors.ts";

const servers = dialServers("dial-trust");
afterAll(() => servers.close());
const tlsServer = servers.start;

/** Dials with `--mtlscacert` = the operator CA, and (optionally) trust.pem from a grant. */
async function dial(port: number, pinned: KeyPair, caFile: string, trust: string | undefined) {
  const client = generateKeyPairSync();
  const identity = { cert: Buffer.from(serverCa("device CA").issue(client)), key: Buffer.from(privateKeyToPem(client.privateKey)), ...(trust ? { trust: Buffer.from(trust) } : {}) };
  await servers.dial(port, pinned, caFile, identity);
}

describe("dialServer with trust.pem beside --mtlscacert", () => {
  const operator = serverCa("operator CA");
  const rotated = serverCa("Pier built-in CA (new)");
  const serverKey = generateKeyPairSync();

  it("accepts a server certificate that chains to trust.pem only when it holds the pinned key", async () => {
    const server = await tlsServer(rotated.issue(serverKey), serverKey);
    // Precondition: the CA file alone refuses this server (it moved to the CA of trust.pem).
    await expect(dial(server.port, serverKey, operator.pem, undefined)).rejects.toThrow(AgentError);
    // With trust.pem and the pinned key: accepted.
    await expect(dial(server.port, serverKey, operator.pem, rotated.pem)).resolves.toBeUndefined();
  });

  it("refuses a server chaining to trust.pem whose key is not the pinned one, before sending anything", async () => {
    const impostorKey = generateKeyPairSync();
    const server = await tlsServer(rotated.issue(impostorKey), impostorKey);
    const refusal = await dial(server.port, serverKey, operator.pem, rotated.pem).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(AgentError);
    expect((refusal as AgentError).explained?.code).toBe("server_fingerprint_mismatch");
    expect(server.received()).toBe(0);
  });

  it("still accepts a server certificate from the CA file without the pin (unchanged)", async () => {
    const otherKey = generateKeyPairSync();
    const server = await tlsServer(operator.issue(otherKey), otherKey);
    await expect(dial(server.port, serverKey, operator.pem, rotated.pem)).resolves.toBeUndefined();
  });
});
