/**
 * load(..., { mmap: 'r' }): reads the header and the manifest only (one or
 * two positioned reads), checks the manifest and the segment table, and
 * decodes; typed arrays of at least `mmapThreshold` bytes become MappedArrays
 * over the open file, smaller segments are read one by one. The cost is O(1)
 * in the size of the arrays. A compressed file cannot be read in place, so it
 * is loaded eagerly instead.
 */
import fs from 'node:fs';
import { decode } from './decode.js';
import { dataStart, decodeHeader, HEADER_SIZE } from './header.js';
import { readAllSync } from './io.js';
import { allocate, asFormatError, decodeFile } from './decode-file.js';
import { ManifestReader } from './manifest.js';
import { MappedArray } from './mapped-array.js';
import { MappedFile } from './mapped-file.js';
import type { ResolvedLoadOptions } from './options.js';
import { checkSegmentLayout, verifyManifest, verifySegment } from './segments.js';

/** The first read takes this much, which holds the header and most manifests. */
const FIRST_READ = 4096;

/**
 * Root value of an mmap load → the file its MappedArrays share, so
 * closeLoaded() finds the file in O(1) instead of walking a value that may
 * be huge or deeply nested. Weak: the entry lives as long as the root does.
 */
const filesByRoot = new WeakMap<object, MappedFile>();

export function loadMappedSync(path: string, options: ResolvedLoadOptions): unknown {
  const fd = fs.openSync(path, 'r');
  let file: MappedFile | undefined;
  let mappedArrays = 0;
  let failed = false;
  try {
    const size = fs.fstatSync(fd).size;
    const first = new Uint8Array(Math.min(size, FIRST_READ));
    readAllSync(fd, first, 0);
    const header = decodeHeader(first, size);
    if (header.compression !== 'none') {
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
    const opened = new MappedFile(fd, path, options.verify);
    file = opened;
    const value = decode(reader, {
      bytes(index) {
        const entry = entries[index]!;
        const bytes = allocate(entry.length, options.shared);
        opened.read(bytes, base + entry.offset);
        if (options.verify) verifySegment(bytes, entry, index);
        return bytes;
      },
      mapped(index, type) {
        const entry = entries[index]!;
        if (entry.length < options.mmapThreshold || entry.length === 0) return undefined;
        mappedArrays++;
        return new MappedArray(opened, type, base + entry.offset, entry.length / type.BYTES_PER_ELEMENT, entry.checksum);
      },
    }, header.version);
    if (mappedArrays > 0 && typeof value === 'object' && value !== null) filesByRoot.set(value, opened);
    return value;
  } catch (error) {
    failed = true;
    throw asFormatError(error, path);
  } finally {
    // The descriptor stays open only for the MappedArrays that read through it.
    if (mappedArrays === 0 || failed) {
      if (file === undefined) fs.closeSync(fd);
      else file.close();
    }
  }
}

/**
 * Closes the file behind a value returned by `load(path, { mmap: 'r' })` or
 * `loadSync(path, { mmap: 'r' })`: every MappedArray of that load stops
 * working, as after `close()` on any one of them. O(1): it does not walk the
 * value. Anything else (a value that holds no MappedArrays, a part of a
 * loaded value rather than the value itself, a primitive) is left alone, and
 * closing twice is fine.
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
