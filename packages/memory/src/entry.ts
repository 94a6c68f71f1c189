/**
 * One cache entry on disk: a store-fs file holding the result together with
 * the facts about it, so a hit is one file read (no index lookup) and a miss
 * is one atomic write (temp file + rename, done by the BlobStore). In a store
 * that is not local (S3), a miss writes put-if-absent and a refresh replaces
 * only the version it saw (writeEntryIfUnchanged).
 *
 * A file that is missing is a miss. A file that is truncated, corrupt, not
 * ours, or not an entry is a miss too, reported through `onBad` so the caller
 * can warn; the next store overwrites it. A file that could not be read at all
 * (no descriptor left, EIO, permissions) is UNREADABLE: it may be a good entry,
 * so the caller computes without storing over it.
 *
 * Under mmap a load keeps a descriptor open for the MappedArrays it returns;
 * an entry read but not handed to the caller must be released with store-fs's
 * `closeLoaded(entry)` (the envelope, which is the loaded root; not its value),
 * or each such read holds a descriptor until garbage collection.
 */
import { closeLoaded, FormatError, UnsupportedValueError, type BlobStore, type LocalBlobStore, type LoadOptions } from '@larder/store-fs';

/** What an entry file holds. */
export interface Envelope<T = unknown> {
  /** Marks an entry written by @larder/memory, and its layout version. */
  larder: 1;
  /** Function name, for `larder ls` and verbose output. */
  name: string;
  /** When the result was computed (ms since epoch). */
  createdMs: number;
  /** How long computing it took (ms). */
  computeMs: number;
  /** The arguments, cut short for display. */
  args: string;
  /**
   * The entry's own key (`<folder>/<function id>/<arguments hash>`): a hit requires it to be
   * the key looked up (and `name` the function's name), so a valid entry file copied, moved or
   * linked onto another entry's path is a miss, never another call's result. Files without it
   * (an older layout) cannot prove where they belong: they are misses too, and get overwritten.
   */
  key?: string;
  value: T;
}

const EAGER: LoadOptions | undefined = undefined;
const MAPPED: LoadOptions = { mmap: 'r' };

function isEnvelope(value: unknown): value is Envelope {
  if (typeof value !== 'object' || value === null) return false;
  const entry = value as Partial<Envelope>;
  return entry.larder === 1 && typeof entry.name === 'string' && typeof entry.createdMs === 'number' && typeof entry.computeMs === 'number' && 'value' in entry && (entry.key === undefined || typeof entry.key === 'string');
}

/** What {@link readEntry} returns for a file it could not read (as opposed to one it read and found bad). */
export const UNREADABLE = Symbol('unreadable entry');

/**
 * Reads the entry `key` from `store`: the envelope, undefined for a miss, or
 * UNREADABLE when reading failed for a reason that says nothing about the stored
 * value (EMFILE, ENFILE, EIO, EACCES, a value too large to load eagerly...).
 * `onBad` hears about entries that exist but cannot be used (never about a missing
 * one), with `unreadable` telling the two apart; a value that was read and is not
 * this entry (corrupt, truncated, junk, another key's entry) is not unreadable.
 */
export function readEntry(store: LocalBlobStore, key: string, mmap: 'r' | undefined, onBad: (error: unknown, unreadable: boolean) => void, expectedKey?: string, expectedName?: string): Lookup {
  let stored: unknown;
  try {
    stored = store.getSync(key, mmap ? MAPPED : EAGER);
  } catch (error) {
    return failedRead(error, onBad);
  }
  if (stored === undefined) return undefined;
  return checkEnvelope(stored, onBad, expectedKey, expectedName);
}

