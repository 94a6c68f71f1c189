/**
 * The blob store seam: what a cache (or Parallel, moving large arrays) needs
 * from a place that keeps values under keys. The local folder is one
 * implementation (FolderStore); S3-compatible object storage is another;
 * a user's own store implements the same interface and runs the same
 * conformance suite (`@larder/store-fs/testing`).
 */
import type { LoadOptions, DumpOptions } from './options.js';

/** One stored value as `list()` reports it. */
export interface BlobEntry {
  key: string;
  /** Stored size in bytes. */
  bytes: number;
  /** Last modification (the last put) in ms since the epoch. */
  mtimeMs: number;
}

/** What a put reports. Stores may add more (FolderStore returns a full `DumpInfo`). */
export interface BlobPutInfo {
  /** Stored size in bytes. */
  bytes: number;
}

/**
 * A place that keeps values under keys.
 *
 * Keys are names of `[A-Za-z0-9._-]` joined by `/` (no empty, `.` or `..`
 * segment, no leading or trailing `/`); every member rejects another key with
 * a TypeError of code `LARDER_OPTION`. Values are anything `dump` stores.
 *
 * Every member is required. Errors: a missing key is never an error
 * (`get` gives `undefined`, `has` false, `delete` false); bytes that are
 * damaged or not a larder value are a `FormatError` (code `LARDER_FORMAT`);
 * anything else (EMFILE, EACCES, EIO, a network failure) is thrown as it is,
 * so a caller can tell "unreadable now" from "damaged".
 *
 * @example
 * ```ts
 * import { openStore } from '@larder/store-fs';
 * const store = openStore('/tmp/larder-blobs');
 * await store.putIfAbsent('runs/a1b2c3d4e5f60718', { loss: new Float64Array([0.3, 0.2]) });
 * const seen = await store.version('runs/a1b2c3d4e5f60718');
 * if (seen !== undefined) await store.replace('runs/a1b2c3d4e5f60718', { loss: new Float64Array([0.1]) }, seen); // undefined if someone replaced it first
 * const value = await store.get<{ loss: Float64Array }>('runs/a1b2c3d4e5f60718');
 * for await (const entry of store.list('runs')) console.log(entry.key, entry.bytes);
 * console.log(value?.loss, await store.removePrefix('runs')); // Float64Array [0.3, 0.2] 1
 * ```
 */
export interface BlobStore {
  /** Says where the values live, for messages: `folder /var/cache/x/results`, `s3://bucket/prefix`. */
  readonly description: string;
  /**
   * The value under `key`, or `undefined` when there is none. `options` are
   * store-fs's load options: eager (default), `{ shared: true }` (typed arrays
   * on SharedArrayBuffers), `{ mmap: 'r' }` (large arrays mapped; release
   * with `closeLoaded`). A store that keeps values remotely maps a local copy.
   */
  get<T = unknown>(key: string, options?: LoadOptions): Promise<T | undefined>;
  /**
   * Stores `value` under `key`, replacing any previous value atomically: a
   * reader (in any process) sees the whole old value or the whole new one,
   * never a mix or a part. A put that fails leaves the old value.
   */
  put(key: string, value: unknown, options?: DumpOptions): Promise<BlobPutInfo>;
  /**
   * Stores `value` only if `key` holds nothing: what was written, or
   * `undefined` when a value was already there (it is left as it is). Of
   * concurrent calls for one key, in any processes, exactly one writes.
   */
  putIfAbsent(key: string, value: unknown, options?: DumpOptions): Promise<BlobPutInfo | undefined>;
  /**
   * The version of `key`'s value, or `undefined` when there is none: an opaque
   * string that changes whenever the value is replaced (S3: the object's ETag;
   * a folder: the file's inode, size and mtime in ns). One metadata request,
   * nothing read. Pass it to {@link replace} to replace only what was seen.
   */
  version(key: string): Promise<string | undefined>;
  /**
   * Stores `value` under `key` only if the key still holds `version` (from
   * {@link version}): what was written, or `undefined` when the key moved on
   * to another version or holds nothing any more (nothing is written then).
   * Atomic like `put`. Of concurrent replaces of one version, at most one
   * writes (S3: `If-Match`; a folder compares the version just before its
   * rename: see the store's documentation for its window).
   */
  replace(key: string, value: unknown, version: string, options?: DumpOptions): Promise<BlobPutInfo | undefined>;
  /** Whether `key` holds a value. */
  has(key: string): Promise<boolean>;
  /** Removes `key`'s value; true if there was one. */
  delete(key: string): Promise<boolean>;
  /**
   * Optional: removes many keys at once (what `delete` does for each, with fewer round trips or
   * system calls); returns how many held a value. Callers pass a page at a time (a few thousand
   * keys) and, where a store lacks it, call `delete` for each.
   */
  deleteMany?(keys: readonly string[]): Promise<number>;
  /**
   * The values whose keys start with `prefix + '/'` (every value for `''`;
   * `'a'` never lists `'ab/...'`, nor the key `'a'` itself), streamed: a
   * store never holds the whole listing in memory. The order is the store's
   * own (a folder's is not sorted). A value put or removed while the listing
   * runs may or may not be listed.
   */
  list(prefix?: string): AsyncIterable<BlobEntry>;
  /** Removes every value `list(prefix)` would list; returns how many. `''` empties the store. */
  removePrefix(prefix: string): Promise<number>;
}

