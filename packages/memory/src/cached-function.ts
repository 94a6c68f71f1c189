/**
 * A cached function, read front to back:
 *
 * hit:  args → hash → entry key → one file read (entry.ts) → decode → checks
 *       (expiry, validate) → value; the hit is noted in memory for the index.
 * miss: compute → encode → atomic write (entry.ts) → note for the index → value.
 *
 * Concurrent identical calls in one thread share one computation (`inflight`);
 * across threads and processes, a miss first takes the entry's lease (lease.ts):
 * the holder computes, the others wait for its entry file to appear.
 * The first call of a function asks the Memory once whether its location may be
 * written (location.ts); a location that is not a larder cache makes the
 * function compute without storing, with one warning. Nothing is deleted at
 * call time: entries of other bodies of a name stay where they are.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { closeLoaded, type BlobStore } from '@larder/store-fs';
import type { Bookkeeper } from './bookkeeping.js';
import { MemoryWarning, type MemoryErrorCode } from './errors.js';
import { readEntry, UNREADABLE, writeEntry, type Envelope } from './entry.js';
import { awaitTurn, worthALease } from './lease.js';
import { argumentsHash, type FunctionIdentity } from './key.js';
import type { LocationGuard } from './location.js';
import { ensureEntryFolder, isBodyFolderName } from './tree.js';
import type { CallInfo, ResolvedCacheOptions } from './options.js';
import { HeldShelvedResult, StoredShelvedResult, type ShelfAccess, type ShelvedResult } from './shelved.js';
import { callingLines, doneLine, formatArgs, loadingLine } from './verbose.js';

/** Any function a Memory can cache. */
export type Cacheable = (...args: never[]) => unknown;

/**
 * What `memory.cache(fn)` returns: `fn` with a cache in front. Keeps `fn`'s
 * parameter types; always returns a Promise of the awaited result `R` (with
 * `{ mmap: 'r' }`, store-fs's `Mapped<R>`: a large typed array may be a
 * `MappedArray` where real memory maps are unavailable).
 *
 * @example
 * ```ts
 * import { Memory } from '@larder/memory';
 * const memory = new Memory('.cache');
 * const slow = memory.cache(async function slow(n: number) { return n * 2; });
 * await slow(21);                    // computed and stored: 42
 * await slow(21);                    // read from .cache: 42
 * await slow.isCached(21);           // true
 * const { value, info } = await slow.call(21); // recomputed, entry refreshed
 * await slow.clear();
 * ```
 */
export interface CachedFunction<F extends Cacheable, R = Awaited<ReturnType<F>>> {
  (...args: Parameters<F>): Promise<R>;
  /** Whether a call with these arguments would be a hit (joblib's check_call_in_cache). Does not count as a hit. */
  isCached(...args: Parameters<F>): Promise<boolean>;
  /** Like a call, but returns a handle on the stored result instead of the value. */
  callAndShelve(...args: Parameters<F>): Promise<ShelvedResult<R>>;
  /** Always computes, overwrites the entry, and returns the value with facts about it. */
  call(...args: Parameters<F>): Promise<{ value: R; info: CallInfo }>;
  /** Deletes every entry of this function's name (all bodies and versions). */
  clear(): Promise<void>;
  /** The original function. */
  readonly fn: F;
}

/** What a cached function needs from its Memory. */
export interface CacheContext {
  /** Undefined for a pass-through Memory. */
  location: {
    blobs: BlobStore;
    keeper: Bookkeeper;
    /** What the Memory may do in its location. */
    guard: LocationGuard;
    remove(keys: string[]): Promise<void>;
    /** Deletes the entries of one function folder (every body), through the location's guard. */
    clearFunction(folder: string): Promise<void>;
  } | undefined;
  /** Delivers a warning once per (scope, code). */
  warn(scope: string, warning: MemoryWarning): void;
  log(message: string): void;
  /** performance.now() when the Memory was created: joblib's Loading lines count from it. */
  createdAt: number;
}

interface Outcome { value: unknown; info: CallInfo }

/** A lookup's answer: the entry, a miss, or an entry that exists but could not be read now. */
type Lookup = Envelope | undefined | typeof UNREADABLE;

