/**
 * `Memory`: a location on disk, the cached functions filed in it, and the
 * maintenance of it (clear, reduceSize, stats, list). The call path itself
 * lives in cached-function.ts.
 *
 * Layout of a location:
 *   <location>/CACHEDIR.TAG, <location>/larder-cache.json                 the marks (location.ts)
 *   <location>/results/<function folder>/<function id>/<arguments hash>   store-fs files, one per entry
 *   <location>/index.sqlite (+ -wal, -shm)                                  the index (hints)
 *
 * What may happen where: writing and deleting need a marked (or adoptable) location
 * (LocationGuard); the tree is only walked, written and pruned through tree.ts, which
 * never follows a symlink.
 */
import { join } from 'node:path';
import { BlobStore, closeLoaded, type Mapped } from '@larder/store-fs';
import { Bookkeeper, entryRecordKey, functionRecordKey, type EntryRecord, type FunctionRecord } from './bookkeeping.js';
import { createCachedFunction, type Cacheable, type CachedFunction, type CacheContext } from './cached-function.js';
import { readEntry, UNREADABLE } from './entry.js';
import { badOption, MemoryWarning } from './errors.js';
import { readIndexSnapshot } from './index-probe.js';
import { openIndexOption, openLocationIndex, type IndexStore } from './index-store.js';
import { functionFolder, functionIdentity } from './key.js';
import { LocationGuard, notACacheError } from './location.js';
import { listEntryFiles, removeEntryFiles, removeTree, sweepStaleTemps, type EntryFile } from './tree.js';
import { resolveCacheOptions, resolveMemoryOptions, type CacheOptions, type MemoryOptions, type ResolvedMemoryOptions } from './options.js';
import { planReduction, resolveLimits, type ReduceSizeOptions, type ReduceSizeResult } from './reduce-size.js';
import { summarizeEntries, summarizeStats, type CacheStats, type EntrySummary } from './stats.js';

