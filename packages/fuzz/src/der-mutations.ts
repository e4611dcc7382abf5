import fc from "fast-check";

/**
 * A DER element as the mutator sees it: a lenient tree (constructed elements, and OCTET/BIT
 * STRINGs that wrap DER, such as extension values and keys, have children) that re-encodes with
 * correct ancestor lengths, so a mutation deep inside a certificate still reaches the parser
 * behind the outer SEQUENCEs instead of being refused at the first length check.
 */
interface Tlv {
  tag: number;
  content: Buffer;
  children?: Tlv[];
  /** BIT STRING wrapping DER: the unused-bits byte before the children. */
  bitPrefix?: boolean;
  /** A deliberately wrong length field for this element only. */
  lengthMode?: LengthMode;
}

type LengthMode = { kind: "delta"; delta: number } | { kind: "non-minimal" } | { kind: "indefinite" } | { kind: "huge" } | { kind: "too-many-bytes" };

function readHeader(buf: Buffer, offset: number): { tag: number; start: number; end: number } | undefined {
  if (offset + 2 > buf.length) return undefined;
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) return undefined;
  let length = buf[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4 || start + count > buf.length) return undefined;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[start + i]!;
    start += count;
  }
  const end = start + length;
  return end > buf.length ? undefined : { tag, start, end };
}

function parseAll(buf: Buffer, depth: number): Tlv[] | undefined {
  const out: Tlv[] = [];
  for (let offset = 0; offset < buf.length; ) {
    const header = readHeader(buf, offset);
    if (!header) return undefined;
    out.push(parseOne(header.tag, buf.subarray(header.start, header.end), depth));
    offset = header.end;
  }
  return out;
}

function parseOne(tag: number, content: Buffer, depth: number): Tlv {
  const node: Tlv = { tag, content };
  if (depth > 12 || content.length === 0) return node;
  if (tag & 0x20) {
    const children = parseAll(content, depth + 1);
    if (children) node.children = children;
  } else if (tag === 0x04 && content[0] === 0x30) {
    const children = parseAll(content, depth + 1);
    if (children) node.children = children;
  } else if (tag === 0x03 && content[0] === 0 && content[1] === 0x30) {
    const children = parseAll(content.subarray(1), depth + 1);
    if (children) Object.assign(node, { children, bitPrefix: true });
  }
  return node;
}

function lengthBytes(length: number, mode: LengthMode | undefined): Buffer {
  const minimal = (n: number): Buffer => {
    if (n < 0x80) return Buffer.from([n]);
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    return Buffer.from([0x80 | bytes.length, ...bytes]);
  };
  switch (mode?.kind) {
    case undefined:
      return minimal(length);
    case "delta":
      return minimal(Math.max(0, length + mode.delta));
    case "non-minimal":
      // Three length bytes where DER needs at most two for these sizes (X.690 §10.1).
      return Buffer.from([0x83, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff]);
    case "indefinite":
      return Buffer.from([0x80]);
    case "huge":
      return Buffer.from([0x84, 0xff, 0xff, 0xff, 0xff]);
    case "too-many-bytes":
      return Buffer.from([0x85, 0, 0, 0, 0, length & 0x7f]);
  }
}

function encode(node: Tlv): Buffer {
  const content = node.children ? Buffer.concat([...(node.bitPrefix ? [Buffer.from([0])] : []), ...node.children.map(encode)]) : node.content;
  return Buffer.concat([Buffer.from([node.tag]), lengthBytes(content.length, node.lengthMode), content]);
}

interface Located {
  readonly node: Tlv;
  readonly siblings: Tlv[];
  readonly index: number;
}

function collect(roots: Tlv[]): Located[] {
  const out: Located[] = [];
  const walk = (siblings: Tlv[]) =>
    siblings.forEach((node, index) => {
      out.push({ node, siblings, index });
      if (node.children) walk(node.children);
    });
  walk(roots);
  return out;
}

function clone(node: Tlv): Tlv {
  return { ...node, ...(node.children ? { children: node.children.map(clone) } : {}) };
}

/** Contents that sit on parsers' edges: empty, zero, sign bits, odd times, long runs. */
const interestingContents: readonly Buffer[] = [
  Buffer.alloc(0),
  Buffer.from([0]),
  Buffer.from([0xff]),
  Buffer.from([0x80]),
  Buffer.from([0x00, 0x00, 0x01]),
  Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
  Buffer.alloc(21, 0x7f),
  Buffer.alloc(300, 0x41),
  Buffer.from("991332246060Z"),
  Buffer.from("500101000000Z"),
  Buffer.from("491231235959Z"),
  Buffer.from("000229000000Z"),
  Buffer.from("20500101000000Z"),
  Buffer.from("20500101000000.5Z"),
  Buffer.from("99991231235959Z"),
  Buffer.from("2050010100000Z"),
  Buffer.from("250101000000+0100"),
  Buffer.from([0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b]),
  Buffer.from([0x55, 0x1d, 0x13]),
  Buffer.from([0x55, 0x1d, 0x11]),
  Buffer.from([0x55, 0x04, 0x03]),
  Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
  Buffer.from([0xd8, 0x00]),
  Buffer.from("caf\xe9", "latin1"),
];

