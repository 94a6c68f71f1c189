/**
 * LegacyBlobStore: the 0.1 `BlobStore` class, kept so code written against
 * it (today @larder/memory) runs unchanged while it moves to the
 * {@link BlobStore} interface. It writes the unsharded 0.1 layout
 * (`<root>/a/b/<name>.larder`), which a {@link FolderStore} on the same root
 * reads, lists and removes; listing, `has`, `delete` and `sweep` are the
 * folder store's.
 */
import path from 'node:path';
import type { BlobEntry } from './blob-store.js';
import { dumpFile, dumpFileSync, type DumpInfo } from './dump.js';
import { FolderStore } from './folder-store.js';
import { checkKey, isSegment } from './keys.js';
import { load, loadSync } from './load.js';
import type { DumpOptions, LoadOptions } from './options.js';

const BLOB_SUFFIX = '.larder';

/**
 * The 0.1 blob store class: one file per key, unsharded.
 *
 * @deprecated Use `openStore(root)` (a {@link FolderStore}: sharded, put-if-absent,
 * streamed listing), which also reads what this class wrote. Differences: `get`
 * gives `undefined` for a missing key (this class rejects with ENOENT), and
 * `list` is an async iterable (this class returns a sorted array).
 */
export class LegacyBlobStore {
  /** The absolute root folder (created on the first put). */
  readonly root: string;
  readonly #folder: FolderStore;

  constructor(root: string) {
    this.#folder = new FolderStore(root);
    this.root = this.#folder.root;
  }

  /** The absolute file path that holds `key` (unsharded). Throws a TypeError for an invalid key. */
  pathOf(key: string): string {
    return path.join(this.root, ...checkKey(key)) + BLOB_SUFFIX;
  }

  /**
   * A function from a name to the file path of the key `<prefix>/<name>`,
   * the prefix validated once (for many paths in one folder on a hot path).
   */
  pathsUnder(prefix: string): (name: string) => string {
    const folder = prefix === '' ? this.root : path.join(this.root, ...checkKey(prefix, 'prefix'));
    const start = folder.endsWith(path.sep) ? folder : folder + path.sep; // a root of '/' ends in one already
    return (name) => {
      // Most names are one segment: one test. Anything else goes through the full key check.
      const file = typeof name === 'string' && isSegment(name) ? name : checkKey(name).join(path.sep);
      return start + file + BLOB_SUFFIX;
    };
  }

  /** Stores `value` under `key`, atomically replacing any previous value. */
  async put(key: string, value: unknown, options?: DumpOptions): Promise<DumpInfo> {
    return (await dumpFile(value, this.pathOf(key), options, { makeDirs: true }))!;
  }

  /** Synchronous {@link LegacyBlobStore.put}. */
  putSync(key: string, value: unknown, options?: DumpOptions): DumpInfo {
    return dumpFileSync(value, this.pathOf(key), options, { makeDirs: true })!;
  }

  /** Loads `key`. A missing key rejects with the fs error (code 'ENOENT'); a bad file with FormatError. */
  get<T = unknown>(key: string, options?: LoadOptions): Promise<T> {
    try {
      return load<T>(this.pathOf(key), options) as Promise<T>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Synchronous {@link LegacyBlobStore.get}. */
  getSync<T = unknown>(key: string, options?: LoadOptions): T {
    return loadSync<T>(this.pathOf(key), options) as T;
  }

  /** Whether `key` holds a value. */
  has(key: string): Promise<boolean> {
    return this.#folder.has(key);
  }

  /** Removes `key`; true if something was removed. Never through a symlinked folder. */
  delete(key: string): Promise<boolean> {
    return this.#folder.delete(key);
  }

  /** Every stored key (under the folder `prefix`, when given) with its size and time, sorted by key. */
  async list(prefix?: string): Promise<BlobEntry[]> {
    const entries: BlobEntry[] = [];
    for await (const entry of this.#folder.list(prefix)) entries.push(entry);
    return entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Removes temp files older than `olderThanMs` (default 15 minutes); returns how many. */
  sweep(olderThanMs?: number): Promise<number> {
    return this.#folder.sweep(olderThanMs);
  }
}