class CachedCall {
  private readonly inflight = new Map<string, Promise<Outcome>>();
  /** The first call's check of the location: true once done. */
  private prepared: Promise<void> | true | undefined;
  /** Set when the location is not a larder cache: calls then compute and store nothing. */
  private refused = false;
  /** How long this function's last computation in this thread took (undefined before the first). */
  private lastComputeMs: number | undefined;
  private readonly shelf: ShelfAccess | undefined;
  /** `<folder>/<id>/`: entry keys are this plus the arguments hash. */
  private readonly keyPrefix: string;
  private readonly pathOf: ((argsHash: string) => string) | undefined;

  constructor(
    readonly fn: Cacheable,
    readonly options: ResolvedCacheOptions,
    readonly context: CacheContext,
    readonly identity: FunctionIdentity,
  ) {
    const location = context.location;
    this.keyPrefix = `${this.identity.folder}/${this.identity.id}/`;
    // The prefix is checked once here; each hit then costs one test of the arguments hash.
    this.pathOf = location && location.blobs.pathsUnder(this.keyPrefix.slice(0, -1));
    this.shelf = location && { blobs: location.blobs, mmap: options.mmap, remove: (keys) => location.remove(keys), warnBad: (key, error, unreadable) => this.warnBad(key, error, unreadable) };
  }

  /** The plain call, kept short: a hit returns without leaving this function. */
  invoke(args: unknown[]): Promise<unknown> {
    if (this.prepared !== true) return this.prepare().then(() => this.invoke(args));
    if (!this.context.location || this.refused) return this.compute(undefined, args, false).then(valueOf);
    let argsHash: string;
    try {
      argsHash = this.argsHashOf(args);
    } catch (error) {
      return Promise.reject(error);
    }
    const running = this.inflight.get(argsHash);
    if (running) return running.then(valueOf);
    const entry = this.lookup(argsHash, true);
    if (entry === undefined) return this.compute(argsHash, args, false).then(valueOf);
    if (entry === UNREADABLE) return this.compute(argsHash, args, false, false).then(valueOf);
    return Promise.resolve(entry.value);
  }

  /** A call that also returns facts about the result; `force` always computes. */
  async invokeWithInfo(args: unknown[], force: boolean): Promise<Outcome> {
    await this.prepare();
    if (!this.context.location || this.refused) return this.compute(undefined, args, true);
    const argsHash = this.argsHashOf(args);
    if (!force) {
      const running = this.inflight.get(argsHash);
      if (running) return running;
      const entry = this.lookup(argsHash, true);
      if (entry === UNREADABLE) return this.compute(argsHash, args, false, false);
      if (entry) return { value: entry.value, info: this.infoOf(this.keyPrefix + argsHash, entry, Date.now(), true) };
    }
    return this.compute(argsHash, args, force);
  }

  async isCached(args: unknown[]): Promise<boolean> {
    const location = this.context.location;
    if (!location || this.refused) return false;
    // Read-only: never marks or creates anything; a location that is not larder's holds no entry of ours.
    const state = await location.guard.state();
    if (state.kind !== 'marked' && state.kind !== 'adoptable') return false;
    const entry = this.lookup(this.argsHashOf(args), false);
    if (entry === undefined || entry === UNREADABLE) return false;
    // Only its existence was asked for: release the file it was mapped from (O(1), however deep the value).
    closeLoaded(entry);
    return true;
  }

  async shelve(args: unknown[]): Promise<ShelvedResult<unknown>> {
    const { value, info } = await this.invokeWithInfo(args, false);
    if (info.stored && this.shelf) return new StoredShelvedResult(info.id, info, this.shelf);
    return new HeldShelvedResult(info.id, info, value);
  }

  async clear(): Promise<void> {
    await this.context.location?.clearFunction(this.identity.folder);
  }

  private argsHashOf(args: unknown[]): string {
    return argumentsHash(args, this.options.ignore, this.options.key);
  }

