import { afterAll, describe, expect, it } from "vitest";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Parser } from "tar";
import { agentChart } from "@pier/protocol";
import { maxChartBytes, packageChart } from "./package-chart.ts";

const agentChartDir = join(import.meta.dirname, "../../../../deploy/helm/pier-agent");
const scratch = mkdtempSync(join(tmpdir(), "pier-chart-"));

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The archive's entries: path → content. */
async function entries(archive: Buffer): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const parser = new Parser({
    onReadEntry: (entry) => {
      const chunks: Buffer[] = [];
      entry.on("data", (chunk: Buffer) => chunks.push(chunk));
      entry.on("end", () => files.set(entry.path, Buffer.concat(chunks).toString("utf8")));
    },
  });
  await new Promise<void>((resolve, reject) => {
    parser.on("end", resolve);
    parser.on("error", reject);
    parser.end(archive);
  });
  return files;
}

/** A copy of the agent's chart to spoil. */
function chartCopy(name: string): string {
  const dir = join(scratch, name);
  cpSync(agentChartDir, dir, { recursive: true });
  return dir;
}

describe("packaging a chart as helm package does", () => {
  it("puts the agent's chart under pier-agent/ at the version the UI's command names", async () => {
    const chart = await packageChart(agentChartDir);
    expect(chart.fileName).toBe(`${agentChart.name}-${agentChart.version}.tgz`);
    expect(chart.archive.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b])); // gzip
    const files = await entries(chart.archive);
    expect([...files.keys()]).toEqual(expect.arrayContaining(["pier-agent/Chart.yaml", "pier-agent/values.yaml", "pier-agent/templates/deployment.yaml", "pier-agent/templates/_helpers.tpl"]));
    expect(files.get("pier-agent/Chart.yaml")).toMatch(new RegExp(`^version: ${agentChart.version.replaceAll(".", "\\.")}$`, "m"));
    // The same files make the same bytes, so replicas answer the same ETag.
    expect((await packageChart(agentChartDir)).etag).toBe(chart.etag);
  });

  it("leaves out what .helmignore names", async () => {
    const dir = chartCopy("ignored");
    writeFileSync(join(dir, "templates", "deployment.yaml.swp"), "editor swap");
    writeFileSync(join(dir, "values.yaml.orig"), "merge leftover");
    const files = await entries((await packageChart(dir)).archive);
    expect(files.has("pier-agent/templates/deployment.yaml")).toBe(true);
    expect([...files.keys()].filter((path) => /\.(swp|orig)$/.test(path))).toEqual([]);
  });

  it("refuses a missing chart, one without a version, and one over the size limit, saying so", async () => {
    await expect(packageChart(join(scratch, "nothing"))).rejects.toMatchObject({ code: "unavailable", message: expect.stringMatching(/Chart\.yaml is missing/) as string });
    const unversioned = chartCopy("unversioned");
    writeFileSync(join(unversioned, "Chart.yaml"), "apiVersion: v2\nname: pier-agent\nversion: latest\n");
    await expect(packageChart(unversioned)).rejects.toMatchObject({ code: "unavailable", message: expect.stringMatching(/no SemVer version/) as string });
    const large = chartCopy("large");
    writeFileSync(join(large, "files.bin"), Buffer.alloc(maxChartBytes));
    await expect(packageChart(large)).rejects.toMatchObject({ code: "unavailable", message: expect.stringMatching(/more than 1048576 bytes/) as string });
  });
});
