/**
 * Writing and reading the FlatBuffers manifest (schema: ../schema/manifest.fbs).
 *
 * Writing uses the flatbuffers runtime's Builder. Reading does not use the
 * runtime: FlatBuffers in JavaScript has no verifier, and its accessors trust
 * every offset. {@link ManifestReader} instead checks each table, vtable,
 * vector and string against the manifest's bounds before touching it, so a
 * hostile manifest is a FormatError, never an out-of-range read or a huge
 * allocation (a vector can never claim more elements than its bytes hold).
 */
import { createRequire } from 'node:module';
import type { Builder } from 'flatbuffers';
import { check, FormatError } from './errors.js';

let BuilderClass: typeof Builder | undefined;
/** The Builder small manifests reuse (see {@link builderFor}). */
let reusable: Builder | undefined;
/** Manifests estimated up to this size reuse one Builder; one grown past {@link REUSE_KEEP} is dropped after use. */
const REUSE_UP_TO = 16 * 1024;
const REUSE_KEEP = 64 * 1024;

/**
 * A flatbuffers Builder; the runtime is required on the first write, so a process that only
 * reads (hits, `larder ls`) never loads it. Small manifests (a cache miss's) reuse one cleared
 * Builder: a new one allocates its buffer and a TextDecoder, a fair share of a small write.
 * buildManifest runs to its end without calling out, so the one Builder is never in use twice.
 */
function builderFor(size: number): Builder {
  BuilderClass ??= (createRequire(import.meta.url)('flatbuffers') as typeof import('flatbuffers')).Builder;
  if (size > REUSE_UP_TO) return new BuilderClass(size);
  reusable ??= new BuilderClass(REUSE_UP_TO);
  reusable.clear();
  return reusable;
}

/** Node kinds. Part of the format: never renumber. */
export const Kind = {
  Undefined: 0, Null: 1, False: 2, True: 3, Number: 4, BigInt: 5, String: 6, StringUtf16: 7, Date: 8,
  Array: 9, Object: 10, Map: 11, Set: 12, ArrayBuffer: 13, TypedArray: 14, DataView: 15, Buffer: 16,
  // Format version 2:
  ObjectEntries: 17, SparseArray: 18,
} as const;
export type KindCode = (typeof Kind)[keyof typeof Kind];

/**
 * Kinds a file of each format version may use. A writer stamps version 2 only
 * on a file that uses a version-2 kind, so every other file stays readable by
 * version-1 readers; a version-1 file using a newer kind is not canonical.
 */
export function kindCount(version: number): number {
  return version >= 2 ? 19 : 17;
}

/** The lowest format version that can hold these nodes. */
export function versionFor(nodes: readonly PlanNode[]): number {
  for (const node of nodes) if (node.kind >= kindCount(1)) return 2;
  return 1;
}

/** A child index meaning "hole" in a sparse array. */
export const HOLE = 0xffffffff;

/** One node as the encoder plans it. Only the fields its kind uses are set. */
export interface PlanNode {
  kind: KindCode;
  number?: number;
  text?: string;
  /** Node indices; typed for arrays, whose slot count is known up front (a JS array of 1e8 numbers would not fit). */
  children?: number[] | Uint32Array;
  keys?: string[];
  numbers?: number[];
  segment?: number;
  element?: number;
}

/** A raw segment: offset relative to the data region, length and xxh64 of its bytes. */
export interface SegmentEntry {
  offset: number;
  length: number;
  checksum: bigint;
}

const SEGMENT_STRUCT_SIZE = 24;

