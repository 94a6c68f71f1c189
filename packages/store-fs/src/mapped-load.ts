/**
 * load(..., { mmap: 'r' }): reads the header and the manifest only (one or
 * two positioned reads), checks the manifest and the segment table, and
 * decodes; smaller segments are read one by one, and typed arrays of at least
 * `mmapThreshold` bytes stay in the file: real typed arrays over one
 * copy-on-write mapping of it (the addon, see native.ts), or, where mapping
 * is unavailable, MappedArrays over the open file. The cost is O(1) in the
 * size of the arrays. A compressed file cannot be read in place, so it is
 * loaded eagerly instead.
 */
import { constants as bufferConstants } from 'node:buffer';
import fs from 'node:fs';
import { decode } from './decode.js';
import { dataStart, decodeHeader, HEADER_SIZE } from './header.js';
import { openForReadSync, readAllSync } from './io.js';
import { allocate, asFormatError, checkFits, checkHead, decodeFile } from './decode-file.js';
import { ManifestReader } from './manifest.js';
import { FormatError } from './errors.js';
import { MappedArray } from './mapped-array.js';
import { MappedFile } from './mapped-file.js';
import { nativeAddon, UNCOUNT_MAPPINGS, warnNoMapping } from './native.js';
import type { ResolvedLoadOptions } from './options.js';
import { checkSegmentLayout, verifyManifest, verifySegment } from './segments.js';
import type { TypedArray, TypedArrayConstructor } from './typed-arrays.js';
import { rememberSegment, verifyView } from './verify.js';

/** The first read takes this much, which holds the header and most manifests. */
const FIRST_READ = 4096;

/**
 * Where the first read lands, reused by every mapped load of this thread
 * (decoding copies what it keeps: strings, numbers; segments get buffers of
 * their own). A fresh 4 KiB buffer per load cost more than the load: V8
 * runs a young-generation collection before allocating any ArrayBuffer
 * while young ArrayBuffers hold more than twice its largest semi-space
 * (32 MiB on 64-bit Node), and mappings count there, so every load after a
 * few large mapped ones paid a scavenge.
 */
const firstRead = new Uint8Array(FIRST_READ);

/**
 * Root value of an mmap load → the file its MappedArrays share, so
 * closeLoaded() finds the file in O(1) instead of walking a value that may
 * be huge or deeply nested. Weak: the entry lives as long as the root does.
 */
const filesByRoot = new WeakMap<object, MappedFile>();

