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
 */
import { join } from 'node:path';
import { FolderStore } from '@larder/store-fs';
import { Bookkeeper } from './bookkeeping.js';
import { MemoryWarning } from './errors.js';
import { readEntry, writeEntry, writeEntryAsync, type Envelope, type Lookup, type StoreFailure } from './entry.js';
import { openIndexOption, openLocationIndex } from './index-open.js';
import type { IndexStore } from './index-store.js';
import { clearFolder, otherBodies } from './maintenance.js';
import { FileLeaseStore } from './lease-files.js';
import type { LeaseStore } from './lease.js';
import { LocationGuard } from './location.js';
import { leasesFor } from './remote-open.js';
import type { ResolvedMemoryOptions } from './options.js';
import { isEntryKey, type EntryFile } from './tree.js';

/** Delivers a warning once per (scope, code) (the Memory's rule). */
export type WarnOnce = (scope: string, warning: MemoryWarning) => void;

export class CacheLocation {
  /** The entry store: result values by entry key. */
  readonly store: FolderStore;
  readonly keeper: Bookkeeper;
  /** What may be done in the location. */
  readonly guard: LocationGuard;
  readonly leases: LeaseStore;
  private readonly ownLeases: LeaseStore | undefined;
  /** Whether `<location>/index.sqlite` was already checked to be larder's (see openLocationIndex). */
  private indexChecked = false;

  constructor(
    /** The location folder. */
    readonly path: string,
    private readonly options: Pick<ResolvedMemoryOptions, 'index' | 'flushIntervalMs' | 'leases'>,
    private readonly warn: WarnOnce,
  ) {
    this.guard = new LocationGuard(path);
    this.store = new FolderStore(join(path, 'results'));
    // Leases named by URL (or implied by a remote index) are this location's to close; a store passed in stays the caller's.
    this.ownLeases = typeof options.leases === 'object' ? undefined : leasesFor(options.leases, options.index, path);
    this.leases = (typeof options.leases === 'object' ? options.leases : this.ownLeases) ?? new FileLeaseStore(this.store.root, (key) => this.store.pathOf(key));
    this.keeper = new Bookkeeper(
      () => this.openIndex(),
      (warning) => this.warn('index', warning),
      options.flushIntervalMs,
      (error) => new MemoryWarning('LARDER_INDEX', `the index could not be updated; hit counts and access times of the last moments are lost (results are unaffected): ${(error as Error)?.message ?? String(error)}`, { cause: error }),
    );
  }

  /** Reads entry `key` synchronously (see entry.ts's readEntry). */
  read(key: string, mmap: 'r' | undefined, onBad: (error: unknown, unreadable: boolean) => void, expectedName?: string): Lookup {
    return readEntry(this.store, key, mmap, onBad, key, expectedName);
  }

  /** Reads whatever entry file `key` holds, mapped and without checking it belongs there (reconcile); the caller closes it. */
  readAny(key: string): Lookup {
    return readEntry(this.store, key, 'r', () => undefined);
  }

  /** Writes an entry atomically, synchronously; its size in bytes, or why it failed. */
  write(key: string, entry: Envelope): number | StoreFailure {
    return writeEntry(this.store, key, entry);
  }

  /** Writes a (large) entry atomically with the pipelined async dump: the event loop keeps running meanwhile. */
  writeAsync(key: string, entry: Envelope): Promise<number | StoreFailure> {
    return writeEntryAsync(this.store, key, entry);
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
    // A page at a time: each deleteMany checks its folders once and unlinks a bounded number at a time.
    const ours = keys.filter(isEntryKey);
    for (let i = 0; i < ours.length; i += 1000) await this.store.deleteMany(ours.slice(i, i + 1000));
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
    if (removed === undefined) await this.store.removePrefix(folder); // the index failed: the values go all the same
    return removed ?? 0;
  }

  /** Removes every entry value (the caller clears the index). */
  async removeAll(): Promise<void> {
    await this.store.removePrefix('');
  }

  /** Removes temp files left by writers that died (older than 15 minutes). */
  async sweep(): Promise<void> {
    await this.store.sweep();
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
    if (this.options.index !== undefined) return openIndexOption(this.options.index, warn, this.path);
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