/** Builds the manifest bytes. */
export function buildManifest(root: number, nodes: readonly PlanNode[], segments: readonly SegmentEntry[]): Uint8Array {
  const builder = builderFor(256 + nodes.length * 32);
  const nodeOffsets = new Array<number>(nodes.length);
  // Key strings are written once each and shared by every object using them. Not the runtime's
  // createSharedString: it returns the null offset 0 for '', which made `{ '': 1 }` unreadable.
  const keyOffsets = new Map<string, number>();
  const keyOffset = (key: string): number => {
    let offset = keyOffsets.get(key);
    if (offset === undefined) {
      offset = builder.createString(utf8(key));
      keyOffsets.set(key, offset);
    }
    return offset;
  };
  for (let n = 0; n < nodes.length; n++) {
    const node = nodes[n]!;
    const text = node.text === undefined ? 0 : builder.createString(utf8(node.text));
    const keys = node.keys === undefined ? 0 : offsetVector(builder, node.keys.map(keyOffset));
    let children = 0;
    if (node.children !== undefined) {
      builder.startVector(4, node.children.length, 4);
      for (let i = node.children.length - 1; i >= 0; i--) builder.addInt32(node.children[i]!);
      children = builder.endVector();
    }
    let numbers = 0;
    if (node.numbers !== undefined) {
      builder.startVector(8, node.numbers.length, 8);
      for (let i = node.numbers.length - 1; i >= 0; i--) builder.addFloat64(node.numbers[i]!);
      numbers = builder.endVector();
    }
    builder.startObject(8);
    // A null default forces the field out even for 0, because -0 == 0 would drop -0.
    if (node.number !== undefined) builder.addFieldFloat64(1, node.number, null);
    builder.addFieldOffset(2, text, 0);
    builder.addFieldOffset(3, children, 0);
    builder.addFieldOffset(4, keys, 0);
    builder.addFieldOffset(5, numbers, 0);
    builder.addFieldInt32(6, node.segment ?? 0, 0);
    builder.addFieldInt8(0, node.kind, 0);
    builder.addFieldInt8(7, node.element ?? 0, 0);
    nodeOffsets[n] = builder.endObject();
  }
  const nodesVector = offsetVector(builder, nodeOffsets);
  builder.startVector(SEGMENT_STRUCT_SIZE, segments.length, 8);
  for (let i = segments.length - 1; i >= 0; i--) {
    const segment = segments[i]!;
    builder.prep(8, SEGMENT_STRUCT_SIZE);
    builder.writeInt64(segment.checksum);
    builder.writeInt64(BigInt(segment.length));
    builder.writeInt64(BigInt(segment.offset));
  }
  const segmentsVector = builder.endVector();
  builder.startObject(3);
  builder.addFieldOffset(1, nodesVector, 0);
  builder.addFieldOffset(2, segmentsVector, 0);
  builder.addFieldInt32(0, root, 0);
  builder.finish(builder.endObject());
  if (builder !== reusable) return builder.asUint8Array();
  // A copy: the reused Builder's bytes are overwritten by the next manifest.
  const bytes = builder.asUint8Array().slice();
  if (builder.dataBuffer().capacity() > REUSE_KEEP) reusable = undefined;
  return bytes;
}

const textEncoder = new TextEncoder();
/** Strings up to this long are tried as ASCII first (see {@link utf8}). */
const SHORT_TEXT = 64;

/**
 * The UTF-8 bytes of a manifest string, as the runtime's TextEncoder gives them. A short
 * ASCII string (an object key, a function name: most strings of a small value) is copied
 * char by char: for those TextEncoder's native call cost more than the whole rest of a
 * small manifest (measured: a cache entry's envelope took 23 µs to build, 55% of it in
 * TextEncoder). Anything else, lone surrogates included, goes through TextEncoder.
 */
function utf8(text: string): Uint8Array {
  if (text.length > SHORT_TEXT) return textEncoder.encode(text);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x80) return textEncoder.encode(text);
    bytes[i] = code;
  }
  return bytes;
}

function offsetVector(builder: Builder, offsets: number[]): number {
  builder.startVector(4, offsets.length, 4);
  for (let i = offsets.length - 1; i >= 0; i--) builder.addOffset(offsets[i]!);
  return builder.endVector();
}

/** Where a vector's elements start in the manifest, and how many there are. */
export interface VectorRef {
  start: number;
  length: number;
}

/** The fields of one node, read and bounds-checked. */
export interface NodeFields {
  kind: number;
  number: number;
  text: VectorRef | undefined;
  children: VectorRef | undefined;
  keys: VectorRef | undefined;
  numbers: VectorRef | undefined;
  segment: number;
  element: number;
}

/**
 * A bounds-checked reader over manifest bytes. Its checks run per node, per
 * field and per child, so they are written `if (!ok) throw`: a message is only
 * built for a file that fails, never for the (nearly always) passing case.
 */
