/**
 * Mapped arrays cross the thread boundary as file references, never as
 * bytes (joblib hands its workers memmaps of one file the same way). A typed
 * array that a mapped load returned (`load(path, { mmap: 'r' })`, a cached
 * function with `mmap: 'r'`) and whose pages this thread never wrote is sent
 * as a marker: its file reference and a descriptor the sender opened after
 * checking the path still names the mapped file. Threads share their
 * process's descriptors, so the receiver maps the same bytes from that
 * descriptor: O(1), and the pages are the page cache's, shared by every
 * thread, not anonymous memory. Every mapping is copy-on-write, so a task's
 * writes change only its own pages: other tasks, the caller's array and the
 * file never see them. (A worker hands a later task a view over the mapping an
 * earlier task read when no page of it was written; only a write made after
 * the earlier task returned, by code it left running, would show there.) Arguments' descriptors are closed by the caller when
 * the call ends (receivers have mapped them by then); a result's, by the
 * worker that opened them, once the caller says it has mapped them. Each
 * descriptor is closed by the thread that opened it: Node keeps a list of the
 * raw descriptors each worker thread opens and closes what is left on it
 * when the thread exits, so one closed by another thread would stay listed,
 * its number, once reused, would be "opened in unmanaged mode twice", and
 * the thread's exit would close it under its new owner. An array that cannot
 * go by reference (written to, file replaced, addon missing) is sent as any
 * other array.
 */
import type { MappedReference } from '@larder/store-fs';
import { RESULTS_MAPPED_OFFSET } from './protocol.js';

// Through getBuiltinModule: an ES import of node:fs runs its lazy getters in every worker (entry-script.ts).
const fs = process.getBuiltinModule('node:fs');

type StoreFs = typeof import('@larder/store-fs');

/**
 * store-fs, imported on first need rather than with this module: a worker
 * thread that never meets a mapped array never pays for it at start.
 */
let storeFs: StoreFs | undefined;
let loading: Promise<StoreFs> | undefined;

/** Imports store-fs once per thread; callers await it before a walk that needs it. */
export function loadStoreFs(): Promise<StoreFs> {
  return (loading ??= import('@larder/store-fs').then((module) => (storeFs = module)));
}

/** store-fs if this thread has imported it (the caller has, before it prepares a call's arguments), else undefined. */
export function loadedStoreFs(): StoreFs | undefined {
  return storeFs;
}

/** A mapped array on its way: where its bytes are, and a descriptor open on that file. */
export interface FileShare {
  readonly reference: MappedReference;
  readonly fd: number;
}

/** Per call (arguments) or per reply (results): each mapped array's marker, once, or null where it goes by value. */
export interface FileShares {
  readonly markers: Map<ArrayBufferView, FileMarker | null>;
  /** Set when a walk returns a marker: the sender resets it to learn whether one message holds any. */
  sent: boolean;
  /**
   * Set when a walk met a typed array that may be mapped while store-fs was
   * not loaded in this thread: the sender loads it and walks again.
   */
  wanted: boolean;
}

export function fileShares(): FileShares {
  return { markers: new Map(), sent: false, wanted: false };
}

/**
 * The key of a marker: no user value holds a property named so (it starts
 * with NUL), and one constant serves both sides of every thread.
 */
const MARKER_KEY = '\u0000larder:mapped-file';

/** What a mapped array becomes in a posted value. */
export type FileMarker = { readonly [MARKER_KEY]: FileShare };

/**
 * The marker that sends `view` by reference, or undefined when it goes by
 * value. A view met twice gets the same marker (one descriptor).
 */
export function fileMarker(view: ArrayBufferView, shares: FileShares): FileMarker | undefined {
  if (storeFs === undefined) {
    // A mapping is a plain ArrayBuffer with a file header before the array (or a region of one): a view
    // spanning its whole buffer, or on shared memory, is almost never one, and asks for no import.
    if (!(view.buffer instanceof SharedArrayBuffer) && view.byteLength < view.buffer.byteLength) shares.wanted = true;
    return undefined;
  }
  let marker = shares.markers.get(view);
  if (marker === undefined) {
    const reference = storeFs.mappedReference(view);
    const fd = reference && storeFs.openReference(reference);
    marker = fd === undefined ? null : { [MARKER_KEY]: { reference: reference!, fd } };
    shares.markers.set(view, marker);
  }
  if (marker === null) return undefined;
  shares.sent = true;
  return marker;
}

