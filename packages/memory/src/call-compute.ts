/**
 * The compute side of a cached call: identical calls in one thread share one
 * computation (`inflight`); across threads, processes and machines a miss
 * first takes the entry's lease (lease.ts), so the holder computes and the
 * others wait for its entry. Then the result is stored: small ones with one
 * synchronous write, large ones with store-fs's pipelined async dump so the
 * event loop keeps running while they are written.
 */
import type { CacheLocation } from './cache-location.js';
import type { EntryLookup } from './call-lookup.js';
import type { CallReporter } from './call-report.js';
import { isLargeValue, isUnsafePath, LOST_RACE, UNREADABLE, type Envelope } from './entry.js';
import type { FunctionIdentity } from './key.js';
import { awaitTurn, worthALease } from './lease.js';
import type { CallInfo, ResolvedCacheOptions } from './options.js';
import { formatArgs } from './verbose.js';

/** A computed (or waited-for) value and the facts about it. */
export interface Outcome { value: unknown; info: CallInfo }

export class Computation {
  private readonly inflight = new Map<string, Promise<Outcome>>();
  /** How long this function's last computation in this thread took (undefined before the first). */
  private lastComputeMs: number | undefined;

  constructor(
    private readonly fn: (...args: unknown[]) => unknown,
    private readonly identity: FunctionIdentity,
    private readonly options: ResolvedCacheOptions,
    private readonly report: CallReporter,
    /** Undefined for a pass-through Memory. */
    private readonly location: CacheLocation | undefined,
    private readonly lookup: EntryLookup | undefined,
  ) {}

  /**
   * Joins the computation of `argsHash` under way in this thread, if any. A joiner gets its own
   * copy of the result, read from the entry once it is stored, never the object the
   * computing caller holds: that caller may change it, and a joiner would see the change, which a
   * later hit would not. A result that could not be stored has no copy to read: a primitive is
   * shared, anything else is computed again for the joiner (and not stored: that failed just now),
   * as it would be without a cache.
   */
  running(argsHash: string, args: unknown[]): Promise<Outcome> | undefined {
    const run = this.inflight.get(argsHash);
    return run?.then(async (outcome) => {
      if (!outcome.info.stored || !this.lookup) {
        const { value } = outcome;
        return (typeof value === 'object' && value !== null) || typeof value === 'function' ? this.computeAndStore(argsHash, args, false) : outcome;
      }
      // The file as the computing caller stored it (as a miss with mmap reads it back): a share of that miss, not a hit of its own.
      const entry = await this.lookup.readFile(argsHash, this.options.mmap);
      if (entry === undefined || entry === UNREADABLE) return outcome; // removed meanwhile
      return { value: entry.value, info: { ...outcome.info } };
    });
  }

  /**
   * Computes, stores, and shares the computation with identical calls that arrive meanwhile.
   * `argsHash` undefined: nothing is stored (a pass-through or refused location). A miss (not
   * `force`) first waits its turn among other threads and processes. `store` false: the entry
   * exists but could not be read; it is left as it is.
   */
  compute(argsHash: string | undefined, args: unknown[], force: boolean, store = true): Promise<Outcome> {
    const useLease = argsHash !== undefined && store && !force && this.options.dedupe && worthALease(this.lastComputeMs);
    const run = useLease ? this.computeInTurn(argsHash, args) : this.computeAndStore(argsHash, args, store, force);
    if (argsHash !== undefined) {
      this.inflight.set(argsHash, run);
      const done = () => void (this.inflight.get(argsHash) === run && this.inflight.delete(argsHash));
      run.then(done, done);
    }
    return run;
  }

  /** A miss under the entry's lease: computes if this caller gets it, else returns what the holder stored. */
  private async computeInTurn(argsHash: string, args: unknown[]): Promise<Outcome> {
    const key = this.lookup!.keyPrefix + argsHash;
    const turn = await awaitTurn(this.location!.leases, key, this.options.leaseMs, () => this.lookup!.hit(argsHash));
    if ('entry' in turn) return { value: turn.entry.value, info: this.lookup!.infoOf(key, turn.entry) };
    try {
      return await this.computeAndStore(argsHash, args, turn.store);
    } finally {
      await turn.lease?.release();
    }
  }

  /** Computes; stores the result unless `store` is false. `force`: a refresh (`.call()`), which replaces the entry. */
  private async computeAndStore(argsHash: string | undefined, args: unknown[], store = true, force = false): Promise<Outcome> {
    const key = argsHash === undefined ? undefined : this.lookup!.keyPrefix + argsHash;
    const { name, folder } = this.identity;
    // A store shared by machines is written only over what is there before computing: nothing
    // (put-if-absent) or the entry this call refreshes or recomputes (that version, replaced).
    const seeing = key !== undefined && store && (force || this.lookup!.takeSpoiled(key)) ? this.location!.versionSeen(key) : undefined;
    // A failed lookup (the network) does not stop the call: its result is returned, not stored.
    const seen = seeing === undefined ? undefined : await seeing.catch((error: unknown) => ({ error }));
    // Formatted before the call: what the arguments were when they were hashed.
    const argsText = formatArgs(args);
    this.report.calling(argsText);
    const started = performance.now();
    const value = await this.fn(...args);
    const computeMs = performance.now() - started;
    this.lastComputeMs = computeMs;
    this.report.done(computeMs);
    const createdMs = Date.now();
    const info: CallInfo = { id: key ?? `${folder}/uncached`, functionName: name, createdMs, computeMs, ageMs: 0, args: argsText, cached: false, stored: false };
    const location = this.location;
    if (!location || key === undefined) return { value, info };
    location.keeper.miss(folder, this.identity.id, name, createdMs);
    if (!store) return { value, info };
    if (typeof seen === 'object') {
      this.report.notStored(seen.error, 'io');
      return { value, info };
    }
    const envelope: Envelope = { larder: 1, name, createdMs, computeMs, args: argsText, key, value };
    // A small result in a local store is written synchronously: no await, no event-loop hop.
    const writing = isLargeValue(value) ? location.writeAsync(key, envelope, seen) : location.write(key, envelope, seen);
    const written = writing instanceof Promise ? await writing : writing;
    if (written === LOST_RACE) {
      this.report.lostRace(key, seen !== undefined);
      return { value, info };
    }
    if (typeof written !== 'number') {
      this.report.notStored(written.error, written.unsupported ? 'unsupported' : isUnsafePath(written.error) ? 'path' : 'io');
      return { value, info };
    }
    info.stored = true;
    location.keeper.stored({ key, name, bytes: written, createdMs, lastAccessMs: createdMs, computeMs, hits: 0 });
    // With mmap the caller gets what a hit would give: the stored file, mapped.
    if (this.options.mmap) {
      const entry = await this.lookup!.readFile(argsHash!, 'r');
      if (entry !== undefined && entry !== UNREADABLE) return { value: entry.value, info };
    }
    return { value, info };
  }
}
