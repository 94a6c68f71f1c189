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
 * once every receiver has mapped it, in the thread that opened it: Node
 * closes the raw descriptors a worker thread still holds when it exits, and
 * one closed by another thread stays on its list (to be closed under the
 * number's next owner).
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

/** Options of {@link mapReference}. */
export interface MapReferenceOptions {
  /**
   * Return a new view over a mapping of the same bytes that this thread made
   * earlier with `reuse` and still holds, when no page under that earlier
   * view was written, instead of mapping the file again. The new view reads
   * the same pages: a write through either one shows in the other (both are
   * still this process's copy-on-write pages, never the file). For a
   * receiver that hands each view to one task at a time (@larder/parallel's
   * workers): V8 starts a garbage collection for every new ArrayBuffer of
   * more than 64 MiB, which costs far more than the mapping itself.
   * @default false
   */
  reuse?: boolean;
}

/**
 * Mappings made with `reuse`, by file, position, length and kind: the buffer
 * and where the bytes start in it. Weak, so a mapping is still unmapped once
 * nothing else holds it.
 */
interface Reusable {
  buffer: WeakRef<ArrayBuffer>;
  byteOffset: number;
}
const reusable = new Map<string, Reusable>();
const forget = new FinalizationRegistry<{ key: string; entry: Reusable }>(({ key, entry }) => {
  if (reusable.get(key) === entry) reusable.delete(key);
});

/**
 * A typed array over `reference`'s bytes, mapped copy-on-write from `fd`
 * (opened by {@link openReference}, in this thread or another of this
 * process). Throws LARDER_CLOSED when `fd` no longer names that file (it was
 * closed, and maybe its number reused), LARDER_MISSING_DRIVER where the addon
 * cannot load. With `reuse`, see {@link MapReferenceOptions.reuse}.
 *
 * @example
 * ```ts
 * import { dumpSync, loadSync, mappedReference, mapReference, openReference } from '@larder/store-fs';
 * dumpSync({ x: new Float64Array(1 << 20) }, '/tmp/m.larder');
 * const { x } = loadSync('/tmp/m.larder', { mmap: 'r' }) as { x: Float64Array };
 * const reference = mappedReference(x)!; // plain data: postMessage it to a worker with the descriptor
 * const fd = openReference(reference)!;
 * const again = mapReference(reference, fd); // in the worker: the same bytes, its own copy-on-write mapping
 * ```
 */
export function mapReference(reference: MappedReference, fd: number, options: MapReferenceOptions = {}): TypedArray {
  const Kind = ELEMENT_KINDS.find((kind) => kind.name === reference.type);
  if (Kind === undefined || reference.byteLength % Kind.BYTES_PER_ELEMENT !== 0 || !Number.isSafeInteger(reference.position) || reference.position < 0) {
    throw codedError(TypeError, 'LARDER_OPTION', `${PREFIX} mapReference: not a mapped reference (type ${String(reference.type)}, ${reference.byteLength} bytes at ${reference.position})`);
  }
  if (!namesFile(fd, reference)) {
    throw codedError(Error, 'LARDER_CLOSED', `${PREFIX} mapReference: descriptor ${fd} no longer names ${reference.file} as it was mapped (closed before it was mapped, or the file shrank)`);
  }
  const addon = nativeAddon();
  if (addon === undefined) throw codedError(Error, 'LARDER_MISSING_DRIVER', `${PREFIX} mapReference: the memory-map addon does not load here; send the array by value`);
  const { file, dev, ino, position, index, checksum } = reference;
  const key = `${dev}:${ino}:${position}:${reference.byteLength}:${Kind.name}`;
  const length = reference.byteLength / Kind.BYTES_PER_ELEMENT;
  let view: TypedArray | undefined;
  if (options.reuse === true) {
    const earlier = reusable.get(key);
    const buffer = earlier?.buffer.deref();
    // Only bytes whose pages all still hold the file's: what a new mapping would show. (A detached buffer has none.)
    if (buffer !== undefined && buffer.byteLength >= earlier!.byteOffset + reference.byteLength) {
      const candidate = new Kind(buffer, earlier!.byteOffset, length);
      if (addon.pristine(candidate) === true) view = candidate;
    }
  }
  if (view === undefined) {
    const start = position - (position % REGION_ALIGN);
    const buffer = addon.map(fd, start, position + reference.byteLength - start, UNCOUNT_MAPPINGS);
    view = new Kind(buffer, position - start, length);
    if (options.reuse === true) {
      const entry = { buffer: new WeakRef(buffer), byteOffset: view.byteOffset };
      reusable.set(key, entry);
      forget.register(buffer, { key, entry });
    }
  }
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