type TreeOp =
  | { kind: "delete" | "duplicate" | "wrap" | "unwrap"; at: number }
  | { kind: "swap"; at: number; other: number }
  | { kind: "tag"; at: number; tag: number }
  | { kind: "content"; at: number; bytes: Uint8Array }
  | { kind: "interesting"; at: number; pick: number }
  | { kind: "length"; at: number; mode: LengthMode }
  | { kind: "graft"; at: number; from: number };

type RawOp = { kind: "flip"; at: number; bit: number } | { kind: "set"; at: number; value: number } | { kind: "truncate"; at: number } | { kind: "insert"; at: number; bytes: Uint8Array };

const lengthModeArb: fc.Arbitrary<LengthMode> = fc.oneof(
  fc.integer({ min: -3, max: 3 }).filter((d) => d !== 0).map((delta) => ({ kind: "delta" as const, delta })),
  fc.integer({ min: 128, max: 70_000 }).map((delta) => ({ kind: "delta" as const, delta })),
  fc.constantFrom<LengthMode>({ kind: "non-minimal" }, { kind: "indefinite" }, { kind: "huge" }, { kind: "too-many-bytes" }),
);

const treeOpArb: fc.Arbitrary<TreeOp> = fc.oneof(
  fc.record({ kind: fc.constantFrom("delete" as const, "duplicate" as const, "wrap" as const, "unwrap" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("swap" as const), at: fc.nat(), other: fc.nat() }),
  fc.record({ kind: fc.constant("tag" as const), at: fc.nat(), tag: fc.oneof(fc.constantFrom(0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0a, 0x0c, 0x13, 0x16, 0x17, 0x18, 0x1e, 0x30, 0x31, 0xa0, 0xa3, 0x80, 0x82, 0x87), fc.integer({ min: 0, max: 255 })) }),
  fc.record({ kind: fc.constant("content" as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 40 }) }),
  fc.record({ kind: fc.constant("interesting" as const), at: fc.nat(), pick: fc.nat() }),
  fc.record({ kind: fc.constant("length" as const), at: fc.nat(), mode: lengthModeArb }),
  fc.record({ kind: fc.constant("graft" as const), at: fc.nat(), from: fc.nat() }),
);

const rawOpArb: fc.Arbitrary<RawOp> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
);

function applyTreeOp(roots: Tlv[], op: TreeOp): void {
  const nodes = collect(roots);
  const target = nodes[op.at % nodes.length];
  if (!target) return;
  const { node, siblings, index } = target;
  switch (op.kind) {
    case "delete":
      siblings.splice(index, 1);
      return;
    case "duplicate":
      siblings.splice(index, 0, clone(node));
      return;
    case "wrap":
      siblings[index] = { tag: 0x30, content: Buffer.alloc(0), children: [node] };
      return;
    case "unwrap":
      if (node.children) siblings.splice(index, 1, ...node.children);
      return;
    case "swap": {
      const other = nodes[op.other % nodes.length];
      if (!other || other.node === node) return;
      siblings[index] = other.node;
      other.siblings[other.index] = node;
      return;
    }
    case "tag":
      node.tag = (op.tag & 0x1f) === 0x1f ? op.tag & 0xfe : op.tag;
      return;
    case "content":
      delete node.children;
      node.content = Buffer.from(op.bytes);
      return;
    case "interesting":
      delete node.children;
      node.content = interestingContents[op.pick % interestingContents.length]!;
      return;
    case "length":
      node.lengthMode = op.mode;
      return;
    case "graft": {
      const donor = nodes[op.from % nodes.length];
      if (donor && donor.node !== node) siblings[index] = clone(donor.node);
      return;
    }
  }
}

function applyRawOp(bytes: Buffer, op: RawOp): Buffer {
  if (bytes.length === 0) return op.kind === "insert" ? Buffer.from(op.bytes) : bytes;
  const at = op.at % bytes.length;
  switch (op.kind) {
    case "flip": {
      const out = Buffer.from(bytes);
      out[at] = out[at]! ^ (1 << op.bit);
      return out;
    }
    case "set": {
      const out = Buffer.from(bytes);
      out[at] = op.value;
      return out;
    }
    case "truncate":
      return bytes.subarray(0, at);
    case "insert":
      return Buffer.concat([bytes.subarray(0, at), Buffer.from(op.bytes), bytes.subarray(at)]);
  }
}