/**
 * joblib's Memory: caches function results in `location`, keyed by the
 * function's identity and a hash of its arguments. `new Memory()` or
 * `new Memory(null)` is a pass-through with the same API.
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
  /** The folder holding the cache, or null for a pass-through. */
  readonly location: string | null;
  private readonly options: ResolvedMemoryOptions;
  private readonly blobs: BlobStore | undefined;
  private readonly keeper: Bookkeeper | undefined;
  private readonly warned = new Set<string>();
  /** Per function folder, the name of the function last cached under it (for entries the index lost). */
  private readonly functions = new Map<string, string>();
  private readonly guard: LocationGuard | undefined;
  /** Whether `<location>/index.sqlite` was already checked to be larder's (see openLocationIndex). */
  private indexChecked = false;
  private readonly context: CacheContext;

  constructor(location?: string | null, options?: MemoryOptions) {
    if (location !== undefined && location !== null && (typeof location !== 'string' || location === '')) {
      badOption('location', 'a folder path, null or undefined', location);
    }
    this.options = resolveMemoryOptions(options);
    this.location = location ?? null;
    if (location) {
      this.guard = new LocationGuard(location);
      this.blobs = new BlobStore(join(location, 'results'));
      this.keeper = new Bookkeeper(
        () => this.openIndex(location),
        (warning) => this.warn('index', warning),
        this.options.flushIntervalMs,
        (error) => new MemoryWarning('LARDER_INDEX', `the index could not be updated; hit counts and access times of the last moments are lost (results are unaffected): ${(error as Error)?.message ?? String(error)}`, { cause: error }),
      );
    }
    const blobs = this.blobs;
    const keeper = this.keeper;
    const guard = this.guard;
    this.context = {
      location: blobs && keeper && guard ? {
        blobs, keeper, guard,
        remove: (keys) => this.remove(keys),
        clearFunction: async (folder) => {
          if (!(await guard.writable(`clear the entries of ${folder}`, false))) return;
          await this.remove((await listEntryFiles(blobs.root, folder)).map((file) => file.key));
          await removeTree(blobs.root, folder);
        },
      } : undefined,
      warn: (scope, warning) => this.warn(scope, warning),
      log: this.options.log,
      createdAt: performance.now(),
    };
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
    await removeTree(this.blobs.root);
    await this.withIndex((index) => index.clear());
  }

  /**
   * Removes least recently used entries until every given limit holds.
   *
   * @example
   * ```ts
   * import { Memory } from '@larder/memory';
   * await new Memory('.cache').reduceSize({ bytesLimit: '500M' });
   * ```
   */
  async reduceSize(options: ReduceSizeOptions = {}): Promise<ReduceSizeResult> {
    const limits = resolveLimits(options);
    if (!this.blobs || !(await this.guard!.writable('prune it', false))) return { removed: 0, freedBytes: 0 };
    const entries = await this.list();
    const remove = planReduction(entries.map((e) => ({ key: e.id, bytes: e.bytes, lastAccessMs: e.lastAccessMs })), limits, Date.now());
    await this.remove(remove.map((entry) => entry.key));
    await sweepStaleTemps(this.blobs.root);
    return { removed: remove.length, freedBytes: remove.reduce((sum, entry) => sum + entry.bytes, 0) };
  }

  /** Entries, bytes, hits, misses and compute time saved, in total and per function. */
  async stats(): Promise<CacheStats> {
    const view = await this.indexView('read its statistics');
    const entries = await this.listWith(view);
    // Every function the index has counts for, so any Memory (or `larder stats`) on this location
    // reports the same totals, including functions whose entries were all cleared.
    const recorded = (await view.keys(functionRecordKey(''))) ?? [];
    const folders = new Set([
      ...recorded.map((key) => key.slice(functionRecordKey('').length)),
      ...this.functions.keys(),
      ...entries.map((e) => e.id.slice(0, e.id.indexOf('/'))),
    ]);
    const records = await view.getMany<FunctionRecord>([...folders].map(functionRecordKey));
    const functions = new Map<string, FunctionRecord>();
    [...folders].forEach((folder, i) => {
      const record = records?.[i];
      if (record) functions.set(folder, record);
    });
    return summarizeStats(entries, functions);
  }

  /**
   * Every entry on disk with its size, creation, last access, compute time and hits.
   *
   * @example
   * ```ts
   * import { Memory } from '@larder/memory';
   * console.table(await new Memory('.cache').list());
   * ```
   */
  async list(): Promise<EntrySummary[]> {
    return this.listWith(await this.indexView('list its entries'));
  }

  private async listWith(view: IndexView): Promise<EntrySummary[]> {
    if (!this.blobs) return [];
    const files = await listEntryFiles(this.blobs.root);
    const records = (await view.getMany<EntryRecord>(files.map((f) => entryRecordKey(f.key)))) ?? [];
    return summarizeEntries(files, records, this.functionNames());
  }

  /**
   * Where `stats`/`list` read index records: the open index of a marked location (pending
   * bookkeeping flushed first), or, on a location larder has not marked (or a missing one), a
   * snapshot read that changes nothing. A location that is a file or unreadable throws.
   */
  private async indexView(doing: string): Promise<IndexView> {
    const none: IndexView = { getMany: async () => undefined, keys: async () => undefined };
    if (!this.keeper || !this.guard) return none;
    const state = await this.guard.state();
    if (state.kind === 'refused' && !state.folder) throw notACacheError(this.guard.location, state.reason, doing, state.cause);
    if (state.kind === 'marked' || this.options.index !== undefined) {
      await this.keeper.flush();
      return {
        getMany: <T>(keys: readonly string[]) => this.withIndex((index) => index.getMany<T>(keys)),
        keys: (prefix: string) => this.withIndex((index) => index.keys(prefix)).then((keys) => keys ?? undefined),
      };
    }
    if (state.kind === 'missing') return none;
    const snapshot = await readIndexSnapshot(join(this.guard.location, 'index.sqlite'));
    return {
      getMany: async <T>(keys: readonly string[]) => keys.map((key) => snapshot.get(key) as T | undefined),
      keys: async (prefix: string) => [...snapshot.keys()].filter((key) => key.startsWith(prefix)),
    };
  }

  /**
   * Deletes the entries of the function named `name` (any body or version). Returns how many were removed.
   *
   * @example
   * ```ts
   * import { Memory } from '@larder/memory';
   * await new Memory('.cache').clearFunction('simulate');
   * ```
   */
  async clearFunction(name: string): Promise<number> {
    if (!this.blobs || !(await this.guard!.writable(`clear the entries of ${name}`, false))) return 0;
    const folder = functionFolder(name);
    const files = await listEntryFiles(this.blobs.root, folder);
    await this.remove(files.map((file) => file.key));
    await removeTree(this.blobs.root, folder);
    return files.length;
  }

  /**
   * Makes the index agree with the result files: every file gets an entry record (from
   * its own header when the index lost it: a process killed before its flush, a record
   * deleted by a concurrent `clear()` / `reduceSize()` while another process rewrote the
   * entry) and every entry record without a file is dropped. Run it when the location is
   * quiet for an exact result: a writer active meanwhile can leave one record behind again.
   * The files are the truth either way; this only repairs statistics.
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
    const blobs = this.blobs;
    await sweepStaleTemps(blobs.root);
    const files = await listEntryFiles(blobs.root);
    const names = this.functionNames();
    const outcome = await this.withIndex((index) => index.transaction(async () => {
      const records = await index.getMany<EntryRecord>(files.map((file) => entryRecordKey(file.key)));
      const added = files.filter((_, i) => records[i] === undefined).map((file) => ({ key: entryRecordKey(file.key), value: recordFromFile(blobs, file, names) }));
      await index.setMany(added);
      const onDisk = new Set(files.map((file) => entryRecordKey(file.key)));
      const orphans: string[] = [];
      for (const key of (await index.keys(entryRecordKey(''))) ?? []) {
        // Checked again one by one: a file may have been written since the listing.
        if (!onDisk.has(key) && !(await blobs.has(key.slice(entryRecordKey('').length)).catch(() => true))) orphans.push(key);
      }
      await index.deleteMany(orphans);
      return { added: added.length, removed: orphans.length };
    }));
    return outcome ?? { added: 0, removed: 0 };
  }

  /** Writes pending bookkeeping and closes the index. The Memory stays usable (the index reopens on demand). */
  async close(): Promise<void> {
    await this.keeper?.close();
  }

  /** `await using memory = new Memory(...)` closes it at the end of the block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Function name per folder, for entries whose index record is gone. */
  private functionNames(): Map<string, string> {
    return new Map(this.functions);
  }

  /** Deletes entries (files first: the files are the truth) and their index records. */
  private async remove(keys: string[]): Promise<void> {
    if (!this.blobs || !this.keeper || keys.length === 0) return;
    if (!(await this.guard!.writable('delete entries', false))) return;
    for (const key of keys) this.keeper.forget(key);
    await removeEntryFiles(this.blobs.root, keys);
    await this.withIndex((index) => index.deleteMany(keys.map(entryRecordKey)));
  }

  private async openIndex(location: string): Promise<IndexStore> {
    const warn = (warning: MemoryWarning) => this.warn('index', warning);
    if (this.options.index !== undefined) return openIndexOption(this.options.index, warn);
    // The index is written: only in a location larder marked (or may adopt, and marks now).
    await this.guard!.writable('write its index', true);
    const index = await openLocationIndex(location, warn, this.indexChecked);
    // Checked once: a file found to be larder's index (or created by it) stays so for this Memory.
    if (!index.description.startsWith('memory (bypassing')) this.indexChecked = true;
    return index;
  }

  /** Runs `work` on the index; a failing index warns and yields undefined instead of failing the caller. */
  private async withIndex<T>(work: (index: IndexStore) => Promise<T>): Promise<T | undefined> {
    if (!this.keeper) return undefined;
    try {
      return await this.keeper.useIndex(work);
    } catch (error) {
      this.warn('index', new MemoryWarning('LARDER_INDEX', `the index failed (results are unaffected; statistics may be incomplete): ${(error as Error)?.message ?? String(error)}`, { cause: error }));
      return undefined;
    }
  }

  /** Delivers a warning once per (scope, code). */
  private warn(scope: string, warning: MemoryWarning): void {
    const id = `${scope}\0${warning.code}`;
    if (this.warned.has(id)) return;
    this.warned.add(id);
    this.options.onWarning(warning);
  }
}

/** An entry record rebuilt from the file: name and times from its envelope, or from the folder and mtime when it cannot be read. */
function recordFromFile(blobs: BlobStore, file: EntryFile, names: ReadonlyMap<string, string>): EntryRecord {
  const folder = file.key.slice(0, file.key.indexOf('/'));
  // Mapped, so only the header and manifest are read; the value is not kept, so its file is closed.
  const read = readEntry(blobs.pathOf(file.key), 'r', () => undefined);
  const entry = read === UNREADABLE ? undefined : read;
  if (entry) closeLoaded(entry);
  return {
    name: entry?.name ?? names.get(folder) ?? folder,
    createdMs: entry?.createdMs ?? file.mtimeMs,
    lastAccessMs: file.mtimeMs,
    computeMs: entry?.computeMs ?? 0,
    hits: 0,
  };
}

/** Where stats and list read index records from (undefined: no index to ask). */
interface IndexView {
  getMany<T>(keys: readonly string[]): Promise<(T | undefined)[] | undefined>;
  keys(prefix: string): Promise<string[] | undefined>;
}