  /**
   * Reads the entry and applies expiry and `validate`; `countHit` notes the hit for the index.
   * Without `countHit` (isCached) the entry is read mapped, so the caller must `closeLoaded` it.
   */
  private lookup(argsHash: string, countHit: boolean): Lookup {
    const { verbose, expiresAfterMs, validate } = this.options;
    const key = this.keyPrefix + argsHash;
    const mmap = countHit ? this.options.mmap : 'r';
    const entry = readEntry(this.pathOf!(argsHash), mmap, (error, unreadable) => this.warnBad(key, error, unreadable), key, this.identity.name);
    if (entry === undefined || entry === UNREADABLE) return entry;
    const now = Date.now();
    if ((expiresAfterMs !== undefined && now - entry.createdMs > expiresAfterMs) || (validate && !validate(this.infoOf(key, entry, now, true)))) {
      if (mmap) closeLoaded(entry);
      return undefined;
    }
    if (countHit) {
      this.context.location!.keeper.hit(key, this.identity.folder, this.identity.name, entry.createdMs, entry.computeMs, now);
      if (verbose >= 2) {
        const path = verbose >= 10 ? this.pathOf!(argsHash) : undefined;
        this.context.log(loadingLine(this.identity.name, entry.args, performance.now() - this.context.createdAt, path));
      }
    }
    return entry;
  }

  /**
   * Computes, stores, and shares the computation with identical calls that arrive meanwhile.
   * A miss (not `force`) first waits its turn among other threads and processes.
   */
  private compute(argsHash: string | undefined, args: unknown[], force: boolean, store = true): Promise<Outcome> {
    const useLease = argsHash !== undefined && store && !force && this.options.dedupe && worthALease(this.lastComputeMs);
    const run = useLease ? this.computeInTurn(argsHash, args) : this.computeAndStore(argsHash, args, store);
    if (argsHash !== undefined) {
      this.inflight.set(argsHash, run);
      const done = () => void (this.inflight.get(argsHash) === run && this.inflight.delete(argsHash));
      run.then(done, done);
    }
    return run;
  }

  /** A miss under the entry's lease: computes if this caller gets it, else returns what the holder stored. */
  private async computeInTurn(argsHash: string, args: unknown[]): Promise<Outcome> {
    // The lease file goes into the entry's folder: it must be a real folder of the location.
    if (!this.folderReady()) return this.computeAndStore(argsHash, args, false);
    const turn = await awaitTurn(this.pathOf!(argsHash), this.options.leaseMs, () => this.lookup(argsHash, true));
    if ('entry' in turn) return { value: turn.entry.value, info: this.infoOf(this.keyPrefix + argsHash, turn.entry, Date.now(), true) };
    try {
      return await this.computeAndStore(argsHash, args, turn.store);
    } finally {
      turn.lease?.release();
    }
  }

  /** Computes; stores the result unless `store` is false (the entry exists but could not be read: leave it be). */
  private async computeAndStore(argsHash: string | undefined, args: unknown[], store = true): Promise<Outcome> {
    const key = argsHash === undefined ? undefined : this.keyPrefix + argsHash;
    const { name } = this.identity;
    const { verbose } = this.options;
    // Formatted before the call: what the arguments were when they were hashed.
    const argsText = formatArgs(args);
    // A pass-through Memory prints nothing, as joblib's NotMemorizedFunc.
    const talk = verbose >= 1 && this.context.location !== undefined;
    if (talk) this.context.log(callingLines(name, argsText));
    const started = performance.now();
    const value = await (this.fn as (...a: unknown[]) => unknown)(...args);
    const computeMs = performance.now() - started;
    this.lastComputeMs = computeMs;
    if (talk) this.context.log(doneLine(name, computeMs));
    const createdMs = Date.now();
    const info: CallInfo = { id: key ?? `${this.identity.folder}/uncached`, functionName: name, createdMs, computeMs, ageMs: 0, args: argsText, cached: false, stored: false };
    const location = this.context.location;
    if (!location || key === undefined) return { value, info };
    location.keeper.miss(this.identity.folder, name);
    if (!store || !this.folderReady()) return { value, info };
    const written = writeEntry(location.blobs, key, { larder: 1, name, createdMs, computeMs, args: argsText, key, value });
    if (typeof written !== 'number') {
      const what = written.unsupported ? 'cannot be stored (store-fs takes plain data: objects, arrays, Map, Set, typed arrays, Date, bigint...)' : 'could not be written (disk full, read-only location or permissions?)';
      this.warn('LARDER_NOT_STORED', `the result of ${name} ${what}; it was returned without caching. ${messageOf(written.error)}`, written.error);
      return { value, info };
    }
    info.stored = true;
    location.keeper.stored(key, { name, createdMs, lastAccessMs: createdMs, computeMs, hits: 0 });
    // With mmap the caller gets what a hit would give: the stored file, mapped.
    if (this.options.mmap) {
      const entry = readEntry(this.pathOf!(argsHash!), 'r', (error, unreadable) => this.warnBad(key, error, unreadable), key, name);
      if (entry !== undefined && entry !== UNREADABLE) return { value: entry.value, info };
    }
    return { value, info };
  }

