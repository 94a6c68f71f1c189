/**
 * load and loadSync, eager and shared: the whole file in one buffer (a
 * copy-on-write mapping of it from 1 MiB where the addon loads, else one
 * read into fresh memory; a SharedArrayBuffer with `shared`), then
 * decodeFile, which verifies every checksum. Typed arrays are views into that
 * buffer: the 64-byte header and 64-aligned segments make every view
 * correctly aligned, so nothing is copied.
 */
import { constants as bufferConstants } from 'node:buffer';
import fs from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { allocate, asFormatError, decodeFile, decodeFileAsync } from './decode-file.js';
import { checkPath } from './errors.js';
import { HEADER_SIZE } from './header.js';
import { readAll, readAllSync } from './io.js';
import { loadMappedSync } from './mapped-load.js';
import { nativeAddon, UNCOUNT_MAPPINGS } from './native.js';
import type { Mapped } from './mapped-array.js';
import { resolveLoadOptions, type LoadOptions } from './options.js';

/**
 * Reads a file written by dump/dumpSync, synchronously. Typed arrays in the
 * result are views into the one buffer read (no per-array copy).
 *
 * @example
 * ```ts
 * import { dumpSync, loadSync } from '@larder/store-fs';
 * dumpSync(new Map([['a', 1n]]), '/tmp/m.larder');
 * const map = loadSync<Map<string, bigint>>('/tmp/m.larder'); // Map { 'a' => 1n }
 * ```
 */
export function loadSync<T = unknown>(path: string, options?: LoadOptions & { mmap?: undefined }): T;
export function loadSync<T = unknown>(path: string, options?: LoadOptions): Mapped<T>;
export function loadSync<T = unknown>(path: string, options?: LoadOptions): T {
  checkPath(path);
  const resolved = resolveLoadOptions(options);
  if (resolved.mmap) return loadMappedSync(path, resolved) as T;
  const fd = fs.openSync(path, 'r');
  let file: Uint8Array;
  try {
    const size = fs.fstatSync(fd).size;
    file = (!resolved.shared && mapWhole(fd, size, readHeaderSync(fd, size))) || allocate(size, resolved.shared);
    if (!isMapping(file)) file = file.subarray(0, readAllSync(fd, file, 0));
  } finally {
    fs.closeSync(fd);
  }
  try {
    return decodeFile(file, resolved) as T;
  } catch (error) {
    throw asFormatError(error, path);
  }
}

/**
 * Reads a file written by dump/dumpSync. `{ shared: true }` puts every typed
 * array on a SharedArrayBuffer; `{ mmap: 'r' }` opens in O(1) and returns
 * large typed arrays as views on a copy-on-write mapping of the file (typed
 * {@link Mapped}: MappedArrays where mapping is unavailable).
 *
 * @example
 * ```ts
 * import { dump, load } from '@larder/store-fs';
 * await dump({ x: new Float64Array([1, 2, 3]) }, '/tmp/x.larder');
 * const { x } = await load<{ x: Float64Array }>('/tmp/x.larder', { shared: true });
 * console.log(x.buffer instanceof SharedArrayBuffer); // true
 * ```
 */
export async function load<T = unknown>(path: string, options?: LoadOptions & { mmap?: undefined }): Promise<T>;
export async function load<T = unknown>(path: string, options?: LoadOptions): Promise<Mapped<T>>;
export async function load<T = unknown>(path: string, options?: LoadOptions): Promise<T> {
  checkPath(path);
  const resolved = resolveLoadOptions(options);
  // A mapped load reads only the header and manifest; but a compressed file is inflated, which must not block.
  if (resolved.mmap && !(await isCompressed(path))) return loadMappedSync(path, resolved) as T;
  const handle = await open(path, 'r');
  let file: Uint8Array;
  try {
    const size = (await handle.stat()).size;
    const head = await readHeader(handle, size);
    // The compressed bytes are small and inflated into a buffer of their own; only a raw file is the value's buffer.
    file = (!resolved.shared && mapWhole(handle.fd, size, head)) || allocate(size, resolved.shared && !isCompressedHeader(head));
    if (!isMapping(file)) file = file.subarray(0, await readAll(handle, file, 0));
  } finally {
    await handle.close();
  }
  try {
    return (await decodeFileAsync(file, resolved)) as T;
  } catch (error) {
    throw asFormatError(error, path);
  }
}

/** The header's bytes (or fewer, for a file too short to hold one: the decode that follows says so). */
async function readHeader(handle: FileHandle, size: number): Promise<Uint8Array> {
  const head = new Uint8Array(Math.min(size, HEADER_SIZE));
  return head.subarray(0, await readAll(handle, head, 0));
}

function readHeaderSync(fd: number, size: number): Uint8Array {
  const head = new Uint8Array(Math.min(size, HEADER_SIZE));
  return head.subarray(0, readAllSync(fd, head, 0));
}

/** Byte 10 of the header: the compression code (the header itself is checked by the decode that follows). */
function isCompressedHeader(head: Uint8Array): boolean {
  return head.length === HEADER_SIZE && head[10] !== 0;
}

async function isCompressed(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    return isCompressedHeader(await readHeader(handle, (await handle.stat()).size));
  } finally {
    await handle.close();
  }
}

/** Uncompressed files from this size are mapped instead of read, where the addon loads. */
const MAP_EAGER_FROM = 1 << 20;

/** Buffers {@link mapWhole} made (their bytes are the file's already: nothing to read). */
const mappings = new WeakSet<Uint8Array>();

function isMapping(bytes: Uint8Array): boolean {
  return mappings.has(bytes);
}

/**
 * An eager load's buffer as a copy-on-write mapping of the whole file
 * rather than fresh memory filled by read(): fresh memory costs a page
 * fault per 4 KiB before a byte is copied (on this project's machines,
 * more than the read and the checksum together), while the mapping starts
 * on the page cache's pages and copies a page only when it is written. The
 * checksums are verified over the mapping as over a read buffer. Undefined
 * (read instead) for small or compressed files, files larger than one
 * buffer, and where the addon cannot load or map the file.
 */
function mapWhole(fd: number, size: number, head: Uint8Array): Uint8Array | undefined {
  if (size < MAP_EAGER_FROM || size > bufferConstants.MAX_LENGTH || isCompressedHeader(head) || head.length < HEADER_SIZE) return undefined;
  const addon = nativeAddon();
  if (addon === undefined) return undefined;
  try {
    const bytes = new Uint8Array(addon.map(fd, 0, size, UNCOUNT_MAPPINGS));
    mappings.add(bytes);
    return bytes;
  } catch {
    return undefined; // a file system that cannot be mapped: read it
  }
}
