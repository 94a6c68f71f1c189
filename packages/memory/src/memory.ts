/**
 * `Memory`: a location on disk, the cached functions filed in it, and the
 * maintenance of it (clear, reduceSize, stats, list). The call path itself
 * lives in cached-function.ts.
 *
 * Layout of a location:
 *   <location>/CACHEDIR.TAG, <location>/larder-cache.json                 the marks (location.ts)
 *   <location>/results/...                                                  the entry store (store-fs's FolderStore: one file per
 *                                                                           entry key <function folder>/<body id>/<arguments hash>, sharded)
 *   <location>/index.sqlite (+ -wal, -shm)                                  the index (authority for listing)
 *
 * A BlobStore object as the location holds the entries under the same keys and larder's marker
 * as the value `larder-cache.json` (store-guard.ts); it has no index file and no lease files.
 *
 * What may happen where: writing and deleting need a marked (or adoptable) location
 * (LocationGuard); values are only written, listed and removed through the entry store,
 * which never follows a symlink. The location object (cache-location.ts) owns the entry
 * store, index, leases and guard; maintenance.ts holds what these methods do.
 */
import { join } from 'node:path';
import { BLOB_STORE_MEMBERS, isBlobStore, openStore, type BlobStore, type Mapped } from '@larder/store-fs';
import type { Bookkeeper } from './bookkeeping.js';
import { CacheLocation } from './cache-location.js';
import { createCachedFunction, type Cacheable, type CachedFunction, type CacheContext } from './cached-function.js';
import { badOption, MemoryWarning } from './errors.js';
import { openIndexSnapshot } from './index-probe.js';
import { MemoryIndexStore } from './index-records.js';
import type { IndexStore } from './index-store.js';
import { functionFolder, functionIdentity } from './key.js';
import type { Guard } from './location.js';
import { locationString } from './location-path.js';
import {
  clearStaleFromIndex, entriesOf, needsReconcile, reconcileIndex, reduceFromIndex, resolveEntriesOptions, statsOf,
  type EntriesOptions, type Maintained,
} from './maintenance.js';
import { resolveCacheOptions, resolveMemoryOptions, type CacheOptions, type MemoryOptions, type ResolvedMemoryOptions } from './options.js';
import { resolveLimits, type ReduceSizeOptions, type ReduceSizeResult } from './reduce-size.js';
import type { CacheStats, EntrySummary } from './stats.js';

const STORE_URL = /^s3:\/\//i;

