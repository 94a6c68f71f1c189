/**
 * Regression: decode amplification. Bounds checks keep every read inside the
 * file, but many nodes may point at one text, children vector, numbers vector
 * or segment, and each node used to build its own copy: a 116 KB file decoded
 * to 200 M characters, a 1 MB one exhausted a 512 MB heap. These files are
 * built with the raw FlatBuffers Builder (dump never shares these) and carry
 * valid checksums, as a hostile author's would. Sizes are chosen so that
 * before the fix each load succeeded with 25–100 MB: enough to see, not
 * enough to hurt.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Builder } from 'flatbuffers';
import { describe, expect, it } from 'vitest';
import { dumpSync, FormatError, loadSync, type LoadOptions } from '@larder/store-fs';
import { checksum } from '../src/checksum.js';
import { alignUp, encodeHeader, HEADER_SIZE } from '../src/header.js';
import { Kind } from '../src/manifest.js';
import { tempDir } from './tmp-dir.js';

const dir = tempDir();
const MODES: [string, LoadOptions][] = [
  ['eager', {}],
  ['shared', { shared: true }],
  ['mmap', { mmap: 'r' }],
];
/** Nodes that all point at the one shared thing. */
const COPIES = 800;

/** Offsets (already in the builder) of the fields of one node; field ids as in buildManifest. */
interface RawNode {
  kind: number;
  number?: number;
  text?: number;
  children?: number;
  keys?: number;
  numbers?: number;
  segment?: number;
  element?: number;
}

function addNode(builder: Builder, node: RawNode): number {
  builder.startObject(8);
  if (node.number !== undefined) builder.addFieldFloat64(1, node.number, null);
  if (node.text !== undefined) builder.addFieldOffset(2, node.text, 0);
  if (node.children !== undefined) builder.addFieldOffset(3, node.children, 0);
  if (node.keys !== undefined) builder.addFieldOffset(4, node.keys, 0);
  if (node.numbers !== undefined) builder.addFieldOffset(5, node.numbers, 0);
  builder.addFieldInt32(6, node.segment ?? 0, 0);
  builder.addFieldInt8(0, node.kind, 0);
  builder.addFieldInt8(7, node.element ?? 0, 0);
  return builder.endObject();
}

function u32Vector(builder: Builder, items: readonly number[]): number {
  builder.startVector(4, items.length, 4);
  for (let i = items.length - 1; i >= 0; i--) builder.addInt32(items[i]!);
  return builder.endVector();
}

function offsetVector(builder: Builder, offsets: readonly number[]): number {
  builder.startVector(4, offsets.length, 4);
  for (let i = offsets.length - 1; i >= 0; i--) builder.addOffset(offsets[i]!);
  return builder.endVector();
}

/**
 * A file whose root (node 0) is an Array of nodes 1..COPIES, all of them the
 * one node table `shared(builder)` returns, plus `extra` nodes after them,
 * and `segments` as its data region; every checksum is valid.
 */
function craft(name: string, shared: (builder: Builder) => number, options: { extra?: RawNode[] | ((builder: Builder) => RawNode[]); segments?: Uint8Array[]; version?: number } = {}): string {
  const builder = new Builder(1024);
  const sharedNode = shared(builder);
  const extraNodes = typeof options.extra === 'function' ? options.extra(builder) : (options.extra ?? []);
  const extra = extraNodes.map((node) => addNode(builder, node));
  const root = addNode(builder, { kind: Kind.Array, children: u32Vector(builder, Array.from({ length: COPIES }, (_, i) => i + 1)) });
  const nodes = offsetVector(builder, [root, ...Array<number>(COPIES).fill(sharedNode), ...extra]);
  const segments = options.segments ?? [];
  const offsets: number[] = [];
  let end = 0;
  for (const bytes of segments) {
    offsets.push(alignUp(end));
    end = alignUp(end) + bytes.length;
  }
  builder.startVector(24, segments.length, 8);
  for (let i = segments.length - 1; i >= 0; i--) {
    builder.prep(8, 24);
    builder.writeInt64(checksum(segments[i]!));
    builder.writeInt64(BigInt(segments[i]!.length));
    builder.writeInt64(BigInt(offsets[i]!));
  }
  const segmentTable = builder.endVector();
  builder.startObject(3);
  builder.addFieldOffset(1, nodes, 0);
  builder.addFieldOffset(2, segmentTable, 0);
  builder.addFieldInt32(0, 0, 0);
  builder.finish(builder.endObject());
  const manifest = builder.asUint8Array();
  const payloadLength = segments.length === 0 ? manifest.length : alignUp(manifest.length) + end;
  const file = new Uint8Array(HEADER_SIZE + payloadLength);
  file.set(encodeHeader({ version: options.version ?? 1, compression: 'none', manifestLength: manifest.length, payloadLength, storedLength: payloadLength, manifestChecksum: checksum(manifest) }));
  file.set(manifest, HEADER_SIZE);
  segments.forEach((bytes, i) => file.set(bytes, HEADER_SIZE + alignUp(manifest.length) + offsets[i]!));
  const target = path.join(dir, `${name}.larder`);
  fs.writeFileSync(target, file);
  return target;
}