/** Applies tree surgery then raw byte edits to a DER blob (used directly by unit tests). */
export function mutateDer(seed: Buffer, treeOps: readonly TreeOp[], rawOps: readonly RawOp[]): Buffer {
  const roots = parseAll(seed, 0);
  let bytes = seed;
  if (roots && treeOps.length > 0) {
    for (const op of treeOps) applyTreeOp(roots, op);
    bytes = Buffer.concat(roots.map(encode));
  }
  for (const op of rawOps) bytes = applyRawOp(bytes, op);
  return bytes;
}

/**
 * Inputs for a DER parser: the seeds unchanged, seeds after TLV surgery (delete, duplicate, swap,
 * wrap, graft, retag, new contents, wrong length fields) and/or bit flips, byte edits,
 * truncation and insertions, and random bytes.
 */
export function derInputs(seeds: readonly Buffer[]): fc.Arbitrary<Buffer> {
  const seed = fc.constantFrom(...seeds);
  return fc.oneof(
    { weight: 1, arbitrary: seed },
    { weight: 6, arbitrary: fc.tuple(seed, fc.array(treeOpArb, { minLength: 1, maxLength: 3 })).map(([s, ops]) => mutateDer(s, ops, [])) },
    { weight: 3, arbitrary: fc.tuple(seed, fc.array(rawOpArb, { minLength: 1, maxLength: 3 })).map(([s, ops]) => mutateDer(s, [], ops)) },
    { weight: 2, arbitrary: fc.tuple(seed, fc.array(treeOpArb, { minLength: 1, maxLength: 2 }), fc.array(rawOpArb, { minLength: 1, maxLength: 2 })).map(([s, t, r]) => mutateDer(s, t, r)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.concat([Buffer.from([0x30, 0x82]), Buffer.from(b)])) },
  );
}

/**
 * The structure with the fields tagged `tag` removed from the first SEQUENCE inside the root
 * (a certificate's or CRL's TBS part), lengths recomputed; `undefined` when it does not parse.
 * The allow-lists use it to show that a refusal comes from inside such a field.
 */
export function withoutTbsField(der: Buffer, tag: number): Buffer | undefined {
  const header = readHeader(der, 0);
  if (!header) return undefined;
  const roots = parseAll(der.subarray(0, header.end), 0);
  const tbs = roots?.[0]?.children?.[0];
  if (!roots || !tbs?.children) return undefined;
  tbs.children = tbs.children.filter((child) => child.tag !== tag);
  return Buffer.concat(roots.map(encode));
}

/** Length of the first element when its header is readable (it may be followed by trailing bytes). */
export function firstElementLength(der: Buffer): number | undefined {
  return readHeader(der, 0)?.end;
}

/** True when some element (at any depth the lenient reader reaches) is a SEQUENCE or SET tagged primitive (0x10, 0x11). */
export function hasPrimitiveSequenceOrSet(der: Buffer): boolean {
  const roots = parseAll(der.subarray(0, readHeader(der, 0)?.end ?? 0), 0);
  const walk = (nodes: Tlv[]): boolean => nodes.some((n) => n.tag === 0x10 || n.tag === 0x11 || parseAll(n.content, 0)?.some((c) => c.tag === 0x10 || c.tag === 0x11) === true || (n.children ? walk(n.children) : false));
  return roots ? walk(roots) : false;
}

/** A CRL with each revoked entry cut to its serial and date (its crlEntryExtensions dropped); undefined when no entry has extensions. */
export function withoutCrlEntryExtensions(der: Buffer): Buffer | undefined {
  const header = readHeader(der, 0);
  if (!header) return undefined;
  const roots = parseAll(der.subarray(0, header.end), 0);
  const tbs = roots?.[0]?.children?.[0];
  if (!roots || !tbs?.children) return undefined;
  // TBSCertList: the revoked list is the SEQUENCE right after thisUpdate/nextUpdate.
  const lastTime = tbs.children.findLastIndex((child) => child.tag === 0x17 || child.tag === 0x18);
  const revoked = lastTime < 0 ? undefined : tbs.children[lastTime + 1];
  if (revoked?.tag !== 0x30 || !revoked.children) return undefined;
  let changed = false;
  for (const entry of revoked.children) {
    if (entry.children && entry.children.length > 2) {
      entry.children = entry.children.slice(0, 2);
      changed = true;
    }
  }
  return changed ? Buffer.concat(roots.map(encode)) : undefined;
}
