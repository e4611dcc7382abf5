import { describe, expect, it } from "vitest";
import { FormLineError, containerFormLimits, createBody, splitCommand, type ContainerForm } from "./container-form.ts";
import { containerStats, envEntries } from "./container-details.ts";

const form: ContainerForm = { image: "busybox", name: "web", command: "", ports: "", env: "", volumes: "", network: "", restart: "no" };

describe("createBody", () => {
  it("turns the form's lines into Docker's create body", () => {
    expect(createBody({ ...form, command: `sh -c "echo 'hi there'; sleep 1"`, ports: "8080:80\n127.0.0.1:53:53/udp\n9000", env: "A=1\nB=x=y", volumes: "data:/data\n/srv:/srv:ro", network: "none", restart: "unless-stopped" })).toEqual({
      Image: "busybox",
      Cmd: ["sh", "-c", "echo 'hi there'; sleep 1"],
      Env: ["A=1", "B=x=y"],
      ExposedPorts: { "80/tcp": {}, "53/udp": {}, "9000/tcp": {} },
      HostConfig: { PortBindings: { "80/tcp": [{ HostIp: "", HostPort: "8080" }], "53/udp": [{ HostIp: "127.0.0.1", HostPort: "53" }] }, Binds: ["data:/data", "/srv:/srv:ro"], RestartPolicy: { Name: "unless-stopped" }, NetworkMode: "none" },
    });
  });

  it("names the field of a line it cannot read, and refuses past its limits", () => {
    const fieldOf = (changes: Partial<ContainerForm>) => {
      try {
        createBody({ ...form, ...changes });
      } catch (error) {
        return error instanceof FormLineError ? `${error.field}: ${error.message}` : String(error);
      }
      return "accepted";
    };
    expect(fieldOf({ image: " " })).toBe("image: An image is required.");
    expect(fieldOf({ ports: "80:http" })).toMatch(/^ports: "80:http" is not a port/);
    expect(fieldOf({ env: "NOVALUE" })).toBe('env: "NOVALUE" is not NAME=value.');
    expect(fieldOf({ volumes: "relative:path" })).toMatch(/^volumes: /);
    expect(fieldOf({ network: "my net" })).toBe('network: "my net" is not a network: none, host, bridge or a network\'s name.');
    expect(fieldOf({ command: 'sh -c "oops' })).toBe("command: The command has an unclosed \" quote.");
    expect(fieldOf({ env: Array.from({ length: containerFormLimits.lines + 1 }, (_, i) => `V${i}=1`).join("\n") })).toBe(`env: At most ${containerFormLimits.lines} lines; this has ${containerFormLimits.lines + 1}.`);
    expect(fieldOf({ image: "x".repeat(containerFormLimits.image + 1) })).toBe(`image: At most ${containerFormLimits.image} characters.`);
  });

  it("splits words and quotes as a shell would", () => {
    expect(splitCommand(`  a  "b c" 'd "e"' f\\ g ""`)).toEqual(["a", "b c", 'd "e"', "f g", ""]);
  });
});

describe("container details", () => {
  it("computes CPU and memory as docker stats does, and no network for a container without one", () => {
    const stats = containerStats({
      read: "2026-12-07T17:00:00Z",
      cpu_stats: { cpu_usage: { total_usage: 3_000_000 }, system_cpu_usage: 20_000_000, online_cpus: 2 },
      precpu_stats: { cpu_usage: { total_usage: 1_000_000 }, system_cpu_usage: 10_000_000 },
      memory_stats: { usage: 10_000, limit: 1_000_000, stats: { inactive_file: 4_000 } },
    });
    expect(stats).toEqual({ read: "2026-12-07T17:00:00Z", cpuPercent: 40, memoryBytes: 6_000, memoryLimitBytes: 1_000_000, rxBytes: undefined, txBytes: undefined });
  });

  it("marks secret-looking variables", () => {
    expect(envEntries(["PATH=/bin", "DB_PASSWORD=hunter2", "API_TOKEN=t", "SSH_KEY=k", "EMPTY"]).map((entry) => `${entry.name}:${entry.secret}`)).toEqual(["PATH:false", "DB_PASSWORD:true", "API_TOKEN:true", "SSH_KEY:true", "EMPTY:false"]);
  });
});
