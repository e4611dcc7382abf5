/**
 * Builds Pier's container images without any registry: the base image `pier-base` from Debian
 * packages, then `pier-server` and `pier-agent` (deploy/docker/*.Dockerfile) on top of it.
 *
 * pier-base is what a Node.js binary needs and nothing else: the files of Debian's libc6,
 * libgcc-s1, libstdc++6 (and gcc-12-base, their copyright files) unpacked with `dpkg-deb -x`, an
 * ld.so cache, /etc/passwd with root and pier (10001), /tmp and /data. No shell, no package
 * manager, no setuid binaries. The packages are the ones the host's apt would install, so the
 * base follows the host's Debian security updates.
 *
 * Cached twice: pier-base is tagged with a hash of the package versions and this recipe, and is
 * not rebuilt while that tag exists; each image carries a label with a hash of everything that
 * goes into it (base, Dockerfile, Node binary, bundle) and is not rebuilt while that matches.
 *
 *   node scripts/build-images.ts [--tag latest]
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { buildBundle, footprintFlags } from "./build-bundle.ts";
import { withHostLock } from "./host-lock.ts";

const root = join(import.meta.dirname, "..");
const basePackages = ["libc6", "libgcc-s1", "libstdc++6", "gcc-12-base"];
/** Bump when the base's recipe changes in a way the package versions do not show. */
const baseRecipe = 3;
const pierUid = 10001;
const inputsLabel = "dev.pier.inputs";

export interface BuiltImage {
  readonly name: string;
  /** Bytes, as `docker image ls` counts them (base included). */
  readonly size: number;
  /** False when the image was already up to date. */
  readonly built: boolean;
}

function docker(args: string[]): string {
  const result = spawnSync("docker", args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`docker ${args.slice(0, 3).join(" ")} failed: ${(result.stderr || result.stdout || String(result.error)).trim()}`);
  return result.stdout.trim();
}

