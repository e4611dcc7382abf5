/**
 * Summarises a V8 `.heapsnapshot` (bench:fleet `--server-heap-snapshot DIR`) by constructor:
 * count, self size and retained size, and per session when told how many sessions were open, so
 * what one edge session keeps alive is a table rather than a reading of DevTools.
 *
 *   npx node bench/fleet/heap-snapshot-summary.ts FILE.heapsnapshot [--sessions 15000] [--top 40]
 *                                                 [--retainers CLASS]
 *
 * Streams the numeric arrays (a 15,000-session snapshot is larger than the longest string V8 can
 * parse at once). Retained size: the dominator tree (Cooper, Harvey and Kennedy's iterative
 * algorithm) from the snapshot's root over strong edges; a constructor's retained size adds its
 * instances not dominated by another instance of the same constructor, as DevTools' summary does.
 * --retainers CLASS also counts what refers to that class's instances (referrer class and edge
 * name), to find who keeps them (e.g. `Timeout`, `X509Certificate`, `(native) Node`).
 */
import { closeSync, openSync, readSync } from "node:fs";
import { parseArgs } from "node:util";

interface Meta {
  readonly node_fields: string[];
  readonly node_types: [string[], ...unknown[]];
  readonly edge_fields: string[];
  readonly edge_types: [string[], ...unknown[]];
}

/** Reads a file front to back in chunks, byte by byte. */
class ByteReader {
  readonly #fd: number;
  readonly #chunk = Buffer.alloc(16 * 1024 * 1024);
  #length = 0;
  #index = 0;

  constructor(file: string) {
    this.#fd = openSync(file, "r");
  }

