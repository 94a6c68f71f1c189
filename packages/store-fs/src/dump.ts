/**
 * dump and dumpSync: value → encode (plan) → segment layout and checksums →
 * manifest → header → atomic write. Encoding happens before any file is
 * opened, so an unsupported value throws with nothing written.
 */
import fs from 'node:fs';
import { writeAtomic, writeAtomicSync, type WriteAtomicOptions } from './atomic-write.js';
import { checksum, streamingChecksum } from './checksum.js';
import { assertCompressionAvailable, compress, compressSync } from './compression.js';
import { encode, type Plan } from './encode.js';
import { checkPath } from './errors.js';
import { alignUp, encodeHeader, HEADER_SIZE } from './header.js';
import { writeAll, writeAllSync } from './io.js';
import { buildManifest, versionFor, type SegmentEntry } from './manifest.js';
import { resolveDumpOptions, type CompressionName, type DumpOptions, type ResolvedDumpOptions } from './options.js';

/**
 * What a dump wrote.
 *
 * @example
 * ```ts
 * import { dump } from '@larder/store-fs';
 * const info = await dump(new Float64Array(10), '/tmp/a.larder');
 * console.log(info.bytes, info.segments); // 320 1
 * ```
 */
export interface DumpInfo {
  /** The file written. */
  path: string;
  /** Its size on disk. */
  bytes: number;
  /** Size of the payload before compression (equal to bytes - 64 without compression). */
  payloadBytes: number;
  /** Number of raw segments (typed arrays, Buffers, ArrayBuffers, DataViews...). */
  segments: number;
  /** The compression method used. */
  compression: CompressionName | 'none';
}

/** Files up to this size are assembled in memory and written with one call. */
const ONE_WRITE_LIMIT = 4 * 1024 * 1024;
/** Large segments are hashed and written in pieces of this size (a multiple of the 2 MiB huge page), so hashing overlaps writing. */
const PIECE = 4 * 1024 * 1024;

interface Layout {
  entries: SegmentEntry[];
  /** Payload bytes: manifest, padding, data region. */
  payloadLength: number;
  manifest: Uint8Array;
  dataStart: number;
}

/** Offsets of each segment in the data region: each starts at the next multiple of 64. */
function layoutSegments(plan: Plan, withChecksums: boolean): SegmentEntry[] {
  let end = 0;
  return plan.segments.map((bytes) => {
    const offset = alignUp(end);
    end = offset + bytes.length;
    return { offset, length: bytes.length, checksum: withChecksums ? checksum(bytes) : 0n };
  });
}

function layout(plan: Plan, entries: SegmentEntry[]): Layout {
  const manifest = buildManifest(plan.root, plan.nodes, entries);
  const dataStart = alignUp(manifest.length);
  const last = entries.at(-1);
  const payloadLength = last === undefined ? manifest.length : dataStart + last.offset + last.length;
  return { entries, payloadLength, manifest, dataStart };
}

/** The whole file in one buffer (header space first), padding zeroed. */
function assemble(plan: Plan, { entries, payloadLength, manifest, dataStart }: Layout): Uint8Array {
  const file = new Uint8Array(HEADER_SIZE + payloadLength);
  file.set(manifest, HEADER_SIZE);
  for (let i = 0; i < entries.length; i++) file.set(plan.segments[i]!, HEADER_SIZE + dataStart + entries[i]!.offset);
  return file;
}

function header(options: ResolvedDumpOptions, plan: Plan, { manifest, payloadLength }: Layout, storedLength: number): Uint8Array {
  return encodeHeader({
    version: versionFor(plan.nodes),
    compression: options.compression?.method ?? 'none',
    manifestLength: manifest.length,
    payloadLength,
    storedLength,
    manifestChecksum: checksum(manifest),
  });
}

function info(path: string, options: ResolvedDumpOptions, plan: Plan, payloadLength: number, storedLength: number): DumpInfo {
  return {
    path,
    bytes: HEADER_SIZE + storedLength,
    payloadBytes: payloadLength,
    segments: plan.segments.length,
    compression: options.compression?.method ?? 'none',
  };
}

function prepare(value: unknown, options: DumpOptions | undefined): { resolved: ResolvedDumpOptions; plan: Plan } {
  const resolved = resolveDumpOptions(options);
  if (resolved.compression !== undefined) assertCompressionAvailable(resolved.compression.method);
  return { resolved, plan: encode(value) };
}

