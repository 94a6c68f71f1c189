/**
 * One cache location and everything a Memory keeps in it: the entry store
 * (result files), the index (through the Bookkeeper, which batches its
 * writes), the in-flight leases and the location guard (what may be written
 * or deleted there). Cached functions and Memory's maintenance both talk to
 * this object; neither reaches into the other.
 *
 * Layout of a folder location:
 *   <location>/CACHEDIR.TAG, <location>/larder-cache.json   the marks (location.ts)
 *   <location>/results/                                      the entry store (store-fs's FolderStore), entry
 *                                                            keys `<function folder>/<function id>/<arguments hash>`;
 *                                                            the store decides paths and sharding
 *   next to each entry's file: `<file>.lease`                 in-flight leases (lease-files.ts)
 *   <location>/index.sqlite (+ -wal, -shm)                    the index
 * Memory itself never builds a path under results/: it names entries by key.
 *
 * A BlobStore object as the location (`new Memory(store)`): the store holds
 * the entries under the same keys, and larder's marker under the key
 * `larder-cache.json` (store-guard.ts). With no folder for them, the index
 * is the `index` option or an in-process one filled from the store's
 * listing when first needed, and leases are the `leases` option or
 * in-process ones (lease-memory.ts). Hits are synchronous only on a
 * LocalBlobStore (store-fs's FolderStore); other stores read with `get`.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { FolderStore, isLocalBlobStore, type BlobStore, type LocalBlobStore } from '@larder/store-fs';
import { Bookkeeper } from './bookkeeping.js';
import { MemoryWarning } from './errors.js';
import { readEntry, readEntryAsync, writeEntry, writeEntryAsync, writeEntryIfUnchanged, type Envelope, type LOST_RACE, type Lookup, type StoreFailure } from './entry.js';
import { openIndexOption, openLocationIndex } from './index-open.js';
import { MemoryIndexStore } from './index-records.js';
import type { IndexStore } from './index-store.js';
import { clearFolder, otherBodies } from './maintenance.js';
import { FileLeaseStore } from './lease-files.js';
import { InProcessLeaseStore } from './lease-memory.js';
import type { LeaseStore } from './lease.js';
import { LocationGuard, type Guard } from './location.js';
import { leasesFor } from './lease-remote.js';
import type { ResolvedMemoryOptions } from './options.js';
import { StoreGuard } from './store-guard.js';
import { isEntryKey, isFunctionFolderName, type EntryFile } from './tree.js';

/** Delivers a warning once per (scope, code) (the Memory's rule). */
export type WarnOnce = (scope: string, warning: MemoryWarning) => void;

/** One in-process lease store per store object: every Memory over it in this thread shares its leases. */
const inProcessLeases = new WeakMap<BlobStore, InProcessLeaseStore>();

function inProcessLeasesOf(store: BlobStore): InProcessLeaseStore {
  let leases = inProcessLeases.get(store);
  if (leases === undefined) inProcessLeases.set(store, (leases = new InProcessLeaseStore()));
  return leases;
}

export class CacheLocation {
  /** The entry store: result values by entry key. */
  readonly store: BlobStore;
  /** The same store when it reads and writes synchronously (a folder): hits then need no event-loop turn. */
  readonly local: LocalBlobStore | undefined;
  /** The location folder; undefined for a BlobStore object. */
  readonly path: string | undefined;
  readonly keeper: Bookkeeper;
  /** What may be done in the location. */
  readonly guard: Guard;
  readonly leases: LeaseStore;
  private readonly ownLeases: LeaseStore | undefined;
  /** Whether `<location>/index.sqlite` was already checked to be larder's (see openLocationIndex). */
  private indexChecked = false;
  /** Whether the in-process index of a store location was announced (verbose >= 1). */
  private saidIndex = false;

  constructor(
    /** A folder, or a store object. */
    location: string | BlobStore,
    private readonly options: Pick<ResolvedMemoryOptions, 'index' | 'flushIntervalMs' | 'leases' | 'verbose' | 'log'>,
    private readonly warn: WarnOnce,
  ) {
    // Leases named by URL (or implied by a remote index) are this location's to close; a store passed in stays the caller's.
    const given = typeof options.leases === 'object' ? options.leases : undefined;
    this.ownLeases = given ? undefined : leasesFor(options.leases as string | undefined, options.index, typeof location === 'string' ? location : location.description);
    if (typeof location === 'string') {
      const folder = new FolderStore(join(location, 'results'));
      this.path = location;
      this.guard = new LocationGuard(location);
      this.store = this.local = folder;
      this.leases = given ?? this.ownLeases ?? new FileLeaseStore(folder.root, (key) => folder.pathOf(key));
    } else {
      this.guard = new StoreGuard(location);
      this.store = location;
      this.local = isLocalBlobStore(location) ? location : undefined;
      this.leases = given ?? this.ownLeases ?? inProcessLeasesOf(location);
    }
    this.keeper = new Bookkeeper(
      () => this.openIndex(),
      (warning) => this.warn('index', warning),
      options.flushIntervalMs,
      (error) => new MemoryWarning('LARDER_INDEX', `the index could not be updated; hit counts and access times of the last moments are lost (results are unaffected): ${(error as Error)?.message ?? String(error)}`, { cause: error }),
    );
  }

