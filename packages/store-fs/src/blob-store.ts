/**
 * BlobStore: values in store-fs files under one root folder, one file per
 * key. Keys are '/'-separated names that map to subfolders. Writes are
 * atomic (temp file + rename in the same folder), so concurrent readers in
 * other processes see a whole old value or a whole new one.
 */
import fs from 'node:fs';
import { lstat, readdir, rm, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { TEMP_SUFFIX } from './atomic-write.js';
import { dumpFile, dumpFileSync, type DumpInfo } from './dump.js';
import { badOption, codedError, describe } from './errors.js';
import { load, loadSync } from './load.js';
import type { Mapped } from './mapped-array.js';
import type { DumpOptions, LoadOptions } from './options.js';

/** One stored value as `list()` reports it. */
export interface BlobEntry {
  key: string;
  /** File size in bytes. */
  bytes: number;
  /** Last modification (the last put) in ms since the epoch. */
  mtimeMs: number;
}

/** Every stored file ends with this. */
const BLOB_SUFFIX = '.larder';
/** Temp files older than this are leftovers of a crashed writer; list() and sweep() remove them. */
const STALE_TEMP_MS = 15 * 60 * 1000;

const SEGMENT = /^[A-Za-z0-9._-]+$/;

/**
 * A folder of values, one store-fs file per key.
 *
 * @example
 * ```ts
 * import { BlobStore } from '@larder/store-fs';
 * const store = new BlobStore('/tmp/larder-blobs');
 * await store.put('results/run-1', { loss: new Float64Array([0.3, 0.2]) });
 * const value = await store.get<{ loss: Float64Array }>('results/run-1');
 * console.log(value.loss, await store.list('results')); // [{ key: 'results/run-1', bytes, mtimeMs }]
 * await store.delete('results/run-1');
 * ```
 */
export class BlobStore {
  /** The absolute root folder (created on the first put). */
  readonly root: string;

  constructor(root: string) {
    if (typeof root !== 'string' || root === '' || root.includes('\0')) throw badOption('root', 'a non-empty folder path string', root);
    this.root = path.resolve(root);
  }

  /** The absolute file path that holds `key`. Throws a TypeError for an invalid key. */
  pathOf(key: string): string {
    return path.join(this.root, ...checkKey(key)) + BLOB_SUFFIX;
  }

  /**
   * A function from a name to the file path of the key `<prefix>/<name>`:
   * the same path as `pathOf(prefix + '/' + name)`, but the prefix is
   * validated once here rather than on every call, and a one-segment name
   * costs one regular-expression test. For callers that compute many paths in
   * one folder on a hot path. An empty prefix is the root. Throws a TypeError
   * for an invalid prefix now, or for an invalid name when called.
   *
   * @example
   * ```ts
   * import { BlobStore } from '@larder/store-fs';
   * const store = new BlobStore('/tmp/larder-blobs');
   * const pathIn = store.pathsUnder('results/f');
   * pathIn('run-1') === store.pathOf('results/f/run-1'); // true: '/tmp/larder-blobs/results/f/run-1.larder'
   * ```
   */
  pathsUnder(prefix: string): (name: string) => string {
    const folder = prefix === '' ? this.root : path.join(this.root, ...checkKey(prefix, 'prefix'));
    const start = folder.endsWith(path.sep) ? folder : folder + path.sep; // a root of '/' ends in one already
    return (name) => {
      // Most names are one segment: one test. Anything else goes through the full key check.
      const file = isSegment(name) ? name : checkKey(name).join(path.sep);
      return start + file + BLOB_SUFFIX;
    };
  }

  /** Stores `value` under `key`, atomically replacing any previous value. */
  async put(key: string, value: unknown, options?: DumpOptions): Promise<DumpInfo> {
    // Folders are created lazily, by the write itself: only a missing folder costs a mkdir.
    return dumpFile(value, this.pathOf(key), options, true);
  }

  /** Synchronous {@link BlobStore.put}. */
  putSync(key: string, value: unknown, options?: DumpOptions): DumpInfo {
    return dumpFileSync(value, this.pathOf(key), options, true);
  }

  /** Loads `key`. A missing key rejects with the fs error (code 'ENOENT'); a bad file with FormatError. */
  get<T = unknown>(key: string, options?: LoadOptions & { mmap?: undefined }): Promise<T>;
  get<T = unknown>(key: string, options?: LoadOptions): Promise<Mapped<T>>;
  get<T = unknown>(key: string, options?: LoadOptions): Promise<T> {
    try {
      return load<T>(this.pathOf(key), options) as Promise<T>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Synchronous {@link BlobStore.get}. */
  getSync<T = unknown>(key: string, options?: LoadOptions & { mmap?: undefined }): T;
  getSync<T = unknown>(key: string, options?: LoadOptions): Mapped<T>;
  getSync<T = unknown>(key: string, options?: LoadOptions): T {
    return loadSync<T>(this.pathOf(key), options) as T;
  }

  /** Whether `key` holds a value. */
  async has(key: string): Promise<boolean> {
    try {
      return (await stat(this.pathOf(key))).isFile();
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }

  /**
   * Removes `key`; true if something was removed. A missing key is not an
   * error. Never follows a symlink: a key under a symlinked folder is not
   * deleted (false), and a symlink at the key's place is removed itself.
   */
  async delete(key: string): Promise<boolean> {
    const file = this.pathOf(key);
    try {
      // unlink never follows the last component, but it does follow folders: a symlinked
      // folder inside the root would let a delete reach outside it, so such a key is left alone.
      const parts = checkKey(key);
      for (let depth = 1; depth < parts.length; depth++) {
        if ((await lstat(path.join(this.root, ...parts.slice(0, depth)))).isSymbolicLink()) return false;
      }
      await unlink(file);
      return true;
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }

  /**
   * Every stored key (under the folder `prefix`, when given) with its size
   * and time, sorted by key. Temp files are never listed; stale ones (older
   * than 15 minutes, left by a crashed writer) are removed on the way.
   */
  async list(prefix?: string): Promise<BlobEntry[]> {
    const entries: BlobEntry[] = [];
    await this.#walk(prefix, (key, info) => entries.push({ key, bytes: info.size, mtimeMs: info.mtimeMs }), Date.now() - STALE_TEMP_MS);
    return entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Removes temp files older than `olderThanMs` (default 15 minutes); returns how many. */
  async sweep(olderThanMs = STALE_TEMP_MS): Promise<number> {
    if (typeof olderThanMs !== 'number' || !(olderThanMs >= 0)) throw badOption('olderThanMs', 'a non-negative number of milliseconds', olderThanMs);
    let removed = 0;
    await this.#walk(undefined, () => undefined, Date.now() - olderThanMs, () => removed++);
    return removed;
  }

  async #walk(prefix: string | undefined, onBlob: (key: string, info: fs.Stats) => void, staleBefore: number, onSwept?: () => void): Promise<void> {
    if (prefix !== undefined && typeof prefix !== 'string') throw badOption('prefix', 'a key prefix string', prefix);
    const start = prefix === undefined || prefix === '' ? [] : checkKey(prefix.replace(/\/$/, ''), 'prefix');
    const folders = [start];
    for (let parts = folders.pop(); parts !== undefined; parts = folders.pop()) {
      const folder = path.join(this.root, ...parts);
      let names: fs.Dirent[];
      try {
        names = await readdir(folder, { withFileTypes: true });
      } catch (error) {
        // A missing root or prefix folder simply holds nothing; so does a folder removed meanwhile.
        if (isMissing(error) || (error as NodeJS.ErrnoException).code === 'ENOTDIR') continue;
        throw error;
      }
      for (const entry of names) {
        if (entry.isDirectory()) {
          folders.push([...parts, entry.name]);
        } else if (entry.isFile() && entry.name.endsWith(TEMP_SUFFIX)) {
          const file = path.join(folder, entry.name);
          const info = await lstat(file).catch(() => undefined);
          if (info !== undefined && info.mtimeMs < staleBefore) {
            await rm(file, { force: true });
            onSwept?.();
          }
        } else if (entry.isFile() && entry.name.endsWith(BLOB_SUFFIX)) {
          const name = entry.name.slice(0, -BLOB_SUFFIX.length);
          if (!isSegment(name)) continue;
          const info = await stat(path.join(folder, entry.name)).catch(() => undefined);
          if (info !== undefined) onBlob([...parts, name].join('/'), info);
        }
      }
    }
  }
}

function isSegment(name: string): boolean {
  return typeof name === 'string' && SEGMENT.test(name) && name !== '.' && name !== '..';
}

/**
 * A key's path segments. Only names of [A-Za-z0-9._-] other than '.' and '..'
 * pass, so no key can name an absolute path, a parent folder, a drive or a
 * backslash-separated path: every file a store touches is under its root.
 */
function checkKey(key: string, what = 'key'): string[] {
  const parts = typeof key === 'string' ? key.split('/') : [];
  if (parts.length === 0 || !parts.every(isSegment)) {
    throw codedError(
      TypeError,
      'LARDER_OPTION',
      `${what} must be names of [A-Za-z0-9._-] joined by '/', without '.' or '..' segments or a leading '/', got ${describe(key)} (invalid key)`,
    );
  }
  return parts;
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