/**
 * Writes `value` to `path` atomically and synchronously. Throws
 * UnsupportedValueError (before touching the disk) for values it cannot store.
 *
 * @example
 * ```ts
 * import { dumpSync, loadSync } from '@larder/store-fs';
 * dumpSync({ name: 'run 1', losses: new Float32Array([0.5, 0.25]) }, '/tmp/run.larder');
 * console.log(loadSync('/tmp/run.larder'));
 * ```
 */
export function dumpSync(value: unknown, path: string, options?: DumpOptions): DumpInfo {
  checkPath(path);
  return dumpFileSync(value, path, options, { makeDirs: false })!;
}

/** Where and how a dump places its file: the folder store's lazily made folders and put-if-absent. */
export interface Placement extends Omit<WriteAtomicOptions, 'fsync'> {
  /**
   * dumpFile writes a file whose payload is at most this many bytes
   * synchronously: for a small file the thread-pool round trips of async I/O
   * (open, write, close, rename) cost more than the write itself.
   */
  syncUpTo?: number;
}

/** dumpSync with a placement; undefined when `exclusive` and the file already existed, or `placeIf` said no (nothing written). */
export function dumpFileSync(value: unknown, path: string, options: DumpOptions | undefined, placement: Placement): DumpInfo | undefined {
  const { resolved, plan } = prepare(value, options);
  return writeShapeSync(resolved, plan, layout(plan, layoutSegments(plan, true)), path, placement);
}

function writeShapeSync(resolved: ResolvedDumpOptions, plan: Plan, shape: Layout, path: string, placement: Placement): DumpInfo | undefined {
  if (resolved.compression !== undefined) {
    const { method, level } = resolved.compression;
    const stored = compressSync(method, level, assemble(plan, shape).subarray(HEADER_SIZE));
    const head = header(resolved, plan, shape, stored.length);
    const placed = writeAtomicSync(path, (fd) => {
      writeAllSync(fd, head, 0);
      writeAllSync(fd, stored, HEADER_SIZE);
    }, { fsync: resolved.fsync, ...placement });
    return placed ? info(path, resolved, plan, shape.payloadLength, stored.length) : undefined;
  }
  const head = header(resolved, plan, shape, shape.payloadLength);
  let placed: boolean;
  if (HEADER_SIZE + shape.payloadLength <= ONE_WRITE_LIMIT) {
    const file = assemble(plan, shape);
    file.set(head, 0);
    placed = writeAtomicSync(path, (fd) => writeAllSync(fd, file, 0), { fsync: resolved.fsync, ...placement });
  } else {
    placed = writeAtomicSync(path, (fd) => {
      // Sizing the file first leaves the padding between segments as zeros without writing them.
      fs.ftruncateSync(fd, HEADER_SIZE + shape.payloadLength);
      writeAllSync(fd, concat(head, shape.manifest), 0);
      const base = HEADER_SIZE + shape.dataStart;
      for (let i = 0; i < shape.entries.length; i++) writeAllSync(fd, plan.segments[i]!, base + shape.entries[i]!.offset);
    }, { fsync: resolved.fsync, ...placement });
  }
  return placed ? info(path, resolved, plan, shape.payloadLength, shape.payloadLength) : undefined;
}

/**
 * Writes `value` to `path` atomically. Large typed arrays are hashed piece by
 * piece while the previous piece is being written, so the checksums cost
 * little on top of the write itself.
 *
 * @example
 * ```ts
 * import { dump } from '@larder/store-fs';
 * const info = await dump({ x: new Float64Array(1e6) }, '/tmp/x.larder', { compress: 'gzip' });
 * console.log(`${info.bytes} bytes`);
 * ```
 */
export function dump(value: unknown, path: string, options?: DumpOptions): Promise<DumpInfo> {
  try {
    checkPath(path);
  } catch (error) {
    return Promise.reject(error);
  }
  return dumpFile(value, path, options, { makeDirs: false }) as Promise<DumpInfo>;
}

