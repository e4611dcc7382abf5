import { PkiError } from "@pier/pki";
import { type DerNode, childrenOf, readBitString, readBoolean, readIntegerHex, readOid, readRoot, readSmallInt, readString, readTime } from "@pier/pki/der";
import { derInputs } from "../der-mutations.ts";
import { type FuzzTarget, type Verdict, describeError, hexPreview, ok, timed } from "../harness.ts";
import { pkiCorpus } from "../pki-corpus.ts";

/** Runs a reader; its own refusal (`PkiError`) is fine, anything else is a crash. */
function tolerated(read: () => unknown): string | undefined {
  try {
    read();
    return undefined;
  } catch (error) {
    return error instanceof PkiError ? undefined : describeError(error);
  }
}

/** Walks a decoded tree: children must tile their parent's content exactly; every reader that fits a tag runs. */
function walk(node: DerNode, depth: number): Verdict {
  if (node.raw.length < node.content.length + 2 || !node.raw.subarray(node.raw.length - node.content.length).equals(node.content)) {
    return { kind: "mismatch", detail: `element's raw bytes do not end with its content (tag ${node.tag})` };
  }
  if (node.constructed && depth < 40) {
    let children: DerNode[];
    try {
      children = childrenOf(node);
    } catch (error) {
      return error instanceof PkiError ? ok : { kind: "crash", detail: `childrenOf threw ${describeError(error)}` };
    }
    const tiled = Buffer.concat(children.map((c) => c.raw));
    if (!tiled.equals(node.content)) return { kind: "mismatch", detail: `children of tag ${node.tag} do not tile its content` };
    for (const child of children) {
      const verdict = walk(child, depth + 1);
      if (verdict.kind !== "ok") return verdict;
    }
    return ok;
  }
  const readers: Array<[string, () => unknown]> = [
    ["readOid", () => readOid(node)],
    ["readIntegerHex", () => readIntegerHex(node)],
    ["readSmallInt", () => readSmallInt(node)],
    ["readBoolean", () => readBoolean(node)],
    ["readBitString", () => readBitString(node)],
    ["readTime", () => readTime(node)],
    ["readString", () => readString(node)],
  ];
  for (const [name, read] of readers) {
    const crash = tolerated(read);
    if (crash) return { kind: "crash", detail: `${name} threw ${crash} on tag ${node.tag}` };
  }
  if (node.tag === 0x17 || node.tag === 0x18) {
    try {
      if (Number.isNaN(readTime(node).getTime())) return { kind: "mismatch", detail: "readTime returned an invalid Date instead of refusing" };
    } catch {
      // refused: fine
    }
  }
  return ok;
}

/**
 * The DER reader (`@pier/pki/der`): readRoot on mutated certificates, CSRs, CRLs and random
 * bytes; accepted input must re-tile exactly (raw = header + content, children cover the
 * content), and every typed reader may only refuse with PkiError.
 */
export const derTarget: FuzzTarget = {
  name: "der",
  defaultRuns: 100_000,
  prepare() {
    const corpus = pkiCorpus();
    return Promise.resolve({
      arbitrary: derInputs([...corpus.certificates, ...corpus.csrs, ...corpus.crls]),
      check: (input: Buffer) =>
        timed(() => {
          let root: DerNode;
          try {
            root = readRoot(input);
          } catch (error) {
            return error instanceof PkiError ? ok : { kind: "crash", detail: `readRoot threw ${describeError(error)}` };
          }
          if (!root.raw.equals(input)) return { kind: "mismatch", detail: "readRoot accepted input its element does not span" };
          return walk(root, 0);
        }),
      notes: () => [corpus.description, "properties: only PkiError; accepted elements re-tile their input exactly; typed readers refuse or return valid values"],
      show: (input: Buffer) => hexPreview(input),
    });
  },
};
