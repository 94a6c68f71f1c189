/**
 * verify(value): the O(n) integrity pass an mmap load leaves out. A mapped
 * load checks the header, the manifest and the segments it reads at open; the
 * arrays that stay in the file are only remembered here (array → its
 * segment's stored checksum), and verify() hashes them on demand.
 */
import { checksum } from './checksum.js';
import { FormatError } from './errors.js';
import { MappedArray } from './mapped-array.js';

/** Where a mapped typed array came from. */
export interface SegmentOrigin {
  checksum: bigint;
  file: string;
  index: number;
  /** The file's identity when it was mapped: larder replaces files by rename, so the path may later name another file. */
  dev: bigint;
  ino: bigint;
  /** Where the segment's bytes start in the file. */
  position: number;
}

/** Weak: a record lives as long as its array. */
const origins = new WeakMap<ArrayBufferView, SegmentOrigin>();

export function rememberSegment(view: ArrayBufferView, origin: SegmentOrigin): void {
  origins.set(view, origin);
}

/** The origin of a typed array a mapped load (or mapReference) returned, if `view` is one. */
export function originOf(view: ArrayBufferView): SegmentOrigin | undefined {
  return origins.get(view);
}

export function verifyView(view: ArrayBufferView, origin: SegmentOrigin): void {
  if (checksum(new Uint8Array(view.buffer, view.byteOffset, view.byteLength)) !== origin.checksum) {
    throw new FormatError(`segment ${origin.index} does not match its stored checksum: the file is corrupt, or the array was changed in memory (writes to a mapped array change this process's copy)`, { file: origin.file });
  }
}

/** What {@link verify} checked. */
export interface VerifyReport {
  /** Arrays checked: mapped typed arrays and MappedArrays found in the value. */
  arrays: number;
  /** Bytes hashed. */
  bytes: number;
}

/** Arrays up to this length are walked by index; longer ones (maybe sparse: 2^32 − 1 slots) by their present keys. */
const INDEXED_WALK = 1 << 20;

/**
 * Checks every array of `value` that an `mmap: 'r'` load left in the file
 * (real mapped typed arrays and MappedArrays, however deeply nested in
 * objects, arrays, Maps and Sets) against the xxh64 checksum stored for it.
 * Throws a FormatError naming the file on the first mismatch. Other values
 * (an eager load, already verified when it was read; arrays built in memory)
 * are walked and skipped. O(bytes of the mapped arrays + nodes of the value).
 *
 * @example
 * ```ts
 * import { dumpSync, loadSync, verify } from '@larder/store-fs';
 * dumpSync({ x: new Float64Array(1_000_000).fill(2) }, '/tmp/v.larder');
 * const value = loadSync('/tmp/v.larder', { mmap: 'r' }); // O(1): x is not read
 * console.log(verify(value)); // { arrays: 1, bytes: 8000000 }
 * ```
 */
export function verify(value: unknown): VerifyReport {
  const report: VerifyReport = { arrays: 0, bytes: 0 };
  const seen = new Set<object>();
  const stack: unknown[] = [];
  const push = (item: unknown): void => {
    if (typeof item === 'object' && item !== null && !seen.has(item)) stack.push(item);
  };
  push(value); // a file's value may be null or undefined: nothing to check (it threw a TypeError)
  while (stack.length > 0) {
    const item = stack.pop() as object;
    if (seen.has(item)) continue;
    seen.add(item);
    if (ArrayBuffer.isView(item)) {
      const origin = origins.get(item);
      if (origin !== undefined) {
        verifyView(item, origin);
        report.arrays++;
        report.bytes += item.byteLength;
      }
    } else if (item instanceof MappedArray) {
      item.verify();
      report.arrays++;
      report.bytes += item.byteLength;
    } else if (Array.isArray(item)) {
      if (item.length <= INDEXED_WALK) for (let i = 0; i < item.length; i++) push(item[i]);
      else for (const key of Object.keys(item)) push(item[key as unknown as number]);
    } else if (item instanceof Map) {
      for (const [key, entry] of item) {
        push(key);
        push(entry);
      }
    } else if (item instanceof Set) {
      for (const entry of item) push(entry);
    } else if (Object.getPrototypeOf(item) === Object.prototype || Object.getPrototypeOf(item) === null) {
      for (const key of Object.keys(item)) push((item as Record<string, unknown>)[key]);
    }
  }
  return report;
}