  /** Where entry `key` is, for verbose lines: its file, or the store and key. */
  whereIs(key: string): string {
    return this.local ? this.local.pathOf(key) : `${this.store.description} (key ${key})`;
  }

  /** Reads entry `key`: synchronously from a local store, else with the store's `get` (see entry.ts's readEntry). */
  read(key: string, mmap: 'r' | undefined, onBad: (error: unknown, unreadable: boolean) => void, expectedName?: string): Lookup | Promise<Lookup> {
    return this.local ? readEntry(this.local, key, mmap, onBad, key, expectedName) : readEntryAsync(this.store, key, mmap, onBad, key, expectedName);
  }

  /** Reads whatever entry `key` holds, mapped and without checking it belongs there (reconcile); the caller closes it. */
  readAny(key: string): Lookup | Promise<Lookup> {
    return this.local ? readEntry(this.local, key, 'r', () => undefined) : readEntryAsync(this.store, key, 'r', () => undefined);
  }

  /**
   * Writes an entry atomically: synchronously to a local store (its size in bytes, or why it
   * failed), else only over `seen` (see {@link versionSeen}): LOST_RACE when another writer came first.
   */
  write(key: string, entry: Envelope, seen: string | undefined): number | StoreFailure | Promise<number | StoreFailure | typeof LOST_RACE> {
    return this.local ? writeEntry(this.local, key, entry) : writeEntryIfUnchanged(this.store, key, entry, seen);
  }

  /** Writes a (large) entry atomically with the pipelined async dump: the event loop keeps running meanwhile. */
  writeAsync(key: string, entry: Envelope, seen: string | undefined): Promise<number | StoreFailure | typeof LOST_RACE> {
    return this.local ? writeEntryAsync(this.store, key, entry) : writeEntryIfUnchanged(this.store, key, entry, seen);
  }

  /**
   * What a write of `key` replaces, in a store that is not local: the version it holds now (the
   * entry a refresh or a recompute saw), undefined when it holds nothing. A local store needs
   * none (it writes unconditionally: the entry's lease serialises its writers on one machine),
   * and skips the metadata lookup.
   */
  versionSeen(key: string): Promise<string | undefined> | undefined {
    return this.local ? undefined : this.store.version(key);
  }