export class ManifestReader {
  readonly bytes: Uint8Array;
  readonly root: number;
  readonly nodes: VectorRef;
  readonly segments: SegmentEntry[];
  private readonly view: DataView;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    check(bytes.length >= 8, 'the manifest is too short');
    const table = this.table(this.u32(0), -1);
    this.root = this.scalarU32(table, 0);
    this.nodes = this.vector(table, 1, 4) ?? { start: 0, length: 0 };
    const segments = this.vector(table, 2, SEGMENT_STRUCT_SIZE) ?? { start: 0, length: 0 };
    this.segments = new Array<SegmentEntry>(segments.length);
    for (let i = 0; i < segments.length; i++) {
      const at = segments.start + i * SEGMENT_STRUCT_SIZE;
      this.segments[i] = { offset: this.u64(at), length: this.u64(at + 8), checksum: this.view.getBigUint64(at + 16, true) };
    }
    check(this.root < this.nodes.length, `the root node ${this.root} is not among the ${this.nodes.length} nodes`);
  }

  /** Reads node `index` (already checked to be < nodes.length by the caller's loop). */
  node(index: number): NodeFields {
    const slot = this.nodes.start + index * 4;
    const table = this.table(slot + this.u32(slot), index);
    const numberAt = this.field(table, 1, 8);
    return {
      kind: this.scalarU8(table, 0),
      number: numberAt === 0 ? 0 : this.view.getFloat64(numberAt, true),
      text: this.vector(table, 2, 1),
      children: this.vector(table, 3, 4),
      keys: this.vector(table, 4, 4),
      numbers: this.vector(table, 5, 8),
      segment: this.scalarU32(table, 6),
      element: this.scalarU8(table, 7),
    };
  }

  u32(at: number): number {
    if (!(at >= 0 && at + 4 <= this.bytes.length)) throw new FormatError(`manifest offset ${at} is outside the manifest`);
    return this.view.getUint32(at, true);
  }

  f64(at: number): number {
    return this.view.getFloat64(at, true);
  }

  /** The string whose offset slot is at `slot` (an element of a vector of strings). */
  stringAt(slot: number): VectorRef {
    return this.vectorAt(slot + this.u32(slot), 1);
  }

  private u64(at: number): number {
    const value = this.view.getBigUint64(at, true);
    if (value > MAX_SAFE) throw new FormatError(`segment field ${value} is out of range`);
    return Number(value);
  }

  /** Checks a table and its vtable: the root table (`node` -1) or node `node`'s. */
  private table(at: number, node: number): TableRef {
    if (!(at >= 0 && at + 4 <= this.bytes.length)) throw tableError(node, `table offset ${at} is outside the manifest`);
    const vtable = at - this.view.getInt32(at, true);
    if (!(vtable >= 0 && vtable + 4 <= this.bytes.length)) throw tableError(node, 'vtable is outside the manifest');
    const vtableSize = this.view.getUint16(vtable, true);
    const tableSize = this.view.getUint16(vtable + 2, true);
    if (!(vtableSize >= 4 && vtableSize % 2 === 0 && vtable + vtableSize <= this.bytes.length)) throw tableError(node, 'vtable is malformed');
    if (!(tableSize >= 4 && at + tableSize <= this.bytes.length)) throw tableError(node, 'table runs past the manifest');
    return { at, vtable, vtableSize, tableSize };
  }

  /** Absolute position of field `index` with `size` bytes, or 0 when absent. */
  private field(table: TableRef, index: number, size: number): number {
    const slot = 4 + index * 2;
    if (slot >= table.vtableSize) return 0;
    const offset = this.view.getUint16(table.vtable + slot, true);
    if (offset === 0) return 0;
    if (!(offset >= 4 && offset + size <= table.tableSize)) throw new FormatError(`field ${index} lies outside its table`);
    return table.at + offset;
  }

  private scalarU8(table: TableRef, index: number): number {
    const at = this.field(table, index, 1);
    return at === 0 ? 0 : this.view.getUint8(at);
  }

  private scalarU32(table: TableRef, index: number): number {
    const at = this.field(table, index, 4);
    return at === 0 ? 0 : this.view.getUint32(at, true);
  }

  private vector(table: TableRef, index: number, elementSize: number): VectorRef | undefined {
    const at = this.field(table, index, 4);
    return at === 0 ? undefined : this.vectorAt(at + this.view.getUint32(at, true), elementSize);
  }

  private vectorAt(at: number, elementSize: number): VectorRef {
    const length = this.u32(at);
    const start = at + 4;
    // The element count is only trusted once its bytes are known to be inside the manifest.
    if (length * elementSize > this.bytes.length - start) throw new FormatError(`a vector of ${length} elements runs past the manifest`);
    return { start, length };
  }
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** The error for a bad table, naming it only now that it failed. */
function tableError(node: number, problem: string): FormatError {
  return new FormatError(`${node < 0 ? 'manifest' : `node ${node}`} ${problem}`);
}

interface TableRef {
  at: number;
  vtable: number;
  vtableSize: number;
  tableSize: number;
}
