import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";
import { closeSync, fstatSync, openSync, readFileSync } from "node:fs";
import { ServerError } from "../errors.ts";

/** The least a secret file holds, after trimming surrounding white space: 32 bytes, AES-256's key size. */
export const minSecretBytes = 32;
/** The most a secret file may hold (it is key material, not a document). */
export const maxSecretBytes = 4096;

const version = 1;
const keyIdBytes = 8;
const ivBytes = 12;
const tagBytes = 16;
const headerBytes = 1 + keyIdBytes + ivBytes;
const salt = Buffer.from("pier cluster secret box", "utf8");

/**
 * Reads `--secret-file`: at least 32 bytes after trimming, at most 4 KiB, and readable by its
 * owner only (like ssh with a private key: a secret the whole machine can read is no secret).
 *
 * @example
 * const secret = readSecretFile("/run/secrets/pier-secret");
 */
export function readSecretFile(path: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    throw new ServerError("config_invalid", `Cannot read the secret file ${path} (--secret-file, PIER_SECRET_FILE): ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`, {
      field: "--secret-file",
      fix: "Create it once with `head -c 32 /dev/urandom | base64 > FILE && chmod 600 FILE` and give every replica the same file.",
      cause: error,
    });
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new ServerError("config_invalid", `The secret file ${path} (--secret-file) is not a regular file.`, { field: "--secret-file" });
    if ((stat.mode & 0o077) !== 0) {
      throw new ServerError("config_invalid", `The secret file ${path} (--secret-file) is accessible by group or others (mode ${(stat.mode & 0o777).toString(8).padStart(4, "0")}): it protects the cluster's private keys.`, {
        field: "--secret-file",
        fix: `Run \`chmod 600 ${path}\` (in Kubernetes, mount the Secret with defaultMode 0400).`,
      });
    }
    if (stat.size > maxSecretBytes) throw new ServerError("config_invalid", `The secret file ${path} (--secret-file) holds ${stat.size} bytes; at most ${maxSecretBytes} are allowed.`, { field: "--secret-file", fix: "Use 32 to 64 random bytes (base64 text is fine)." });
    // Read through the descriptor checked above; the cap holds even if the file grew meanwhile.
    const raw = readFileSync(fd);
    if (raw.length > maxSecretBytes) throw new ServerError("config_invalid", `The secret file ${path} (--secret-file) holds more than ${maxSecretBytes} bytes.`, { field: "--secret-file" });
    const secret = Buffer.from(raw.toString("latin1").trim(), "latin1");
    raw.fill(0);
    if (secret.length < minSecretBytes) {
      throw new ServerError("config_invalid", `The secret file ${path} (--secret-file) holds ${secret.length} bytes after trimming; at least ${minSecretBytes} are needed.`, {
        field: "--secret-file",
        fix: "Write at least 32 random bytes into it, e.g. `head -c 32 /dev/urandom | base64 > FILE`, and give every replica the same file.",
      });
    }
    return secret;
  } finally {
    closeSync(fd);
  }
}

/**
 * Authenticated encryption of the cluster's shared files (docs/security.md "Replicas"):
 * AES-256-GCM under a key derived with HKDF-SHA256 from the secret file, the file's name as
 * associated data (a sealed CA key cannot be passed off as the JWT secret). Sealed format,
 * version 1: `01 | key id (8) | IV (12) | ciphertext | tag (16)`; the key id (a second HKDF
 * output, not the key) tells a different secret file apart from damaged data.
 *
 * @example
 * const box = new SecretBox(readSecretFile(path));
 * const sealed = box.seal("ca/ca.key", keyPem);
 * box.open("ca/ca.key", sealed); // keyPem
 */
export class SecretBox {
  readonly #key: Buffer;
  readonly #keyId: Buffer;

  constructor(secret: Buffer) {
    if (secret.length < minSecretBytes) throw new RangeError(`a secret of at least ${minSecretBytes} bytes is needed`);
    this.#key = Buffer.from(hkdfSync("sha256", secret, salt, "pier secret box v1 aes-256-gcm key", 32));
    this.#keyId = Buffer.from(hkdfSync("sha256", secret, salt, "pier secret box v1 key id", keyIdBytes));
  }

  /** Encrypts `plaintext` for the file `name`. */
  seal(name: string, plaintext: Buffer | string): Buffer {
    const iv = randomBytes(ivBytes);
    const cipher = createCipheriv("aes-256-gcm", this.#key, iv, { authTagLength: tagBytes });
    cipher.setAAD(associatedData(name));
    const body = Buffer.concat([cipher.update(typeof plaintext === "string" ? Buffer.from(plaintext, "utf8") : plaintext), cipher.final()]);
    return Buffer.concat([Buffer.from([version]), this.#keyId, iv, body, cipher.getAuthTag()]);
  }

  /** Decrypts what `seal(name, …)` produced; throws a `ServerError` naming the cause otherwise. */
  open(name: string, sealed: Buffer): Buffer {
    if (sealed.length < headerBytes + tagBytes || sealed[0] !== version) {
      throw new ServerError("store_failed", `The cluster file ${name} in the database is not in a format this Pier reads (version ${sealed[0] ?? "none"}, ${sealed.length} bytes).`, {
        fix: "Upgrade this replica to the version the other replicas run.",
      });
    }
    if (!timingSafeEqual(sealed.subarray(1, 1 + keyIdBytes), this.#keyId)) {
      throw new ServerError("config_invalid", `Cannot decrypt the cluster file ${name}: this replica's --secret-file differs from the one that encrypted the cluster's files.`, {
        field: "--secret-file",
        fix: "Give this replica the same secret file as the replicas already running (every replica needs the same one).",
      });
    }
    const iv = sealed.subarray(1 + keyIdBytes, headerBytes);
    const decipher = createDecipheriv("aes-256-gcm", this.#key, iv, { authTagLength: tagBytes });
    decipher.setAAD(associatedData(name));
    decipher.setAuthTag(sealed.subarray(sealed.length - tagBytes));
    try {
      return Buffer.concat([decipher.update(sealed.subarray(headerBytes, sealed.length - tagBytes)), decipher.final()]);
    } catch (error) {
      throw new ServerError("store_failed", `The cluster file ${name} in the database fails its integrity check: it was altered, damaged or stored under another name.`, {
        fix: "Restore the database from a backup; Pier does not use a file it cannot authenticate.",
        cause: error,
      });
    }
  }
}

function associatedData(name: string): Buffer {
  return Buffer.from(`pier cluster file\0${name}`, "utf8");
}
