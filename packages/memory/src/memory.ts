/**
 * `Memory`: a location, the cached functions filed in it, and the maintenance
 * of it (clear, reduceSize, stats, list). The location itself (entry store,
 * index, leases, what may be written where) is cache-location.ts; the call
 * path is cached-function.ts.
 *
 * What may happen where: writing and deleting need a marked (or adoptable) location
 * (LocationGuard); entries are only listed, written and removed through the entry
 * store (store-fs's FolderStore, which never follows a symlink).
 */
import { join } from 'node:path';
import { closeLoaded, type FolderStore } from '@larder/store-fs';
import { entryRecordKey, functionRecordKey, type Bookkeeper, type EntryRecord, type FunctionRecord } from './bookkeeping.js';
import { CacheLocation } from './cache-location.js';
import { createCachedFunction, type Cacheable, type CachedFunction, type CacheContext } from './cached-function.js';
import { UNREADABLE } from './entry.js';
import { badOption, type MemoryWarning } from './errors.js';
import { readIndexSnapshot } from './index-probe.js';
import type { IndexStore } from './index-store.js';
import { functionFolder, functionIdentity } from './key.js';
import { notACacheError, type LocationGuard } from './location.js';
import type { EntryFile } from './tree.js';
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
  /** The location's entry store, index, leases and guard; undefined for a pass-through. */
  private readonly cacheLocation: CacheLocation | undefined;
  private readonly warned = new Set<string>();
  /** Per function folder, the name of the function last cached under it (for entries the index lost). */
  private readonly functions = new Map<string, string>();
  private readonly context: CacheContext;

  constructor(location?: string | null, options?: MemoryOptions) {
    if (location !== undefined && location !== null && (typeof location !== 'string' || location === '')) {
      badOption('location', 'a folder path, null or undefined', location);
    }
    this.options = resolveMemoryOptions(options);
    this.location = location ?? null;
    const warn = (scope: string, warning: MemoryWarning) => this.warn(scope, warning);
    this.cacheLocation = location ? new CacheLocation(location, this.options, warn) : undefined;
    this.context = { location: this.cacheLocation, warn, log: this.options.log, createdAt: performance.now() };
  }

  // The maintenance methods below work on the location's parts.
  private get blobs(): FolderStore | undefined {
    return this.cacheLocation?.store;
  }

  private get keeper(): Bookkeeper | undefined {
    return this.cacheLocation?.keeper;
  }

  private get guard(): LocationGuard | undefined {
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
    await this.cacheLocation!.sweep();
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
    const files = await this.cacheLocation!.listEntries();
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
    return (await this.cacheLocation?.clearFunction(functionFolder(name), `clear the entries of ${name}`)) ?? 0;
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
    const location = this.cacheLocation!;
    await location.sweep();
    const files = await location.listEntries();
    const names = this.functionNames();
    const outcome = await this.withIndex((index) => index.transaction(async () => {
      const records = await index.getMany<EntryRecord>(files.map((file) => entryRecordKey(file.key)));
      const added = files.filter((_, i) => records[i] === undefined).map((file) => ({ key: entryRecordKey(file.key), value: recordFromFile(location, file, names) }));
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

  /** Deletes entries (files first: the files are the truth) and their index records. */
  private async remove(keys: string[]): Promise<void> {
    await this.cacheLocation?.remove(keys);
  }

  /** Runs `work` on the index; a failing index warns and yields undefined instead of failing the caller. */
  private async withIndex<T>(work: (index: IndexStore) => Promise<T>): Promise<T | undefined> {
    return this.cacheLocation?.withIndex(work);
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
function recordFromFile(location: CacheLocation, file: EntryFile, names: ReadonlyMap<string, string>): EntryRecord {
  const folder = file.key.slice(0, file.key.indexOf('/'));
  // Mapped, so only the header and manifest are read; the value is not kept, so its file is closed.
  const read = location.readAny(file.key);
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
