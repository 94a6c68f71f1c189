/**
 * Mapped typed arrays as file references: how @larder/parallel hands a
 * mapped array to worker threads without copying it (joblib hands its
 * workers memmaps of one file the same way). The sender takes the
 * reference of a view a mapped load returned, opens the file and checks it
 * is still the file that was mapped (larder replaces files by rename, so the
 * path may now name a newer one); the receiver maps the same bytes from that
 * descriptor. Threads share their process's descriptors, and every mapping
 * is copy-on-write: a receiver's writes change only its own pages, never the
 * sender's array or the file.
 */
import fs from 'node:fs';
import { codedError, PREFIX } from './errors.js';
import { REGION_ALIGN } from './mapped-load.js';
import { openForReadSync } from './io.js';
import { nativeAddon, UNCOUNT_MAPPINGS } from './native.js';
import { ELEMENT_KINDS, type TypedArray } from './typed-arrays.js';
import { originOf, rememberSegment } from './verify.js';

/** Where the bytes of a mapped typed array live: plain data, so structured clone can send it. */
export interface MappedReference {
  /** The file's path when it was mapped. */
  readonly file: string;
  /** The file's device and inode when it was mapped. */
  readonly dev: bigint;
  readonly ino: bigint;
  /** Where the array's bytes start in the file, and how many there are. */
  readonly position: number;
  readonly byteLength: number;
  /** The array's kind, as its constructor's name (`'Float64Array'`). */
  readonly type: string;
  /** The segment's index in the file and its stored xxh64, so `verify()` works on the receiver's array too. */
  readonly index: number;
  readonly checksum: bigint;
}

/**
 * The file reference of `view` when it is a typed array a mapped load
 * returned (`load(path, { mmap: 'r' })`, a cached function with `mmap: 'r'`,
 * or {@link mapReference}) and its bytes are still exactly the file's: no page
 * under it was written by this process (copy-on-write gave the writer its own
 * pages, which the file does not hold). Undefined otherwise, and wherever the
 * addon cannot tell (not Linux, addon missing), and for anything but a
 * typed array or DataView (a MappedArray included): send it by value.
 * O(pages) through /proc/self/pagemap, not O(bytes).
 *
 * @example
 * ```ts
 * import { dumpSync, loadSync, mappedReference } from '@larder/store-fs';
 * dumpSync({ x: new Float64Array(1 << 20) }, '/tmp/r.larder');
 * const { x } = loadSync('/tmp/r.larder', { mmap: 'r' }) as { x: Float64Array };
 * console.log(mappedReference(x)?.byteLength); // 8388608 where real maps are available
 * ```
 */
export function mappedReference(view: unknown): MappedReference | undefined {
  if (!ArrayBuffer.isView(view)) return undefined; // a MappedArray (the fallback) reads through a descriptor: no reference
  const origin = originOf(view);
  // A transferred or detached buffer has no bytes left to refer to.
  if (origin === undefined || view.byteLength === 0) return undefined;
  if (nativeAddon()?.pristine(view) !== true) return undefined;
  const { file, dev, ino, position, index, checksum } = origin;
  return { file, dev, ino, position, byteLength: view.byteLength, type: view.constructor.name, index, checksum };
}

/**
 * Opens the file `reference` names for {@link mapReference}, or returns
 * undefined when that path no longer names the same file (replaced, removed,
 * shrunk): the caller then sends the array by value. Close the descriptor
 * once every receiver has mapped it.
 */
export function openReference(reference: MappedReference): number | undefined {
  let fd: number;
  try {
    fd = openForReadSync(reference.file);
  } catch {
    return undefined;
  }
  if (namesFile(fd, reference)) return fd;
  fs.closeSync(fd);
  return undefined;
}

/**
 * A typed array over `reference`'s bytes, mapped copy-on-write from `fd`
 * (opened by {@link openReference}, in this thread or another of this
 * process). Throws LARDER_CLOSED when `fd` no longer names that file (it was
 * closed, and maybe its number reused), LARDER_MISSING_DRIVER where the addon
 * cannot load.
 */
export function mapReference(reference: MappedReference, fd: number): TypedArray {
  const Kind = ELEMENT_KINDS.find((kind) => kind.name === reference.type);
  if (Kind === undefined || reference.byteLength % Kind.BYTES_PER_ELEMENT !== 0 || !Number.isSafeInteger(reference.position) || reference.position < 0) {
    throw codedError(TypeError, 'LARDER_OPTION', `${PREFIX} mapReference: not a mapped reference (type ${String(reference.type)}, ${reference.byteLength} bytes at ${reference.position})`);
  }
  if (!namesFile(fd, reference)) {
    throw codedError(Error, 'LARDER_CLOSED', `${PREFIX} mapReference: descriptor ${fd} no longer names ${reference.file} as it was mapped (closed before it was mapped, or the file shrank)`);
  }
  const addon = nativeAddon();
  if (addon === undefined) throw codedError(Error, 'LARDER_MISSING_DRIVER', `${PREFIX} mapReference: the memory-map addon does not load here; send the array by value`);
  const start = reference.position - (reference.position % REGION_ALIGN);
  const buffer = addon.map(fd, start, reference.position + reference.byteLength - start, UNCOUNT_MAPPINGS);
  const view = new Kind(buffer, reference.position - start, reference.byteLength / Kind.BYTES_PER_ELEMENT);
  const { file, dev, ino, position, index, checksum } = reference;
  rememberSegment(view, { file, dev, ino, position, index, checksum });
  return view;
}

// The descriptor is open on the very file that was mapped, and that file still holds the referenced bytes
// (a mapping past the end of a file faults on access).
function namesFile(fd: number, reference: MappedReference): boolean {
  try {
    const stat = fs.fstatSync(fd, { bigint: true });
    return stat.dev === reference.dev && stat.ino === reference.ino && stat.size >= BigInt(reference.position + reference.byteLength);
  } catch {
    return false;
  }
}