function imageLabel(image: string, label: string): string | undefined {
  const result = spawnSync("docker", ["image", "inspect", "--format", `{{index .Config.Labels "${label}"}}`, image], { encoding: "utf8" });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

function imageSize(image: string): number {
  return Number(docker(["image", "inspect", "--format", "{{.Size}}", image]));
}

/** apt-get in `dir`, refreshing apt's package lists once when it fails (a machine that never ran apt-get update). */
function aptGet(args: string[], dir: string): string {
  const attempt = () => spawnSync("apt-get", args, { cwd: dir, encoding: "utf8" });
  let result = attempt();
  if (result.status !== 0) {
    execFileSync("apt-get", ["update", "-qq"], { stdio: "ignore" });
    result = attempt();
  }
  if (result.status !== 0) throw new Error(`apt-get ${args.join(" ")} failed: ${(result.stderr || String(result.error)).trim()}`);
  return result.stdout;
}

/** Builds pier-base unless the image for these package versions exists; returns its tag. */
export function buildBaseImage(): { tag: string; built: boolean } {
  const work = mkdtempSync(join(tmpdir(), "pier-base-"));
  try {
    // What apt would download (file names and SHA-256s) names the base, without downloading.
    const uris = aptGet(["--print-uris", "download", ...basePackages], work).split("\n").filter(Boolean).sort();
    const hash = createHash("sha256").update(JSON.stringify({ uris, baseRecipe, pierUid })).digest("hex").slice(0, 16);
    const tag = `pier-base:${hash}`;
    if (imageLabel(tag, inputsLabel) !== undefined) {
      docker(["tag", tag, "pier-base:latest"]);
      return { tag, built: false };
    }
    aptGet(["download", "-qq", ...basePackages], work);
    const debs = readdirSync(work).filter((file) => file.endsWith(".deb"));
    const rootfs = join(work, "rootfs");
    mkdirSync(rootfs);
    for (const deb of debs) execFileSync("dpkg-deb", ["-x", join(work, deb), rootfs]);
    // Only the copyright files of usr/share/doc stay: the rest is documentation nothing reads.
    for (const dir of ["usr/share/lintian", "usr/share/locale", "usr/share/gcc", "usr/share/gdb"]) rmSync(join(rootfs, dir), { recursive: true, force: true });
    mkdirSync(join(rootfs, "etc"), { recursive: true });
    writeFileSync(join(rootfs, "etc/passwd"), `root:x:0:0:root:/root:/sbin/nologin\npier:x:${pierUid}:${pierUid}:Pier:/data:/sbin/nologin\n`);
    writeFileSync(join(rootfs, "etc/group"), `root:x:0:\npier:x:${pierUid}:\n`);
    writeFileSync(join(rootfs, "etc/nsswitch.conf"), "passwd: files\ngroup: files\nhosts: files dns\n");
    // The multiarch directories the packages filled (x86_64-linux-gnu, aarch64-linux-gnu…).
    const multiarch = readdirSync(join(rootfs, "lib")).filter((dir) => dir.endsWith("-linux-gnu"));
    writeFileSync(join(rootfs, "etc/ld.so.conf"), multiarch.map((dir) => `/lib/${dir}\n/usr/lib/${dir}\n`).join(""));
    for (const dir of ["root", "tmp", "data", "usr/local/bin", "opt"]) mkdirSync(join(rootfs, dir), { recursive: true });
    chmodSync(join(rootfs, "tmp"), 0o1777);
    chmodSync(join(rootfs, "root"), 0o700);
    chmodSync(join(rootfs, "data"), 0o700);
    execFileSync(["/usr/sbin/ldconfig", "/sbin/ldconfig"].find((path) => existsSync(path)) ?? "ldconfig", ["-r", rootfs]);
    // Owners are set in the archive, not on disk, so the build needs no root: everything is
    // root's but /data, which is pier's (a new named volume on /data inherits that).
    const archive = join(work, "rootfs.tar");
    execFileSync("tar", ["-C", rootfs, "--numeric-owner", "--owner=0", "--group=0", "--exclude=./data", "-cf", archive, "."]);
    execFileSync("tar", ["-C", rootfs, "--numeric-owner", `--owner=${pierUid}`, `--group=${pierUid}`, "-rf", archive, "./data"]);
    docker(["import", "--change", "ENV PATH=/usr/local/bin:/usr/bin:/bin", "--change", `LABEL ${inputsLabel}=${hash}`, archive, tag]);
    docker(["tag", tag, "pier-base:latest"]);
    return { tag, built: true };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Untags the bases of earlier recipes or package versions, then removes the untagged images
 * earlier builds left (both only Pier's, by label), so rebuilds do not fill the disk. A base
 * that a tagged image still stands on stays.
 */
function removeStaleImages(currentBase: string): void {
  for (const tag of docker(["image", "ls", "pier-base", "--format", "{{.Repository}}:{{.Tag}}"]).split("\n")) {
    if (tag !== "" && tag !== currentBase && tag !== "pier-base:latest") spawnSync("docker", ["image", "rm", tag], { stdio: "ignore" });
  }
  docker(["image", "prune", "--force", "--filter", `label=${inputsLabel}`]);
}

/** sha256 over the relative paths and contents of every file under `dir`. */
function hashTree(dir: string, hash = createHash("sha256"), base = dir): ReturnType<typeof createHash> {
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) hashTree(path, hash, base);
    else hash.update(relative(base, path)).update("\0").update(readFileSync(path)).update("\0");
  }
  return hash;
}

/** The agent's entrypoint must carry the footprint flags the bundle's benchmark measured. */
function checkAgentEntrypoint(dockerfile: string): void {
  const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(dockerfile, "utf8"))?.[1];
  const args = entrypoint === undefined ? [] : (JSON.parse(entrypoint) as string[]);
  if (!footprintFlags.every((flag) => args.includes(flag))) throw new Error(`${relative(root, dockerfile)}: ENTRYPOINT must pass ${footprintFlags.join(" ")} to node (footprintFlags in scripts/build-bundle.ts).`);
}

/**
 * Builds pier-base, then pier-server and pier-agent (`tag`, default latest) where their inputs
 * changed. The Node.js runtime is the one this checkout runs on (the npm package `node`).
 */
export function buildImages(tag = "latest"): Promise<BuiltImage[]> {
  // Machine-wide: parallel test files (and checkouts) share the engine's pier-* tags and dist/images.
  return withHostLock("build-images", () => buildImagesNow(tag));
}

async function buildImagesNow(tag: string): Promise<BuiltImage[]> {
  const base = buildBaseImage();
  const context = join(root, "dist", "images");
  rmSync(context, { recursive: true, force: true });
  mkdirSync(context, { recursive: true });
  copyFileSync(process.execPath, join(context, "node"));
  // The symbol table is 18 MiB of the 126 MiB binary and only debuggers read it.
  const strip = spawnSync("strip", ["--strip-all", join(context, "node")], { encoding: "utf8" });
  if (strip.status !== 0) console.warn(`build-images: node left unstripped (${(strip.stderr || String(strip.error)).trim()})`);
  await buildBundle(join(context, "pier"));
  // The server image gets the web UI and the agent's Helm chart it serves; the agent's stays without them.
  for (const dir of ["ui", "charts"]) {
    cpSync(join(context, "pier", dir), join(context, dir), { recursive: true });
    rmSync(join(context, "pier", dir), { recursive: true });
  }
  checkAgentEntrypoint(join(root, "deploy/docker/agent.Dockerfile"));
  const images: BuiltImage[] = [];
  for (const role of ["server", "agent"] as const) {
    const dockerfile = join(root, "deploy/docker", `${role}.Dockerfile`);
    const name = `pier-${role}:${tag}`;
    const inputs = hashTree(context, createHash("sha256").update(base.tag).update(readFileSync(dockerfile))).digest("hex").slice(0, 16);
    const upToDate = !base.built && imageLabel(name, inputsLabel) === inputs;
    if (!upToDate) {
      docker(["build", "--quiet", "--build-arg", `BASE=${base.tag}`, "--label", `${inputsLabel}=${inputs}`, "-f", dockerfile, "-t", name, context]);
    }
    images.push({ name, size: imageSize(name), built: !upToDate });
  }
  removeStaleImages(base.tag);
  return images;
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { tag: { type: "string" } } });
  const started = Date.now();
  const images = await buildImages(values.tag);
  for (const image of images) console.log(`${image.name}: ${(image.size / 1024 / 1024).toFixed(1)} MiB${image.built ? "" : " (up to date)"}`);
  console.log(`base: ${(imageSize("pier-base:latest") / 1024 / 1024).toFixed(1)} MiB; ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