/** {@link readEntry} through a store's async `get` (a store object that is not local): the same answers. */
export function readEntryAsync(store: BlobStore, key: string, mmap: 'r' | undefined, onBad: (error: unknown, unreadable: boolean) => void, expectedKey?: string, expectedName?: string): Promise<Lookup> {
  let read: Promise<unknown>;
  try {
    read = store.get(key, mmap ? MAPPED : EAGER);
  } catch (error) {
    return Promise.resolve(failedRead(error, onBad)); // a store that throws instead of rejecting
  }
  return read.then((stored) => (stored === undefined ? undefined : checkEnvelope(stored, onBad, expectedKey, expectedName)), (error: unknown) => failedRead(error, onBad));
}

/**
 * Eager entries at least this large are read with the async load: the read then runs off the
 * event loop (libuv's pool), and the loop is held only for the decode and checksums. Below
 * it a synchronous read is faster and blocks for less than a thread-pool round trip costs.
 */
export const LARGE_HIT_BYTES = 4 * 1024 * 1024;

/**
 * {@link readEntry} for a hit: the same answer, synchronously for small or mapped entries (the
 * fast path: one stat, one read), as a promise for eager entries of LARGE_HIT_BYTES or more.
 */
export function readEntryForHit(store: LocalBlobStore, key: string, mmap: 'r' | undefined, onBad: (error: unknown, unreadable: boolean) => void, expectedName: string): Lookup | Promise<Lookup> {
  if (mmap) return readEntry(store, key, mmap, onBad, key, expectedName);
  let size: number | undefined;
  try {
    // One metadata lookup: a miss costs nothing more, a hit learns which read suits its size.
    size = store.sizeSync(key);
  } catch (error) {
    return failedRead(error, onBad);
  }
  if (size === undefined) return undefined;
  if (size < LARGE_HIT_BYTES) return readEntry(store, key, mmap, onBad, key, expectedName);
  return readEntryAsync(store, key, undefined, onBad, key, expectedName);
}

/** What an entry read is: the envelope, a miss, or an entry that could not be read now. */
export type Lookup = Envelope | undefined | typeof UNREADABLE;

function failedRead(error: unknown, onBad: (error: unknown, unreadable: boolean) => void): undefined | typeof UNREADABLE {
  const code = (error as { code?: unknown }).code;
  // No file (or no folder on the way) is a plain miss.
  if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
  // Something else stands where the entry belongs: damage, like a corrupt file.
  if (error instanceof FormatError || code === 'EISDIR') {
    onBad(error, false);
    return undefined;
  }
  onBad(error, true);
  return UNREADABLE;
}

function checkEnvelope(stored: unknown, onBad: (error: unknown, unreadable: boolean) => void, expectedKey: string | undefined, expectedName: string | undefined): Lookup {
  if (isEnvelope(stored)) {
    const misplaced = whyMisplaced(stored, expectedKey, expectedName);
    if (misplaced === undefined) return stored;
    closeLoaded(stored);
    onBad(new Error(misplaced), false);
    return undefined;
  }
  closeLoaded(stored);
  onBad(new Error(`the file holds ${stored === null ? 'null' : typeof stored}, not a cache entry`), false);
  return undefined;
}

/** Why `entry` is not the entry of `expectedKey` (and `expectedName`); undefined when it is, or when nothing is expected (reconcile). */
function whyMisplaced(entry: Envelope, expectedKey: string | undefined, expectedName: string | undefined): string | undefined {
  if (expectedKey === undefined) return undefined;
  if (entry.key === undefined) return `the file is an entry of an older layout that does not say which key it belongs to, so it cannot prove it is ${expectedKey}`;
  if (entry.key !== expectedKey) return `the file holds the entry ${entry.key}, not ${expectedKey} (copied or moved from elsewhere)`;
  if (expectedName !== undefined && entry.name !== expectedName) return `the file holds an entry of ${JSON.stringify(entry.name)}, not of ${JSON.stringify(expectedName)}`;
  return undefined;
}

/** Why a result was not stored, for the warning. */
export interface StoreFailure {
  error: unknown;
  /** True when the value itself cannot be stored (a class instance, a function...), false for I/O failures. */
  unsupported: boolean;
}