/** Memory the process holds in JS objects and buffers, without forcing a GC. */
function held(): number {
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/** Expects a FormatError about expansion, with little memory taken before it was thrown. */
function expectRefused(file: string, options: LoadOptions): void {
  const before = held();
  let error: unknown;
  try {
    loadSync(file, options);
  } catch (caught) {
    error = caught;
  }
  const grew = held() - before;
  if (!(error instanceof FormatError)) {
    throw new Error(`expected a FormatError, got ${error === undefined ? `a successful load (+${(grew / 1e6).toFixed(0)} MB)` : String(error)}`);
  }
  expect(error.message).toMatch(/the manifest expands to more than the file holds: by node \d+, decoding needs more than \d+ bytes/);
  expect(error.file).toBe(file);
  // The budget is 2 × the payload + 64 KiB; these payloads are under 100 KB.
  expect(grew).toBeLessThan(16 * 1024 * 1024);
}

describe('decode amplification: nodes sharing what the writer never shares are a FormatError, not gigabytes', () => {
  const sharedText = craft('text', (b) => addNode(b, { kind: Kind.String, text: b.createString('x'.repeat(64 * 1024)) }));
  const sharedDigits = craft('bigint', (b) => addNode(b, { kind: Kind.BigInt, text: b.createString('f'.repeat(64 * 1024)) }));
  // Children all point at one null node, placed after the copies.
  const NULL_NODE = COPIES + 1;
  const children = (b: Builder, count: number): number => u32Vector(b, Array<number>(count).fill(NULL_NODE));
  const sharedArrayChildren = craft('array', (b) => addNode(b, { kind: Kind.Array, children: children(b, 8192) }), { extra: [{ kind: Kind.Null }] });
  const sharedSetChildren = craft('set', (b) => addNode(b, { kind: Kind.Set, children: children(b, 8192) }), { extra: [{ kind: Kind.Null }] });
  const sharedMapChildren = craft('map', (b) => addNode(b, { kind: Kind.Map, children: children(b, 8192) }), { extra: [{ kind: Kind.Null }] });
  const sharedObjectVectors = craft(
    'object',
    (b) => {
      const keys = offsetVector(b, Array.from({ length: 4096 }, (_, i) => b.createString(`k${i}`)));
      return addNode(b, { kind: Kind.Object, keys, children: children(b, 4096) });
    },
    { extra: [{ kind: Kind.Null }] },
  );
  // Version-2 kinds: sparse arrays and objects with string-node keys, all sharing one pairs vector.
  const STRING_NODE = COPIES + 2;
  const pairs = (b: Builder, first: (i: number) => number): number =>
    u32Vector(b, Array.from({ length: 8192 }, (_, i) => (i % 2 === 0 ? first(i / 2) : NULL_NODE)));
  const sharedSparsePairs = craft('sparse', (b) => addNode(b, { kind: Kind.SparseArray, number: 4096, children: pairs(b, (i) => i) }), {
    extra: [{ kind: Kind.Null }],
    version: 2,
  });
  const sharedEntryPairs = craft('entries', (b) => addNode(b, { kind: Kind.ObjectEntries, children: pairs(b, () => STRING_NODE) }), {
    extra: (b) => [{ kind: Kind.Null }, { kind: Kind.String, text: b.createString('\uFFFD key') }],
    version: 2,
  });
  const sharedNumbers = craft('numbers', (b) => {
    b.startVector(8, 4096, 8);
    for (let i = 0; i < 4096; i++) b.addFloat64(i);
    return addNode(b, { kind: Kind.Array, numbers: b.endVector() });
  });
  // 60 000 bytes: below the default mmapThreshold, so mmap loads read it once per node.
  const segment = new Uint8Array(60_000).fill(7);
  const sharedSegment = (kind: number, element = 0): string =>
    craft(`segment-${kind}`, (b) => addNode(b, { kind, segment: 0, element }), { segments: [segment] });

  const cases: [string, string][] = [
    ['String nodes sharing one text', sharedText],
    ['BigInt nodes sharing one text', sharedDigits],
    ['Arrays sharing one children vector', sharedArrayChildren],
    ['Sets sharing one children vector', sharedSetChildren],
    ['Maps sharing one children vector', sharedMapChildren],
    ['objects sharing one keys vector and one children vector', sharedObjectVectors],
    ['Arrays sharing one numbers vector', sharedNumbers],
    ['sparse Arrays sharing one (index, node) pairs vector', sharedSparsePairs],
    ['objects with lone-surrogate keys sharing one (key, value) pairs vector', sharedEntryPairs],
    ['ArrayBuffers sharing one segment (each a copy)', sharedSegment(Kind.ArrayBuffer)],
    ['Uint8Arrays sharing one small segment (each a read in mmap mode)', sharedSegment(Kind.TypedArray, 1)],
    ['Buffers sharing one segment', sharedSegment(Kind.Buffer)],
    ['lone-surrogate strings sharing one UTF-16 segment', sharedSegment(Kind.StringUtf16)],
  ];
  for (const [name, file] of cases) {
    it.each(MODES)(`${name} (%s)`, (_mode, options) => expectRefused(file, options));
  }

  it('the reviewer\'s bomb (2000 String nodes sharing a 100 KB text) fails at once, well inside a small heap', () => {
    const builder = new Builder(1024);
    const text = builder.createString('x'.repeat(100_000));
    const node = addNode(builder, { kind: Kind.String, text });
    const root = addNode(builder, { kind: Kind.Array, children: u32Vector(builder, Array.from({ length: 2000 }, (_, i) => i + 1)) });
    const nodes = offsetVector(builder, [root, ...Array<number>(2000).fill(node)]);
    builder.startObject(3);
    builder.addFieldOffset(1, nodes, 0);
    builder.finish(builder.endObject());
    const manifest = builder.asUint8Array();
    const file = path.join(dir, 'bomb.larder');
    const header = encodeHeader({ compression: 'none', manifestLength: manifest.length, payloadLength: manifest.length, storedLength: manifest.length, manifestChecksum: checksum(manifest) });
    fs.writeFileSync(file, Buffer.concat([header, manifest]));
    for (const [, options] of MODES) expectRefused(file, options);
  });
});

describe('decode budget: what the writer shares still loads', () => {
  it('20 000 objects sharing one 2000-character key load (keys are decoded once per string, not once per object)', () => {
    const key = 'k'.repeat(2000);
    const rows = Array.from({ length: 20_000 }, (_, i) => ({ [key]: i }));
    const file = path.join(dir, 'keys.larder');
    dumpSync(rows, file);
    // Decoding the key per object would be 40 MB of text from a file of about 1 MB.
    expect(fs.statSync(file).size).toBeLessThan(2_000_000);
    for (const [, options] of MODES) {
      const back = loadSync<Record<string, number>[]>(file, options);
      expect(back.length).toBe(20_000);
      expect(back[19_999]![key]).toBe(19_999);
    }
  });

  it('one typed array referenced many times is one node, so it is charged once', () => {
    const shared = new Float64Array(100_000).fill(0.5);
    const file = path.join(dir, 'same-array.larder');
    dumpSync(Array<Float64Array>(10_000).fill(shared), file);
    for (const [, options] of [...MODES, ['mmap, all read', { mmap: 'r', mmapThreshold: Number.MAX_SAFE_INTEGER }] as [string, LoadOptions]]) {
      const back = loadSync<Float64Array[]>(file, options);
      expect(back[0]).toBe(back[9_999]);
    }
  });
});