/** How listings reach an index: `run` works on it (opened on demand), `close` releases a read-only one. */
interface IndexReader {
  run<T>(work: (index: IndexStore) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * joblib's Memory: caches function results in `location`, keyed by the
 * function's identity and a hash of its arguments. `location` is a folder,
 * a store-fs `BlobStore` object (entries go through its members; see the
 * README's "A store as the location" for the index and leases it gets), or
 * `'s3://bucket/prefix'`. `new Memory()` or `new Memory(null)` is a
 * pass-through with the same API.
 *
 * @example
 * ```ts
 * import { Memory } from '@larder/memory';
 * await using memory = new Memory('.cache');
 * const simulate = memory.cache(function simulate(n: number) { return new Float64Array(n).fill(1); });
 * const a = await simulate(1e6); // computed and stored
 * const b = await simulate(1e6); // read back from .cache
 * ```
 */
export class Memory {
  /** The folder holding the cache (a file:// URL given as its path), the s3:// location or store object given, or null for a pass-through. */
  readonly location: string | BlobStore | null;
  private readonly options: ResolvedMemoryOptions;
  /** The location's entry store, index, leases and guard; undefined for a pass-through. */
  private readonly cacheLocation: CacheLocation | undefined;
  private readonly warned = new Set<string>();
  /** Per function folder, the name of the function last cached under it (for entries the index lost). */
  private readonly functions = new Map<string, string>();
  private readonly context: CacheContext;

  constructor(location?: string | BlobStore | null, options?: MemoryOptions) {
    if (location !== undefined && location !== null && (typeof location === 'string' ? location === '' : !isBlobStore(location))) {
      badOption('location', `a folder path, a BlobStore object (with description, ${BLOB_STORE_MEMBERS.join(', ')}), null or undefined`, location);
    }
    if (typeof location === 'string') location = locationString(location);
    this.options = resolveMemoryOptions(options);
    this.location = location ?? null;
    const warn = (scope: string, warning: MemoryWarning) => this.warn(scope, warning);
    // 's3://bucket/prefix' names a store (store-fs's openStore makes it); any other string is a folder.
    const where = typeof location === 'string' && STORE_URL.test(location) ? openStore(location, { s3: this.options.s3 }) : location;
    if (this.options.s3 !== undefined && where === location) badOption('s3', "an s3:// location (S3 settings apply to 's3://bucket/prefix' only)", this.options.s3);
    this.cacheLocation = where ? new CacheLocation(where, this.options, warn) : undefined;
    this.context = { location: this.cacheLocation, warn, log: this.options.log, createdAt: performance.now() };
  }

  // The maintenance methods below work on the location's parts.
  private get blobs(): BlobStore | undefined {
    return this.cacheLocation?.store;
  }

  private get keeper(): Bookkeeper | undefined {
    return this.cacheLocation?.keeper;
  }

  private get guard(): Guard | undefined {
    return this.cacheLocation?.guard;
  }

  /**
   * Wraps `fn` with the cache. See {@link CacheOptions} for the options and
   * {@link CachedFunction} for what comes back.
   *
   * @example
   * ```ts
   * import { Memory } from '@larder/memory';
   * const memory = new Memory('.cache');
   * const add = memory.cache((a: number, b: number) => a + b, { name: 'add' });
   * await add(1, 2); // 3
   * ```
   */
  cache<F extends Cacheable>(fn: F, options: CacheOptions<Parameters<F>> & { mmap: 'r' }): CachedFunction<F, Mapped<Awaited<ReturnType<F>>>>;
  cache<F extends Cacheable>(fn: F, options?: CacheOptions<Parameters<F>>): CachedFunction<F>;
  cache<F extends Cacheable>(fn: F, options?: CacheOptions<Parameters<F>>): CachedFunction<F> {
    const resolved = resolveCacheOptions(fn, options as CacheOptions<never[]> | undefined, this.options);
    const { name, source } = resolved;
    const identity = functionIdentity(name, source, resolved.version);
    // Entries are filed under the body that made them (results/<folder>/<body id>/): two bodies
    // of one name, in one Memory or in two programs, each hit their own entries and never delete
    // the other's at call time.
    this.functions.set(identity.folder, name);
    return createCachedFunction(fn, resolved, this.context, identity);
  }

  /**
   * Deletes every entry and the index records of this location. Only files larder generates
   * are removed, symlinks are never followed, and a folder larder did not mark and cannot
   * adopt is refused with `LARDER_NOT_A_CACHE`.
   */
  async clear(): Promise<void> {
    if (!this.blobs || !this.keeper || !(await this.guard!.writable('clear it', false))) return;
    this.keeper.forget();
    await this.cacheLocation!.removeAll();
    await this.withIndex((index) => index.clear());
  }

  /**
   * Removes entries until every given limit holds: entries of stale bodies first (see
   * `staleAfter`), then least recently used first. Read from the index a page at a time.
   *
   * @example
   * ```ts
   * import { Memory } from '@larder/memory';
   * await new Memory('.cache').reduceSize({ bytesLimit: '500M' });
   * ```
   */
  async reduceSize(options: ReduceSizeOptions = {}): Promise<ReduceSizeResult> {
    const limits = resolveLimits(options);
    if (!this.blobs || !this.keeper || !(await this.guard!.writable('prune it', false))) return { removed: 0, freedBytes: 0 };
    await this.keeper.flush();
    return (await this.withIndex(async (index) => {
      await this.autoReconcile(index);
      return reduceFromIndex(this.maintained()!, index, limits);
    })) ?? { removed: 0, freedBytes: 0 };
  }

  /**
   * Removes every entry of stale bodies: bodies of a function with a newer body that were not
   * used for `staleAfter` (default 7 days). Bodies in use are never stale.
   *
   * @example
   * ```ts
   * import { Memory } from '@larder/memory';
   * const { removed, freedBytes } = await new Memory('.cache', { staleAfter: '30d' }).clearStale();
   * ```
   */
  async clearStale(): Promise<ReduceSizeResult> {
    if (!this.blobs || !this.keeper || !(await this.guard!.writable('prune it', false))) return { removed: 0, freedBytes: 0 };
    await this.keeper.flush();
    return (await this.withIndex(async (index) => {
      await this.autoReconcile(index);
      return clearStaleFromIndex(this.maintained()!, index);
    })) ?? { removed: 0, freedBytes: 0 };
  }

  /** Entries, bytes, hits, misses, compute time saved and stale entries, in total and per function: aggregates computed by the index. */
  async stats(): Promise<CacheStats> {
    const reader = await this.reader('read its statistics');
    const empty: CacheStats = { entries: 0, bytes: 0, hits: 0, misses: 0, computeTimeSavedMs: 0, staleEntries: 0, staleBytes: 0, perFunction: {} };
    if (!reader) return empty;
    try {
      return (await this.guarded(() => reader.run((index) => statsOf(index, this.options.staleAfterMs)))) ?? empty;
    } finally {
      await reader.close();
    }
  }

  /**
   * Streams the entries from the index, a page at a time (never every record at once).
   *
   * @example
   * ```ts
   * import { Memory } from '@larder/memory';
   * const memory = new Memory('.cache');
   * for await (const entry of memory.entries({ function: 'simulate' })) console.log(entry.id, entry.bytes, entry.stale);
   * ```
   */
  async *entries(options?: EntriesOptions): AsyncGenerator<EntrySummary> {
    const resolved = resolveEntriesOptions(options);
    const reader = await this.reader('list its entries');
    if (!reader) return;
    try {
      yield* entriesOf((work) => reader.run(work), resolved, this.options.staleAfterMs);
    } finally {
      await reader.close();
    }
  }

  /**
   * Every entry with its size, creation, last access, compute time and hits, in one array
   * (for small caches; `entries()` streams).
   *
   * @example
   * ```ts
   * import { Memory } from '@larder/memory';
   * console.table(await new Memory('.cache').list());
   * ```
   */
  async list(): Promise<EntrySummary[]> {
    const out: EntrySummary[] = [];
    for await (const entry of this.entries()) out.push(entry);
    return out;
  }

  /**
   * How listings read the index: the open index of a marked location (pending bookkeeping
   * flushed first, reconciled once when it asks for it), or, on a location larder has not marked,
   * a read-only view that changes nothing (its index file read as it is, or, without one of
   * this release, an in-memory index filled from the files). Undefined for a missing location
   * or a pass-through; a location that is a file or unreadable throws.
   */
  private async reader(doing: string): Promise<IndexReader | undefined> {
    if (!this.keeper || !this.guard || !this.blobs) return undefined;
    const state = await this.guard.state();
    if (state.kind === 'refused' && !state.folder) throw this.guard.notACache(state.reason, doing, state.cause);
    if (state.kind === 'marked' || this.options.index !== undefined) {
      await this.keeper.flush();
      const keeper = this.keeper;
      return {
        run: (work) => keeper.useIndex(async (index) => {
          await this.autoReconcile(index);
          return work(index);
        }),
        close: async () => undefined,
      };
    }
    if (state.kind === 'missing') return undefined;
    const folder = this.cacheLocation!.path;
    let index = folder === undefined ? undefined : await openIndexSnapshot(join(folder, 'index.sqlite'));
    if (!index) {
      index = new MemoryIndexStore('memory (read from the result files)');
      await reconcileIndex(this.maintained()!, index);
    }
    const opened = index;
    return { run: (work) => work(opened), close: () => opened.close() };
  }

  /** Runs `work`; an index failure warns and yields undefined (results are unaffected). */
  private async guarded<T>(work: () => Promise<T>): Promise<T | undefined> {
    try {
      return await work();
    } catch (error) {
      this.warnIndexFailure(error);
      return undefined;
    }
  }

  /** Indexes this Memory already checked for a needed reconcile. */
  private readonly autoChecked = new WeakSet<IndexStore>();

  /** The cheap automatic check (see maintenance.ts needsReconcile), once per opened index. */
  private async autoReconcile(index: IndexStore): Promise<void> {
    if (this.autoChecked.has(index)) return;
    this.autoChecked.add(index);
    const m = this.maintained();
    if (m && (await needsReconcile(m, index))) await reconcileIndex(m, index);
  }

  private maintained(): Maintained | undefined {
    if (!this.blobs || !this.keeper) return undefined;
    return { location: this.cacheLocation!, staleAfterMs: this.options.staleAfterMs, names: this.functionNames() };
  }

  /**
   * Deletes the entries of the function named `name` (any body or version): its index records,
   * and its files (its own folder is swept, so files the index missed go too). Returns how many
   * entries the index had.
   *
   * @example
   * ```ts
   * import { Memory } from '@larder/memory';
   * await new Memory('.cache').clearFunction('simulate');
   * ```
   */
  async clearFunction(name: string): Promise<number> {
    if (typeof name !== 'string' || name === '') badOption('clearFunction(name)', 'a function name', name);
    return (await this.cacheLocation?.clearFunction(functionFolder(name), `clear the entries of ${name}`)) ?? 0;
  }


  /**
   * Makes the index agree with the result files (this walks them): every file gets an entry
   * record (from its own header when the index lost it: a process killed before its flush, a
   * record deleted by a concurrent `clear()` / `reduceSize()` while another process rewrote the
   * entry) with the file's size, and every entry record without a file is dropped. Also removes
   * temp files left by writers that died. Run it when the location is quiet for an exact
   * result: a writer active meanwhile can leave one record behind again. The files are the
   * truth for values either way; the index is what listings read.
   *
   * @example
   * ```ts
   * import { Memory } from '@larder/memory';
   * const { added, removed } = await new Memory('.cache').reconcile();
   * ```
   */
  async reconcile(): Promise<{ added: number; removed: number }> {
    if (!this.blobs || !this.keeper || !(await this.guard!.writable('reconcile its index', false))) return { added: 0, removed: 0 };
    await this.keeper.flush();
    await this.cacheLocation!.sweep();
    const outcome = await this.withIndex((index) => {
      this.autoChecked.add(index);
      return reconcileIndex(this.maintained()!, index);
    });
    return outcome ?? { added: 0, removed: 0 };
  }

  /** Writes pending bookkeeping and closes the index. The Memory stays usable (the index reopens on demand). */
  async close(): Promise<void> {
    await this.cacheLocation?.close();
  }

  /** `await using memory = new Memory(...)` closes it at the end of the block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Function name per folder, for entries whose index record is gone. */
  private functionNames(): Map<string, string> {
    return new Map(this.functions);
  }

  /** Runs `work` on the index; a failing index warns and yields undefined instead of failing the caller. */
  private async withIndex<T>(work: (index: IndexStore) => Promise<T>): Promise<T | undefined> {
    const keeper = this.keeper;
    return keeper && this.guarded(() => keeper.useIndex(work));
  }

  private warnIndexFailure(error: unknown): void {
    this.warn('index', new MemoryWarning('LARDER_INDEX', `the index failed (results are unaffected; statistics may be incomplete): ${(error as Error)?.message ?? String(error)}`, { cause: error }));
  }

  /** Delivers a warning once per (scope, code). */
  private warn(scope: string, warning: MemoryWarning): void {
    const id = `${scope}\0${warning.code}`;
    if (this.warned.has(id)) return;
    this.warned.add(id);
    this.options.onWarning(warning);
  }
}

