/**
 * One cache location and everything a Memory keeps in it: the entry store
 * (result files), the index (through the Bookkeeper, which batches its
 * writes), the in-flight leases and the location guard (what may be written
 * or deleted there). Cached functions and Memory's maintenance both talk to
 * this object; neither reaches into the other.
 *
 * Layout of a location:
 *   <location>/CACHEDIR.TAG, <location>/larder-cache.json                 the marks (location.ts)
 *   <location>/results/<function folder>/<function id>/<arguments hash>   store-fs files, one per entry
 *   <location>/results/.../<arguments hash>.larder.lease                  in-flight leases (lease-files.ts)
 *   <location>/index.sqlite (+ -wal, -shm)                                  the index
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { LegacyBlobStore as BlobStore } from '@larder/store-fs';
import { Bookkeeper, entryRecordKey } from './bookkeeping.js';
import { MemoryWarning } from './errors.js';
import { writeEntry, writeEntryAsync, type Envelope, type StoreFailure } from './entry.js';
import { openIndexOption, openLocationIndex, type IndexStore } from './index-store.js';
import { FileLeaseStore } from './lease-files.js';
import type { LeaseStore } from './lease.js';
import { LocationGuard } from './location.js';
import type { ResolvedMemoryOptions } from './options.js';
import { ensureEntryFolder, isBodyFolderName, listEntryFiles, removeEntryFiles, removeTree } from './tree.js';

/** Delivers a warning once per (scope, code) (the Memory's rule). */
export type WarnOnce = (scope: string, warning: MemoryWarning) => void;

export class CacheLocation {
  readonly blobs: BlobStore;
  readonly keeper: Bookkeeper;
  /** What may be done in the location. */
  readonly guard: LocationGuard;
  readonly leases: LeaseStore;
  /** Whether `<location>/index.sqlite` was already checked to be larder's (see openLocationIndex). */
  private indexChecked = false;

  constructor(
    /** The location folder. */
    readonly path: string,
    private readonly options: Pick<ResolvedMemoryOptions, 'index' | 'flushIntervalMs' | 'leases'>,
    private readonly warn: WarnOnce,
  ) {
    this.guard = new LocationGuard(path);
    this.blobs = new BlobStore(join(path, 'results'));
    this.leases = options.leases ?? new FileLeaseStore(this.blobs.root);
    this.keeper = new Bookkeeper(
      () => this.openIndex(),
      (warning) => this.warn('index', warning),
      options.flushIntervalMs,
      (error) => new MemoryWarning('LARDER_INDEX', `the index could not be updated; hit counts and access times of the last moments are lost (results are unaffected): ${(error as Error)?.message ?? String(error)}`, { cause: error }),
    );
  }

  /**
   * A function from an arguments hash to the file of the entry `<prefix>/<hash>`, the prefix
   * checked once: each hit then costs one test of the hash.
   */
  entryPaths(prefix: string): (argsHash: string) => string {
    return this.blobs.pathsUnder(prefix);
  }

  /** The file of entry `key`. */
  entryPath(key: string): string {
    return this.blobs.pathOf(key);
  }

  /** Makes the entry folder of a function body a real folder of the location (throws when a symlink or a file is in the way). */
  prepareBody(folder: string, id: string): void {
    ensureEntryFolder(this.blobs.root, folder, id);
  }

  /** Writes an entry atomically, synchronously; its size in bytes, or why it failed. */
  write(key: string, entry: Envelope): number | StoreFailure {
    return writeEntry(this.blobs, key, entry);
  }

  /** Writes a (large) entry atomically with the pipelined async dump: the event loop keeps running meanwhile. */
  writeAsync(key: string, entry: Envelope): Promise<number | StoreFailure> {
    return writeEntryAsync(this.blobs, key, entry);
  }

  /** How many other bodies of the function folder `folder` have entries (for the "function changed" line). */
  async otherBodies(folder: string, id: string): Promise<number> {
    const names = await readdir(join(this.blobs.root, folder), { withFileTypes: true }).catch(() => []);
    return names.filter((e) => e.isDirectory() && isBodyFolderName(e.name) && e.name !== id).length;
  }

  /** Deletes entries (files first: the files are the truth) and their index records. */
  async remove(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    if (!(await this.guard.writable('delete entries', false))) return;
    for (const key of keys) this.keeper.forget(key);
    await removeEntryFiles(this.blobs.root, keys);
    await this.withIndex((index) => index.deleteMany(keys.map(entryRecordKey)));
  }

  /** Deletes the entries of one function folder (every body); how many there were. */
  async clearFunction(folder: string, doing = `clear the entries of ${folder}`): Promise<number> {
    if (!(await this.guard.writable(doing, false))) return 0;
    const files = await listEntryFiles(this.blobs.root, folder);
    await this.remove(files.map((file) => file.key));
    await removeTree(this.blobs.root, folder);
    return files.length;
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
    if (this.options.index !== undefined) return openIndexOption(this.options.index, warn);
    // The index is written: only in a location larder marked (or may adopt, and marks now).
    await this.guard.writable('write its index', true);
    const index = await openLocationIndex(this.path, warn, this.indexChecked);
    // Checked once: a file found to be larder's index (or created by it) stays so for this Memory.
    if (!index.description.startsWith('memory (bypassing')) this.indexChecked = true;
    return index;
  }

  /** Writes pending bookkeeping and closes the index (it reopens on demand). A lease store passed in stays the caller's to close. */
  async close(): Promise<void> {
    await this.keeper.close();
  }
}
