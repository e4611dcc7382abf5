import { describe, expect, it } from "vitest";
import { logFormat, serverCommand } from "./server.ts";
import type { Output } from "../output.ts";

describe("pier server --log-format", () => {
  it("defaults to text and takes text and json", () => {
    expect(logFormat(undefined)).toBe("text");
    expect(logFormat("text")).toBe("text");
    expect(logFormat("json")).toBe("json");
  });

  it("refuses any other format before the server starts, naming the flag and the choices (a long value cut short)", async () => {
    expect(() => logFormat("JSON")).toThrow(expect.objectContaining({ code: "usage", message: '--log-format must be one of text, json, got "JSON".' }));
    expect(() => logFormat("x".repeat(500))).toThrow(`--log-format must be one of text, json, got "${"x".repeat(40)}".`);
    await expect(serverCommand(["--log-format", "pino"], {} as Output)).rejects.toThrow(/^--log-format must be one of text, json/);
  });
});