  /** Every entry of the location (or of one function folder), with its size and time, sorted by key. */
  async listEntries(folder?: string): Promise<EntryFile[]> {
    const found: EntryFile[] = [];
    for await (const entry of this.store.list(folder ?? '')) if (isEntryKey(entry.key)) found.push(entry);
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Other bodies of the function folder `folder` than `id`, and how many entries they keep, from the index (for the "function changed" line). */
  async otherBodies(folder: string, id: string): Promise<{ bodies: number; entries: number }> {
    return (await this.withIndex((index) => otherBodies(index, folder, id))) ?? { bodies: 0, entries: 0 };
  }

  /** Deletes entry values only (the caller drops their index records); a value already gone is fine. */
  async deleteValues(keys: readonly string[]): Promise<void> {
    const ours = keys.filter(isEntryKey);
    const store = this.store;
    // A page at a time through the store's deleteMany (a folder checks its folders once a page and
    // unlinks a bounded number at a time); where a store has none, 64 deletes in flight.
    if (store.deleteMany) for (let i = 0; i < ours.length; i += 1000) await store.deleteMany(ours.slice(i, i + 1000));
    else for (let i = 0; i < ours.length; i += 64) await Promise.all(ours.slice(i, i + 64).map((key) => store.delete(key)));
  }

  /**
   * Removes the entry values under `prefix` (a function folder, or `folder/body`), with what the
   * index never heard of. A folder's `results/` is larder's alone: all of it goes. A store object
   * may hold others' keys under the same names after larder marked it (a shared bucket): only
   * entry keys go, a page at a time.
   */
  async removeValuesUnder(prefix: string): Promise<void> {
    if (this.path !== undefined) {
      await this.store.removePrefix(prefix);
      return;
    }
    let page: string[] = [];
    for await (const { key } of this.store.list(prefix)) {
      if (isEntryKey(key)) page.push(key);
      if (page.length >= 1000) await this.deleteValues(page.splice(0));
    }
    await this.deleteValues(page);
  }

  /** Deletes entries (values first: they are the truth) and their index records. */
  async remove(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    if (!(await this.guard.writable('delete entries', false))) return;
    for (const key of keys) this.keeper.forget(key);
    await this.deleteValues(keys);
    await this.withIndex((index) => index.deleteEntries(keys));
  }

  /**
   * Deletes the entries of one function folder (every body): its records by prefix in the
   * index, and its values (the whole folder, so values the index never heard of go too).
   * Returns how many entries the index had.
   */
  async clearFunction(folder: string, doing = `clear the entries of ${folder}`): Promise<number> {
    if (!(await this.guard.writable(doing, false))) return 0;
    await this.keeper.flush();
    const removed = await this.withIndex((index) => clearFolder(this, index, folder));
    if (removed === undefined) await this.removeValuesUnder(folder); // the index failed: the values go all the same
    return removed ?? 0;
  }

  /**
   * Removes every entry value (the caller clears the index). A folder's `results/` is larder's
   * alone; in a store object, larder's marker stays, and so does any key larder does not write:
   * the entries of each function folder holding some are removed in turn.
   */
  async removeAll(): Promise<void> {
    if (this.path !== undefined) {
      await this.store.removePrefix('');
      return;
    }
    for (const folder of await this.functionFolders()) await this.removeValuesUnder(folder);
  }

  /** The function folders that hold entries in the store (streamed through; only the folder names are kept). */
  private async functionFolders(): Promise<string[]> {
    const folders = new Set<string>();
    for await (const { key } of this.store.list('')) if (isEntryKey(key)) folders.add(key.slice(0, key.indexOf('/')));
    return [...folders];
  }

  /** Whether the location holds any entry (values the index may not know of): the top-level folders of a folder location, the first listed entry of a store. */
  async holdsEntries(): Promise<boolean> {
    if (this.store instanceof FolderStore) {
      const names = await readdir(this.store.root, { withFileTypes: true }).catch(() => []);
      return names.some((e) => e.isDirectory() && isFunctionFolderName(e.name));
    }
    for await (const { key } of this.store.list('')) if (isEntryKey(key)) return true;
    return false;
  }

  /** Removes temp files left by writers that died (older than 15 minutes): a folder's; a store object keeps its own. */
  async sweep(): Promise<void> {
    if (this.store instanceof FolderStore) await this.store.sweep();
  }

  /** Runs `work` on the index; a failing index warns and yields undefined instead of failing the caller. */
  async withIndex<T>(work: (index: IndexStore) => Promise<T>): Promise<T | undefined> {
    try {
      return await this.keeper.useIndex(work);
    } catch (error) {
      this.warn('index', new MemoryWarning('LARDER_INDEX', `the index failed (results are unaffected; statistics may be incomplete): ${(error as Error)?.message ?? String(error)}`, { cause: error }));
      return undefined;
    }
  }

  private async openIndex(): Promise<IndexStore> {
    const warn = (warning: MemoryWarning) => this.warn('index', warning);
    if (this.options.index !== undefined) return openIndexOption(this.options.index, warn, this.path ?? this.store.description);
    if (this.path === undefined) {
      // No folder to keep an index file in, and a store object is often shared by machines: an
      // index of this process alone, filled from the store's listing when a listing needs it.
      if (this.options.verbose >= 1 && !this.saidIndex) {
        this.saidIndex = true;
        this.options.log(`[Memory] ${this.store.description}: no index option given, so statistics and listings use an in-process index filled from the store's listing when first needed (hit counts are this process's); pass index (an IndexStore shared by every process) to keep them`);
      }
      return new MemoryIndexStore(`in-process index of ${this.store.description}`);
    }
    // The index is written: only in a location larder marked (or may adopt, and marks now).
    await this.guard.writable('write its index', true);
    const index = await openLocationIndex(this.path, warn, this.indexChecked);
    // Checked once: a file found to be larder's index (or created by it) stays so for this Memory.
    if (index.capabilities.persistent) this.indexChecked = true;
    return index;
  }

  /** Writes pending bookkeeping and closes the index (it reopens on demand). A lease store passed in stays the caller's to close. */
  async close(): Promise<void> {
    await this.keeper.close();
    await this.ownLeases?.close?.();
  }
}