  private infoOf(key: string, entry: Envelope, now: number, cached: boolean): CallInfo {
    return { id: key, functionName: this.identity.name, createdMs: entry.createdMs, computeMs: entry.computeMs, ageMs: now - entry.createdMs, args: entry.args, cached, stored: true };
  }

  /**
   * Once per function: whether its location may be written (a refusal warns once and makes this
   * function compute without storing), and at verbose >= 1 whether other bodies of its name have
   * entries (they are kept: switching back to one hits its entries).
   */
  private prepare(): Promise<void> {
    if (this.prepared === true) return Promise.resolve();
    this.prepared ??= this.checkLocation().then(() => void (this.prepared = true));
    return this.prepared;
  }

  private async checkLocation(): Promise<void> {
    const location = this.context.location;
    if (!location) return;
    const refusal = await location.guard.forCalls();
    if (refusal) {
      this.refused = true;
      this.context.warn('location', new MemoryWarning('LARDER_NOT_A_CACHE', `${refusal.message.replace(/^\[larder\/memory\] /, '')} Cached functions compute their results and store nothing there.`, { cause: refusal }));
      return;
    }
    if (this.options.verbose < 1) return;
    const { folder, id, name } = this.identity;
    const others = (await readdir(join(location.blobs.root, folder), { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory() && isBodyFolderName(e.name) && e.name !== id).length;
    if (others > 0) {
      this.context.log(`[Memory] Function ${name} has changed since it was cached (its source or version): computing its own entries; those of ${others} other ${others === 1 ? 'body' : 'bodies'} are kept`);
    }
  }

  /** Makes the entry's folder a real folder of the location; false (with a warning) when a symlink or a file is in the way. */
  private folderReady(): boolean {
    const { folder, id, name } = this.identity;
    try {
      ensureEntryFolder(this.context.location!.blobs.root, folder, id);
      return true;
    } catch (error) {
      const why = (error as { code?: unknown }).code === 'ELARDERPATH' ? 'could not be written' : 'could not be written (disk full, read-only location or permissions?)';
      this.warn('LARDER_NOT_STORED', `the result of ${name} ${why}; it was returned without caching. ${messageOf(error)}`, error);
      return false;
    }
  }

  private warnBad(key: string, error: unknown, unreadable: boolean): void {
    if (unreadable) {
      const code = (error as { code?: unknown }).code;
      const why = typeof code === 'string' ? code : 'an I/O error';
      const hint = code === 'EMFILE' || code === 'ENFILE' ? ' Too many files are open: close MappedArrays you no longer need, or raise the limit (ulimit -n).' : '';
      this.warn('LARDER_ENTRY_UNREADABLE', `the cached result ${key} of ${this.identity.name} could not be read (${why}); the call computed its value and the entry was left as it is.${hint} ${messageOf(error)}`, error);
      return;
    }
    this.warn('LARDER_ENTRY_CORRUPT', `the cached result ${key} of ${this.identity.name} is corrupt or unreadable; it is treated as a miss, recomputed and overwritten. ${messageOf(error)}`, error);
  }

  private warn(code: MemoryErrorCode, message: string, cause: unknown): void {
    this.context.warn(this.identity.folder, new MemoryWarning(code, message, { cause }));
  }
}

const valueOf = (outcome: Outcome): unknown => outcome.value;
const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** Wraps `fn` (see {@link CachedFunction}), filed under `identity`. */
export function createCachedFunction<F extends Cacheable>(fn: F, options: ResolvedCacheOptions, context: CacheContext, identity: FunctionIdentity): CachedFunction<F> {
  const core = new CachedCall(fn, options, context, identity);
  const cached = (...args: unknown[]) => core.invoke(args);
  Object.defineProperty(cached, 'name', { value: options.name });
  return Object.assign(cached, {
    fn,
    isCached: (...args: unknown[]) => core.isCached(args),
    callAndShelve: (...args: unknown[]) => core.shelve(args),
    call: (...args: unknown[]) => core.invokeWithInfo(args, true),
    clear: () => core.clear(),
  }) as unknown as CachedFunction<F>;
}