/** dump with a placement; undefined when `exclusive` and the file already existed, or `placeIf` said no (nothing written). */
export async function dumpFile(value: unknown, path: string, options: DumpOptions | undefined, { syncUpTo, ...placement }: Placement): Promise<DumpInfo | undefined> {
  const { resolved, plan } = prepare(value, options);
  const total = plan.segments.reduce((sum, bytes) => sum + bytes.length, 0);
  if (syncUpTo !== undefined && total <= syncUpTo) {
    const shape = layout(plan, layoutSegments(plan, true));
    if (shape.payloadLength <= syncUpTo) return writeShapeSync(resolved, plan, shape, path, placement);
  }
  if (resolved.compression !== undefined) {
    const shape = layout(plan, layoutSegments(plan, true));
    const { method, level } = resolved.compression;
    const stored = await compress(method, level, assemble(plan, shape).subarray(HEADER_SIZE));
    const head = header(resolved, plan, shape, stored.length);
    const placed = await writeAtomic(path, async (handle) => {
      await writeAll(handle, head, 0);
      await writeAll(handle, stored, HEADER_SIZE);
    }, { fsync: resolved.fsync, ...placement });
    return placed ? info(path, resolved, plan, shape.payloadLength, stored.length) : undefined;
  }
  if (total <= ONE_WRITE_LIMIT) {
    const shape = layout(plan, layoutSegments(plan, true));
    const file = assemble(plan, shape);
    file.set(header(resolved, plan, shape, shape.payloadLength), 0);
    const placed = await writeAtomic(path, (handle) => writeAll(handle, file, 0), { fsync: resolved.fsync, ...placement });
    return placed ? info(path, resolved, plan, shape.payloadLength, shape.payloadLength) : undefined;
  }
  // The manifest's size does not depend on checksum values (fixed-size structs), so the layout
  // is known before hashing; the manifest is rebuilt with the real checksums and written last.
  const entries = layoutSegments(plan, false);
  const { dataStart, payloadLength } = layout(plan, entries);
  const placed = await writeAtomic(path, async (handle) => {
    await handle.truncate(HEADER_SIZE + payloadLength);
    let inFlight: Promise<void> = Promise.resolve();
    for (let i = 0; i < entries.length; i++) {
      const bytes = plan.segments[i]!;
      const hasher = streamingChecksum();
      const base = HEADER_SIZE + dataStart + entries[i]!.offset;
      // Pieces end at multiples of PIECE in the file, so every write after a segment's first starts on a
      // huge-page boundary: the page cache then keeps the segment in 2 MiB folios, which a mapping of the
      // file maps 2 MiB per fault (pieces that straddle boundaries left half of them in small folios:
      // 1,700 faults to read 80 MB mapped instead of 370).
      for (let start = 0; start < bytes.length; ) {
        const end = Math.min(bytes.length, start + PIECE - ((base + start) % PIECE));
        const piece = bytes.subarray(start, end);
        hasher.update(piece);
        await inFlight;
        inFlight = writeAll(handle, piece, base + start);
        start = end;
      }
      entries[i]!.checksum = hasher.digest();
    }
    await inFlight;
    const shape = layout(plan, entries);
    await writeAll(handle, concat(header(resolved, plan, shape, payloadLength), shape.manifest), 0);
  }, { fsync: resolved.fsync, ...placement });
  return placed ? info(path, resolved, plan, payloadLength, payloadLength) : undefined;
}

/** What {@link dumpToBytes} gives: the file a dump would write, and what it holds. */
export interface DumpedBytes extends Omit<DumpInfo, 'path'> {
  /** The whole file: header, manifest, segments (or the compressed payload). */
  file: Uint8Array;
}

/**
 * The file `dump` would write, assembled in memory, for stores that upload
 * it whole (S3): the same checksums, layout and compression as a dump.
 */
export async function dumpToBytes(value: unknown, options: DumpOptions | undefined): Promise<DumpedBytes> {
  const { resolved, plan } = prepare(value, options);
  const shape = layout(plan, layoutSegments(plan, true));
  const assembled = assemble(plan, shape);
  let file = assembled;
  if (resolved.compression !== undefined) {
    const { method, level } = resolved.compression;
    const stored = await compress(method, level, assembled.subarray(HEADER_SIZE));
    file = concat(header(resolved, plan, shape, stored.length), stored);
  } else {
    file.set(header(resolved, plan, shape, shape.payloadLength), 0);
  }
  const { path: _, ...described } = info('', resolved, plan, shape.payloadLength, file.length - HEADER_SIZE);
  return { file, ...described };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