  /** The next byte, or -1 at the end. */
  next(): number {
    if (this.#index >= this.#length) {
      this.#length = readSync(this.#fd, this.#chunk, 0, this.#chunk.length, null);
      this.#index = 0;
      if (this.#length === 0) return -1;
    }
    return this.#chunk[this.#index++] ?? -1;
  }

  /** Bytes up to and including `marker` (which must be ASCII), as text. */
  readThrough(marker: string): string {
    const bytes: number[] = [];
    for (;;) {
      const byte = this.next();
      if (byte < 0) throw new Error(`"${marker}" not found`);
      bytes.push(byte);
      if (bytes.length >= marker.length && String.fromCharCode(...bytes.slice(-marker.length)) === marker) return Buffer.from(bytes).toString("utf8");
    }
  }

  /** Numbers of a JSON array whose `[` was just read, into `into`; returns how many. */
  readNumbers(into: Float64Array): number {
    let count = 0;
    let value = 0;
    let digits = false;
    for (;;) {
      const byte = this.next();
      if (byte >= 48 && byte <= 57) {
        value = value * 10 + (byte - 48);
        digits = true;
      } else if (byte === 44 || byte === 93) {
        if (digits) into[count++] = value;
        value = 0;
        digits = false;
        if (byte === 93) return count;
      } else if (byte < 0) throw new Error("the snapshot ends inside an array");
    }
  }

  /** Every remaining byte. */
  rest(): Buffer {
    const parts: Buffer[] = [];
    if (this.#index < this.#length) parts.push(Buffer.from(this.#chunk.subarray(this.#index, this.#length)));
    for (;;) {
      const read = readSync(this.#fd, this.#chunk, 0, this.#chunk.length, null);
      if (read === 0) break;
      parts.push(Buffer.from(this.#chunk.subarray(0, read)));
    }
    this.#length = this.#index = 0;
    return Buffer.concat(parts);
  }

  close(): void {
    closeSync(this.#fd);
  }
}

function main(): void {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { sessions: { type: "string" }, top: { type: "string", default: "40" }, retainers: { type: "string" } } });
  const file = positionals[0];
  if (!file) {
    console.error("Usage: npx node bench/fleet/heap-snapshot-summary.ts FILE.heapsnapshot [--sessions N] [--top 40]");
    process.exit(2);
  }
  const sessions = values.sessions ? Number(values.sessions) : undefined;
  const reader = new ByteReader(file);
  const header = reader.readThrough('"nodes":[');
  const snapshot = (JSON.parse(`${header.slice(0, header.lastIndexOf('"nodes"')).replace(/,\s*$/, "")}}`) as { snapshot: { meta: Meta; node_count: number; edge_count: number } }).snapshot;
  const { meta } = snapshot;
  const nodeFieldCount = meta.node_fields.length;
  const edgeFieldCount = meta.edge_fields.length;
  const nodes = new Float64Array(snapshot.node_count * nodeFieldCount);
  if (reader.readNumbers(nodes) !== nodes.length) throw new Error("node count differs from the header");
  reader.readThrough('"edges":[');
  const edges = new Float64Array(snapshot.edge_count * edgeFieldCount);
  if (reader.readNumbers(edges) !== edges.length) throw new Error("edge count differs from the header");
  reader.readThrough('"strings":[');
  const tail = reader.rest().toString("utf8");
  reader.close();
  const strings = JSON.parse(`[${tail.slice(0, tail.lastIndexOf("]"))}]`) as string[];

  const typeField = meta.node_fields.indexOf("type");
  const nameField = meta.node_fields.indexOf("name");
  const selfField = meta.node_fields.indexOf("self_size");
  const edgeCountField = meta.node_fields.indexOf("edge_count");
  const edgeTypeField = meta.edge_fields.indexOf("type");
  const edgeToField = meta.edge_fields.indexOf("to_node");
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const weak = edgeTypes.indexOf("weak");
  const shortcut = edgeTypes.indexOf("shortcut");
  const count = snapshot.node_count;

  // Class of each node: constructor name for objects, "(closure) name", "(string)", "(native) name", …
  const classIds = new Uint32Array(count);
  const classNames: string[] = [];
  const classIndex = new Map<string, number>();
  for (let node = 0; node < count; node++) {
    const type = nodeTypes[nodes[node * nodeFieldCount + typeField] ?? 0] ?? "?";
    const name = strings[nodes[node * nodeFieldCount + nameField] ?? 0] ?? "";
    const label =
      type === "object" ? name.split(" ")[0] || "(object)"
      : type === "native" ? `(native) ${name.replace(/ \/ .*$/, "").slice(0, 60)}`
      : type === "closure" ? `(closure) ${name || "anonymous"}`
      : type === "code" || type === "hidden" || type === "array" ? `(${type}) ${name.slice(0, 40)}`
      : `(${type})`;
    let id = classIndex.get(label);
    if (id === undefined) {
      id = classNames.length;
      classNames.push(label);
      classIndex.set(label, id);
    }
    classIds[node] = id;
  }

  // Strong edges: first edge index per node, then reverse postorder from the root (node 0).
  const firstEdge = new Uint32Array(count + 1);
  for (let node = 0; node < count; node++) firstEdge[node + 1] = (firstEdge[node] ?? 0) + (nodes[node * nodeFieldCount + edgeCountField] ?? 0);
  const strong = (edge: number) => {
    const type = edges[edge * edgeFieldCount + edgeTypeField];
    return type !== weak && type !== shortcut;
  };
  const target = (edge: number) => (edges[edge * edgeFieldCount + edgeToField] ?? 0) / nodeFieldCount;
  const order = new Int32Array(count).fill(-1); // postorder number
  const postorder = new Uint32Array(count);
  let visited = 0;
  {
    const stack = new Uint32Array(count);
    const cursor = new Uint32Array(count);
    const seen = new Uint8Array(count);
    stack[0] = 0;
    seen[0] = 1;
    cursor[0] = firstEdge[0] ?? 0;
    let depth = 1;
    while (depth > 0) {
      const node = stack[depth - 1] ?? 0;
      const edge = cursor[node] ?? 0;
      if (edge < (firstEdge[node + 1] ?? 0)) {
        cursor[node] = edge + 1;
        if (!strong(edge)) continue;
        const next = target(edge);
        if (seen[next]) continue;
        seen[next] = 1;
        cursor[next] = firstEdge[next] ?? 0;
        stack[depth++] = next;
      } else {
        depth--;
        order[node] = visited;
        postorder[visited++] = node;
      }
    }
  }
  // Predecessors (strong edges between reachable nodes), as CSR.
  const predecessorCount = new Uint32Array(count + 1);
  for (let node = 0; node < count; node++) {
    if (order[node] === -1) continue;
    for (let edge = firstEdge[node] ?? 0; edge < (firstEdge[node + 1] ?? 0); edge++) if (strong(edge)) predecessorCount[target(edge) + 1]! += 1;
  }
  for (let node = 0; node < count; node++) predecessorCount[node + 1]! += predecessorCount[node] ?? 0;
  const predecessors = new Uint32Array(predecessorCount[count] ?? 0);
  const fill = predecessorCount.slice(0, count);
  for (let node = 0; node < count; node++) {
    if (order[node] === -1) continue;
    for (let edge = firstEdge[node] ?? 0; edge < (firstEdge[node + 1] ?? 0); edge++) if (strong(edge)) predecessors[fill[target(edge)]!++] = node;
  }
  const dominator = new Int32Array(count).fill(-1);
  dominator[0] = 0;
  const intersect = (a: number, b: number) => {
    while (a !== b) {
      while ((order[a] ?? 0) < (order[b] ?? 0)) a = dominator[a] ?? 0;
      while ((order[b] ?? 0) < (order[a] ?? 0)) b = dominator[b] ?? 0;
    }
    return a;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (let index = visited - 2; index >= 0; index--) {
      const node = postorder[index] ?? 0;
      let idom = -1;
      for (let p = predecessorCount[node] ?? 0; p < (predecessorCount[node + 1] ?? 0); p++) {
        const predecessor = predecessors[p] ?? 0;
        if (dominator[predecessor] === -1) continue;
        idom = idom === -1 ? predecessor : intersect(predecessor, idom);
      }
      if (idom !== -1 && dominator[node] !== idom) {
        dominator[node] = idom;
        changed = true;
      }
    }
  }
  const retained = new Float64Array(count);
  for (let node = 0; node < count; node++) retained[node] = nodes[node * nodeFieldCount + selfField] ?? 0;
  for (let index = 0; index < visited - 1; index++) {
    const node = postorder[index] ?? 0;
    retained[dominator[node] ?? 0]! += retained[node] ?? 0;
  }

  const rows = classNames.map((name) => ({ name, count: 0, self: 0, retained: 0 }));
  let total = 0;
  for (let node = 0; node < count; node++) {
    const row = rows[classIds[node] ?? 0];
    if (!row) continue;
    const self = nodes[node * nodeFieldCount + selfField] ?? 0;
    total += self;
    row.count += 1;
    row.self += self;
    if (order[node] === -1) continue;
    // Counted once per class: an instance held by another of its class is in that one's size.
    let owner = dominator[node] ?? 0;
    while (owner !== 0 && classIds[owner] !== classIds[node]) owner = dominator[owner] ?? 0;
    if (owner === 0) row.retained += retained[node] ?? 0;
  }
  const kib = (bytes: number) => (bytes / 1024).toFixed(bytes < 10 * 1024 ? 2 : 0).padStart(10);
  if (values.retainers !== undefined) {
    const wanted = classIndex.get(values.retainers);
    const nameField = meta.edge_fields.indexOf("name_or_index");
    const edgeName = (edge: number) => {
      const type = edgeTypes[edges[edge * edgeFieldCount + edgeTypeField] ?? 0];
      const name = edges[edge * edgeFieldCount + nameField] ?? 0;
      return type === "element" || type === "hidden" ? `[${type}]` : `${type}:${strings[name] ?? name}`;
    };
    // Per referrer and edge: how many, the referred instances' self and retained size.
    const referrers = new Map<string, [number, number, number]>();
    for (let node = 0; node < count; node++) {
      for (let edge = firstEdge[node] ?? 0; edge < (firstEdge[node + 1] ?? 0); edge++) {
        if (classIds[target(edge)] !== wanted) continue;
        const key = `${classNames[classIds[node] ?? 0]} -${edgeName(edge)}->`;
        const entry = referrers.get(key) ?? [0, 0, 0];
        entry[0] += 1;
        entry[1] += nodes[target(edge) * nodeFieldCount + selfField] ?? 0;
        entry[2] += retained[target(edge)] ?? 0;
        referrers.set(key, entry);
      }
    }
    console.log(`referrers of ${values.retainers} (${rows[wanted ?? -1]?.count ?? 0} instances):`);
    console.log(`${"count".padStart(10)} ${"self KiB".padStart(10)} ${"retained KiB".padStart(12)}  referrer -edge->`);
    for (const [key, [n, bytes, kept]] of [...referrers].sort((a, b) => b[1][2] - a[1][2]).slice(0, Number(values.top))) console.log(`${String(n).padStart(10)} ${kib(bytes)} ${kib(kept).padStart(12)}  ${key}`);
    console.log("");
  }
  const per = (value: number, digits = 2) => (sessions ? (value / sessions).toFixed(digits).padStart(9) : "");
  console.log(`${count} nodes, ${snapshot.edge_count} edges, ${(total / 1024 / 1024).toFixed(1)} MiB of self size${sessions ? `; per session (${sessions}): ${(total / sessions / 1024).toFixed(2)} KiB` : ""}`);
  console.log(`\n${"count".padStart(10)} ${"self KiB".padStart(10)} ${"retained KiB".padStart(12)}${sessions ? `${"n/session".padStart(10)}${"B/session".padStart(10)}` : ""}  class (top ${values.top} by self size)`);
  for (const row of rows.sort((a, b) => b.self - a.self).slice(0, Number(values.top))) {
    console.log(`${String(row.count).padStart(10)} ${kib(row.self)} ${kib(row.retained).padStart(12)}${sessions ? ` ${per(row.count)} ${per(row.self, 0)}` : ""}  ${row.name}`);
  }
}

main();