/** Whether a store refused a write because a symlink or a file stands where its folder belongs. */
export const isUnsafePath = (error: unknown): boolean => (error as { code?: unknown } | undefined)?.code === 'LARDER_UNSAFE_PATH';

/** Writes `entry` atomically under `key`; returns its size in bytes, or the failure. */
export function writeEntry(store: LocalBlobStore, key: string, entry: Envelope): number | StoreFailure {
  try {
    return store.putSync(key, entry).bytes;
  } catch (error) {
    return { error, unsupported: error instanceof UnsupportedValueError };
  }
}

/** {@link writeEntry} with store-fs's pipelined async dump: hashing overlaps writing, and the event loop runs meanwhile. */
export async function writeEntryAsync(store: BlobStore, key: string, entry: Envelope): Promise<number | StoreFailure> {
  try {
    return (await store.put(key, entry)).bytes;
  } catch (error) {
    return { error, unsupported: error instanceof UnsupportedValueError };
  }
}

/** What a conditional write gives when another writer got there first: their entry stays. */
export const LOST_RACE = Symbol('lost race');

/**
 * Writes `entry` under `key` only over what the caller saw: `seen` undefined means the key held
 * nothing (put-if-absent), else the version it held (replace if unchanged). For stores shared by
 * machines, where no lease of this process covers every writer: of two writers of one entry the
 * first stays, and the second gets LOST_RACE (its value is just as good; it is not an error).
 */
export async function writeEntryIfUnchanged(store: BlobStore, key: string, entry: Envelope, seen: string | undefined): Promise<number | StoreFailure | typeof LOST_RACE> {
  try {
    const written = seen === undefined ? await store.putIfAbsent(key, entry) : await store.replace(key, entry, seen);
    return written === undefined ? LOST_RACE : written.bytes;
  } catch (error) {
    return { error, unsupported: error instanceof UnsupportedValueError };
  }
}

/**
 * Results holding at least this many bytes of typed arrays are written with the async dump:
 * from here on store-fs pipelines hashing with writing (its one-write limit), and a
 * synchronous write would hold the event loop for the whole write.
 */
export const LARGE_RESULT_BYTES = 4 * 1024 * 1024;
/** How many containers the size estimate looks into before it calls a result small. */
const ESTIMATE_NODES = 256;

/**
 * Whether `value` holds at least LARGE_RESULT_BYTES of binary data (typed arrays, DataViews,
 * ArrayBuffers), looking at no more than a few hundred containers: a large result is one big
 * array or a small object of them; anything else is cheaper written synchronously.
 */
export function isLargeValue(value: unknown): boolean {
  try {
    return estimateLarge(value);
  } catch {
    // A getter that throws, a Proxy's trap, a detached DataView's byteLength: the write that
    // follows meets it too and fails, and the result is returned uncached (never a rejected call).
    return false;
  }
}

function estimateLarge(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  let bytes = 0;
  let budget = ESTIMATE_NODES;
  const pending: unknown[] = [value];
  const seen = new Set<unknown>();
  while (pending.length > 0 && budget-- > 0) {
    const item = pending.pop();
    if (typeof item !== 'object' || item === null || seen.has(item)) continue;
    seen.add(item);
    if (ArrayBuffer.isView(item)) bytes += item.byteLength;
    else if (item instanceof ArrayBuffer) bytes += item.byteLength;
    else if (item instanceof Map) for (const [k, v] of item) pending.push(k, v);
    else if (item instanceof Set) for (const v of item) pending.push(v);
    else if (Array.isArray(item)) { for (let i = 0; i < item.length && i < ESTIMATE_NODES; i++) pending.push(item[i]); }
    else if (Object.getPrototypeOf(item) === Object.prototype || Object.getPrototypeOf(item) === null) for (const key of Object.keys(item)) pending.push((item as Record<string, unknown>)[key]);
    if (bytes >= LARGE_RESULT_BYTES) return true;
  }
  return false;
}