export function loadMappedSync(path: string, options: ResolvedLoadOptions): unknown {
  const fd = openForReadSync(path);
  let file: MappedFile | undefined;
  let failed = false;
  try {
    const stat = fs.fstatSync(fd, { bigint: true });
    const size = Number(stat.size);
    const first = firstRead.subarray(0, Math.min(size, FIRST_READ));
    readAllSync(fd, first, 0);
    const header = decodeHeader(first, size);
    if (header.compression !== 'none') {
      checkFits(size);
      checkHead(first, size); // a stream that is not one is refused before the file is read whole
      const whole = allocate(size, options.shared);
      readAllSync(fd, whole, 0);
      return decodeFile(whole, options);
    }
    let manifest = first.subarray(HEADER_SIZE, HEADER_SIZE + header.manifestLength);
    if (manifest.length < header.manifestLength) {
      manifest = new Uint8Array(header.manifestLength);
      readAllSync(fd, manifest, HEADER_SIZE);
    }
    verifyManifest(manifest, header);
    const reader = new ManifestReader(manifest);
    const entries = reader.segments;
    checkSegmentLayout(entries, header);
    const base = HEADER_SIZE + dataStart(header);
    // The whole file is mapped once, at the first large array; undefined until then, null where mapping is unavailable.
    let mapping: ArrayBuffer | null | undefined;
    const mapsWhole = size <= bufferConstants.MAX_LENGTH;
    const value = decode(reader, {
      bytes(index) {
        const entry = entries[index]!;
        const bytes = allocate(entry.length, options.shared);
        const got = readAllSync(fd, bytes, base + entry.offset);
        if (got !== bytes.length) throw new FormatError(`the file ended ${bytes.length - got} bytes early: it shrank while it was loaded`);
        if (options.verify) verifySegment(bytes, entry, index);
        return bytes;
      },
      mapped(index, type) {
        const entry = entries[index]!;
        if (entry.length < options.mmapThreshold || entry.length === 0) return undefined;
        const position = base + entry.offset;
        const segment = { checksum: entry.checksum, file: path, index, dev: stat.dev, ino: stat.ino, position };
        let region: { buffer: ArrayBuffer; start: number } | null;
        if (mapsWhole) {
          if (mapping === undefined) mapping = mapRegion(fd, 0, size, path);
          region = mapping && { buffer: mapping, start: 0 };
        } else {
          // A file larger than one ArrayBuffer can hold: each array that fits gets a mapping of its own.
          const start = position - (position % REGION_ALIGN);
          const buffer = position + entry.length - start <= bufferConstants.MAX_LENGTH ? mapRegion(fd, start, position + entry.length - start, path) : null;
          region = buffer && { buffer, start };
        }
        if (region !== null) {
          const view = new (type as TypedArrayConstructor<TypedArray>)(region.buffer, position - region.start, entry.length / type.BYTES_PER_ELEMENT);
          rememberSegment(view, segment);
          if (options.verifyMapped) verifyView(view, segment);
          return view;
        }
        file ??= new MappedFile(fd, path, options.verify);
        const array = new MappedArray(file, type, position, entry.length / type.BYTES_PER_ELEMENT, entry.checksum);
        if (options.verifyMapped) array.verify();
        return array;
      },
    }, header.version);
    if (file !== undefined && typeof value === 'object' && value !== null) filesByRoot.set(value, file);
    return value;
  } catch (error) {
    failed = true;
    throw asFormatError(error, path);
  } finally {
    // The descriptor stays open only for the MappedArrays that read through it; a mapping outlives it.
    if (file === undefined) fs.closeSync(fd);
    else if (failed) file.close();
  }
}

/** A mapping's file offset is a multiple of this (of the page size on every platform: 4 KiB, 16 KiB, 64 KiB). */
export const REGION_ALIGN = 65_536;

/**
 * `length` bytes of the file from `offset` as one copy-on-write mapping, or
 * null (after a one-time warning) where the addon is missing or this file
 * cannot be mapped.
 */
function mapRegion(fd: number, offset: number, length: number, path: string): ArrayBuffer | null {
  const addon = nativeAddon();
  if (addon === undefined) {
    warnNoMapping();
    return null;
  }
  try {
    return addon.map(fd, offset, length, UNCOUNT_MAPPINGS);
  } catch (error) {
    // Some file systems cannot be mapped (ENODEV), or the address space is exhausted: read instead.
    warnNoMapping(`mapping ${path} failed (${(error as Error).message})`);
    return null;
  }
}

/**
 * Closes the file behind a value returned by `load(path, { mmap: 'r' })` or
 * `loadSync(path, { mmap: 'r' })` where that load fell back to MappedArrays:
 * every MappedArray of that load stops working, as after `close()` on any one
 * of them. O(1): it does not walk the value. Anything else (a value whose
 * large arrays are real mappings, which hold no descriptor and are unmapped
 * when collected; a value that holds no MappedArrays; a part of a loaded value
 * rather than the value itself; a primitive) is left alone, and closing twice
 * is fine.
 *
 * @example
 * ```ts
 * import { dumpSync, loadSync, closeLoaded } from '@larder/store-fs';
 * dumpSync({ runs: [{ x: new Float64Array(1_000_000) }] }, '/tmp/c.larder');
 * const value = loadSync('/tmp/c.larder', { mmap: 'r' });
 * // ... read value.runs[0].x.at(0) ...
 * closeLoaded(value); // the descriptor is released now, not at garbage collection
 * ```
 */
export function closeLoaded(value: unknown): void {
  if (typeof value !== 'object' || value === null) return;
  filesByRoot.get(value)?.close();
}
