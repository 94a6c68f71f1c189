/**
 * load and loadSync, eager and shared: one read of the whole file into one
 * fresh buffer (a SharedArrayBuffer with `shared`), then decodeFile. Typed
 * arrays are views into that buffer: the 64-byte header and 64-aligned
 * segments make every view correctly aligned, so nothing is copied.
 */
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { allocate, asFormatError, checkFits, checkHead, decodeFile, decodeFileAsync } from './decode-file.js';
import { checkPath } from './errors.js';
import { HEADER_SIZE, type Header } from './header.js';
import { openForRead, openForReadSync, readAll, readAllSync } from './io.js';
import { loadMappedSync } from './mapped-load.js';
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
  const fd = openForReadSync(path);
  let file: Uint8Array;
  try {
    const size = fs.fstatSync(fd).size;
    if (size < CHECK_HEAD_FROM) {
      file = allocate(size, resolved.shared);
      file = file.subarray(0, readAllSync(fd, file, 0));
    } else {
      checkFits(size);
      const head = new Uint8Array(HEAD_BYTES);
      const got = readAllSync(fd, head, 0);
      const header = checkedHead(head.subarray(0, got), size, path);
      file = allocate(size, resolved.shared && header.compression === 'none');
      file.set(head.subarray(0, got));
      file = file.subarray(0, got + readAllSync(fd, file.subarray(got), got));
    }
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
  const handle = await openForRead(path);
  let file: Uint8Array;
  try {
    const size = (await handle.stat()).size;
    if (size < CHECK_HEAD_FROM) {
      // The compressed bytes are small and inflated into a buffer of their own; only a raw file is the value's buffer.
      file = allocate(size, resolved.shared && !(await isCompressedHandle(handle, size)));
      file = file.subarray(0, await readAll(handle, file, 0));
    } else {
      checkFits(size);
      const head = new Uint8Array(HEAD_BYTES);
      const got = await readAll(handle, head, 0);
      const header = checkedHead(head.subarray(0, got), size, path);
      file = allocate(size, resolved.shared && header.compression === 'none');
      file.set(head.subarray(0, got));
      file = file.subarray(0, got + (await readAll(handle, file.subarray(got), got)));
    }
  } finally {
    await handle.close();
  }
  try {
    return (await decodeFileAsync(file, resolved)) as T;
  } catch (error) {
    throw asFormatError(error, path);
  }
}

/**
 * From this size an eager load reads the file's head first and checks it
 * before allocating a buffer of the file's size: a large file that is not
 * ours (a sparse file of gigabytes, a disk image, a file with a forged header)
 * is then refused after one small read, not after a read of gigabytes into
 * fresh memory (measured before: a 2 GB sparse file cost 4 GB of memory and
 * 30-55 s before its FormatError). Below it, one read of the whole file stays
 * the cheapest way, and the decode checks the same things right after.
 */
const CHECK_HEAD_FROM = 1 << 20;
/** The head read: the header and, for most files, the whole manifest. */
const HEAD_BYTES = 64 * 1024;

/** {@link checkHead}, its FormatError naming the file. */
function checkedHead(head: Uint8Array, size: number, path: string): Header {
  try {
    return checkHead(head, size);
  } catch (error) {
    throw asFormatError(error, path);
  }
}

/** Byte 10 of the header: the compression code (the header itself is checked by the decode that follows). */
async function isCompressedHandle(handle: FileHandle, size: number): Promise<boolean> {
  if (size < HEADER_SIZE) return false;
  const head = new Uint8Array(HEADER_SIZE);
  await readAll(handle, head, 0);
  return head[10] !== 0;
}

async function isCompressed(path: string): Promise<boolean> {
  const handle = await openForRead(path);
  try {
    return await isCompressedHandle(handle, (await handle.stat()).size);
  } finally {
    await handle.close();
  }
}