/** Closes the descriptors of `shares`' markers (and forgets them). */
export function closeFiles(shares: FileShares): void {
  for (const marker of shares.markers.values()) if (marker) closeQuietly(marker[MARKER_KEY].fd);
  shares.markers.clear();
}

function isMarker(value: object): value is FileMarker {
  return Object.hasOwn(value, MARKER_KEY);
}

/**
 * Replaces, in place, every marker in a received value with a typed array
 * mapped from its descriptor; `mapped` collects the markers met, so each is
 * mapped once. The value is a fresh structured clone owned by the receiver,
 * so it may be rewritten. Walks without recursion: plain objects, arrays,
 * Maps and Sets, at any depth.
 * With `reuse` (a worker restoring a task's arguments), a file region this
 * thread mapped for an earlier task and that no task wrote to is not mapped
 * again: the task gets a new view over that mapping (store-fs's
 * `mapReference` option). V8 starts a garbage collection for every new
 * ArrayBuffer over 64 MiB, which costs a worker far more than the mapping.
 */
export function restoreFiles(value: unknown, mapped: MappedMarkers, { mapReference }: StoreFs, reuse = false): unknown {
  const map = (marker: FileMarker): ArrayBufferView => {
    let view = mapped.get(marker);
    if (!view) {
      const { reference, fd } = marker[MARKER_KEY];
      view = mapReference(reference, fd, { reuse });
      mapped.set(marker, view);
    }
    return view;
  };
  if (typeof value !== 'object' || value === null) return value;
  if (isMarker(value)) return map(value);
  const seen = new Set<object>();
  const stack: object[] = [value];
  const swap = (item: unknown): unknown => {
    if (typeof item !== 'object' || item === null || ArrayBuffer.isView(item)) return item;
    if (isMarker(item)) return map(item);
    if (!seen.has(item)) stack.push(item);
    return item;
  };
  while (stack.length > 0) {
    const item = stack.pop()!;
    if (seen.has(item)) continue;
    seen.add(item);
    if (Array.isArray(item)) {
      for (let i = 0; i < item.length; i++) {
        const next = swap(item[i]);
        if (next !== item[i]) item[i] = next;
      }
    } else if (item instanceof Map) {
      const entries = [...item];
      item.clear();
      for (const [key, entry] of entries) item.set(swap(key), swap(entry));
    } else if (item instanceof Set) {
      const entries = [...item];
      item.clear();
      for (const entry of entries) item.add(swap(entry));
    } else if (isPlainObject(item)) {
      const record = item as Record<string, unknown>;
      for (const key of Object.keys(record)) {
        const next = swap(record[key]);
        if (next !== record[key]) record[key] = next;
      }
    }
  }
  return value;
}

/** The markers a receiver met, each with what it became. */
export type MappedMarkers = Map<FileMarker, ArrayBufferView>;

/**
 * Atomics.waitAsync (Node 16+), which the ES2023 lib this project compiles
 * against does not declare yet.
 */
const waitAsync = (Atomics as unknown as {
  waitAsync(array: Int32Array, index: number, value: number): { async: false; value: string } | { async: true; value: Promise<string> };
}).waitAsync;

/**
 * In a worker, for a reply whose results hold markers: closes their
 * descriptors once the caller has mapped them ({@link resultsMapped} on the
 * batch's `progress`), from this thread, which opened them. A reply the
 * caller never handles (its worker is terminated meanwhile) leaves them
 * open until the thread exits, when Node closes them: they are still on
 * this thread's list.
 */
export function closeFilesWhenMapped(shares: FileShares, progress: SharedArrayBuffer): void {
  const fds = [...shares.markers.values()].flatMap((marker) => (marker ? [marker[MARKER_KEY].fd] : []));
  shares.markers.clear();
  if (fds.length === 0) return;
  const close = (): void => fds.forEach(closeQuietly);
  const waiting = waitAsync(new Int32Array(progress, RESULTS_MAPPED_OFFSET, 1), 0, 0);
  if (waiting.async) void waiting.value.then(close);
  else close(); // already mapped
}

/** In the caller, once a reply's markers are mapped (or will not be): tells the worker to close their descriptors. */
export function resultsMapped(progress: SharedArrayBuffer): void {
  const flag = new Int32Array(progress, RESULTS_MAPPED_OFFSET, 1);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
}

function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // Already closed: nothing holds it.
  }
}
