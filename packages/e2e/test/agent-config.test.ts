import { describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { pier, tempDir } from "../src/index.ts";

const goodKey = Buffer.from(`https://localhost:9443|localhost:8000|${"ab".repeat(32)}|0`).toString("base64").replace(/=+$/, "");

/** Runs `pier agent` expecting it to stop at start; returns what it printed. */
function refusedAtStart(env: Record<string, string>, args: string[] = []): string {
  const result = pier(["agent", "--data", "/nonexistent-should-not-be-created", ...args], { env: { EDGE: "1", ...env } });
  expect(result.status, result.output).toBe(1);
  expect(result.output).not.toMatch(/\n\s+at /); // a message, not a stack trace
  return result.stderr;
}

describe("pier agent stops at start on bad settings, saying what to fix", () => {
  it("missing EDGE_ID or EDGE_KEY", () => {
    expect(refusedAtStart({ EDGE_KEY: goodKey })).toMatch(/EDGE_ID is not set/);
    expect(refusedAtStart({ EDGE_ID: "d1" })).toMatch(/EDGE_KEY is not set.*generate-key/);
  });

  it("a malformed EDGE_KEY, naming the bad field", () => {
    expect(refusedAtStart({ EDGE_ID: "d1", EDGE_KEY: Buffer.from("https://x:9443|x:8000|zz|0").toString("base64") })).toMatch(/fingerprint must be a SHA-256/);
    expect(refusedAtStart({ EDGE_ID: "d1", EDGE_KEY: Buffer.from("only|three|fields").toString("base64") })).toMatch(/4 fields/);
  });

  it("unreadable certificate files and a key that does not match", async () => {
    await using dir = tempDir("agent-config");
    expect(refusedAtStart({ EDGE_ID: "d1", EDGE_KEY: goodKey }, ["--mtlscert", dir.file("missing.crt"), "--mtlskey", dir.file("missing.key")])).toMatch(/Cannot read the client certificate .*missing\.crt: no such file/);
    expect(refusedAtStart({ EDGE_ID: "d1", EDGE_KEY: goodKey }, ["--mtlscert", dir.file("x.crt")])).toMatch(/--mtlscert is set without --mtlskey/);
    pier(["ca", "init", "--dir", dir.file("ca")]);
    pier(["ca", "issue", "client", "--dir", dir.file("ca"), "--cn", "a", "--out", dir.file("a")]);
    pier(["ca", "issue", "client", "--dir", dir.file("ca"), "--cn", "b", "--out", dir.file("b")]);
    expect(refusedAtStart({ EDGE_ID: "d1", EDGE_KEY: goodKey }, ["--mtlscert", dir.file("a.crt"), "--mtlskey", dir.file("b.key")])).toMatch(/does not belong to CN=a/);
    writeFileSync(dir.file("garbage.crt"), "not a certificate");
    expect(refusedAtStart({ EDGE_ID: "d1", EDGE_KEY: goodKey }, ["--mtlscacert", dir.file("garbage.crt")])).toMatch(/holds no PEM certificate/);
    expect(refusedAtStart({ EDGE_ID: "d1", EDGE_KEY: goodKey, PIER_EDGE_MODE: "websocket" })).toMatch(/PIER_EDGE_MODE=websocket/);
  });
});