/**
 * A store on the local file system, with the synchronous members a cache hit
 * needs (one file read, no event-loop turn). Detect one with
 * {@link isLocalBlobStore}; every other member is that of {@link BlobStore}.
 */
export interface LocalBlobStore extends BlobStore {
  /** Synchronous {@link BlobStore.get}. */
  getSync<T = unknown>(key: string, options?: LoadOptions): T | undefined;
  /**
   * The stored size in bytes of `key`'s value, or `undefined` when there is none: one
   * metadata lookup, nothing read (a cache's miss costs this alone; a hit uses the size to
   * choose a synchronous or an off-thread read).
   */
  sizeSync(key: string): number | undefined;
  /** Synchronous {@link BlobStore.put}: for small values, where a sync write is faster. */
  putSync(key: string, value: unknown, options?: DumpOptions): BlobPutInfo;
  /**
   * The file a put of `key` writes. For files that belong beside a value
   * (a lease, a message naming the file) and for workers that map the file:
   * read values with `get`/`getSync`, which also find older layouts.
   */
  pathOf(key: string): string;
}

/**
 * Whether `store` is a {@link LocalBlobStore}: it has `getSync`, `sizeSync`,
 * `putSync` and `pathOf`. A caller takes the synchronous path only when this says so.
 *
 * @example
 * ```ts
 * import { isLocalBlobStore, openStore } from '@larder/store-fs';
 * const store = openStore('/tmp/larder-blobs');
 * const value = isLocalBlobStore(store) ? store.getSync('k') : await store.get('k');
 * ```
 */
export function isLocalBlobStore(store: BlobStore): store is LocalBlobStore {
  const local = store as Partial<LocalBlobStore>;
  return typeof local.getSync === 'function' && typeof local.sizeSync === 'function' && typeof local.putSync === 'function' && typeof local.pathOf === 'function';
}

/** The members every BlobStore has (openStore checks an object against them). */
export const BLOB_STORE_MEMBERS = ['get', 'put', 'putIfAbsent', 'version', 'replace', 'has', 'delete', 'list', 'removePrefix'] as const;

/**
 * Whether `value` is a {@link BlobStore}: an object with a string `description` and every
 * member (a caller that takes "a path or a store", as `new Memory(location)` does, asks this).
 *
 * @example
 * ```ts
 * import { isBlobStore, openStore } from '@larder/store-fs';
 * isBlobStore(openStore('/tmp/larder-blobs')); // true
 * isBlobStore({ get() {} });                   // false
 * ```
 */
export function isBlobStore(value: unknown): value is BlobStore {
  if (typeof value !== 'object' || value === null) return false;
  const store = value as Record<string, unknown>;
  return typeof store.description === 'string' && BLOB_STORE_MEMBERS.every((member) => typeof store[member] === 'function');
}
