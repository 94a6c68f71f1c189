/**
 * A cached function, read front to back:
 *
 * hit:  args → hash → entry key → one file read (call-lookup.ts, entry.ts) →
 *       decode → checks (expiry, validate) → value; the hit is noted in memory for the index.
 * miss: compute (call-compute.ts: in-thread dedup, the entry's lease across
 *       threads and processes) → encode → atomic write → note for the index → value.
 * What it says (verbose lines, warnings) is call-report.ts.
 *
 * The first call of a function asks the location once whether it may be
 * written (location.ts); a location that is not a larder cache makes the
 * function compute without storing, with one warning. Nothing is deleted at
 * call time: entries of other bodies of a name stay where they are.
 */
import { closeLoaded } from '@larder/store-fs';
import type { CacheLocation } from './cache-location.js';
import { Computation, type Outcome } from './call-compute.js';
import { EntryLookup, type Lookup } from './call-lookup.js';
import { CallReporter, type ReportSink } from './call-report.js';
import { UNREADABLE } from './entry.js';
import { argumentsHash, type FunctionIdentity } from './key.js';
import type { CallInfo, ResolvedCacheOptions } from './options.js';
import { HeldShelvedResult, StoredShelvedResult, type ShelvedResult } from './shelved.js';

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

/** What a cached function needs from its Memory: its location (undefined for a pass-through) and where to report. */
export interface CacheContext extends ReportSink {
  location: CacheLocation | undefined;
}

class CachedCall {
  /** The first call's check of the location: true once done. */
  private prepared: Promise<void> | true | undefined;
  /** Set when the location is not a larder cache: calls then compute and store nothing. */
  private refused = false;
  private readonly location: CacheLocation | undefined;
  private readonly report: CallReporter;
  private readonly lookup: EntryLookup | undefined;
  private readonly computation: Computation;

  constructor(
    readonly fn: Cacheable,
    readonly options: ResolvedCacheOptions,
    context: CacheContext,
    readonly identity: FunctionIdentity,
  ) {
    this.location = context.location;
    this.report = new CallReporter(identity, options.verbose, context, this.location !== undefined);
    this.lookup = this.location && new EntryLookup(this.location, identity, options, this.report);
    this.computation = new Computation(fn as (...args: unknown[]) => unknown, identity, options, this.report, this.location, this.lookup);
  }

  /** The plain call, kept short: a hit returns without leaving this function. */
  invoke(args: unknown[]): Promise<unknown> {
    if (this.prepared !== true) return this.prepare().then(() => this.invoke(args));
    if (!this.lookup || this.refused) return this.computation.compute(undefined, args, false).then(valueOf);
    let argsHash: string;
    try {
      argsHash = this.argsHashOf(args);
    } catch (error) {
      return Promise.reject(error);
    }
    const running = this.computation.running(argsHash, args);
    if (running) return running.then(valueOf);
    let entry: ReturnType<EntryLookup['hit']>;
    try {
      entry = this.lookup.hit(argsHash);
    } catch (error) {
      return Promise.reject(error); // validate threw (or returned no boolean): a rejection, never a synchronous throw
    }
    if (entry instanceof Promise) return entry.then((read) => this.afterLookup(read, argsHash, args));
    return this.afterLookup(entry, argsHash, args);
  }

  private afterLookup(entry: Lookup, argsHash: string, args: unknown[]): Promise<unknown> {
    if (entry === undefined) return this.computation.compute(argsHash, args, false).then(valueOf);
    if (entry === UNREADABLE) return this.computation.compute(argsHash, args, false, false).then(valueOf);
    return Promise.resolve(entry.value);
  }

  /** A call that also returns facts about the result; `force` always computes. */
  async invokeWithInfo(args: unknown[], force: boolean): Promise<Outcome> {
    await this.prepare();
    if (!this.lookup || this.refused) return this.computation.compute(undefined, args, true);
    const argsHash = this.argsHashOf(args);
    if (!force) {
      const running = this.computation.running(argsHash, args);
      if (running) return running;
      const entry = await this.lookup.hit(argsHash);
      if (entry === UNREADABLE) return this.computation.compute(argsHash, args, false, false);
      if (entry) return { value: entry.value, info: this.lookup.infoOf(this.lookup.keyPrefix + argsHash, entry) };
    }
    return this.computation.compute(argsHash, args, force);
  }

  async isCached(args: unknown[]): Promise<boolean> {
    if (!this.location || !this.lookup || this.refused) return false;
    // Read-only: never marks or creates anything; a location that is not larder's holds no entry of ours.
    const state = await this.location.guard.state();
    if (state.kind !== 'marked' && state.kind !== 'adoptable') return false;
    const entry = await this.lookup.read(this.argsHashOf(args), false);
    if (entry === undefined || entry === UNREADABLE) return false;
    // Only its existence was asked for: release the file it was mapped from (O(1), however deep the value).
    closeLoaded(entry);
    return true;
  }

  async shelve(args: unknown[]): Promise<ShelvedResult<unknown>> {
    const { value, info } = await this.invokeWithInfo(args, false);
    if (info.stored && this.location) return new StoredShelvedResult(info.id, info, { location: this.location, mmap: this.options.mmap, report: this.report });
    return new HeldShelvedResult(info.id, info, value);
  }

  async clear(): Promise<void> {
    await this.location?.clearFunction(this.identity.folder);
  }

  private argsHashOf(args: unknown[]): string {
    return argumentsHash(args, this.options.ignore, this.options.key);
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
    const location = this.location;
    if (!location) return;
    const refusal = await location.guard.forCalls();
    if (refusal) {
      this.refused = true;
      this.report.refused(refusal);
      return;
    }
    if (this.options.verbose < 1) return;
    this.report.changed(await location.otherBodies(this.identity.folder, this.identity.id));
  }
}

const valueOf = (outcome: Outcome): unknown => outcome.value;

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
