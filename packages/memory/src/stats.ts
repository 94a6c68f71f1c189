/**
 * What `stats()`, `entries()` and `list()` report. All of it comes from the
 * index (the authority for listing); `reconcile()` makes it agree with the files.
 */

/** Counters of one function, or of the whole location. */
export interface FunctionStats {
  /** Entries the index knows. */
  entries: number;
  /** Their total size. */
  bytes: number;
  /** Hits recorded in the index (all processes that flushed). */
  hits: number;
  /** Misses (computations) recorded in the index. */
  misses: number;
  /** Sum over hits of the compute time each hit avoided (ms). */
  computeTimeSavedMs: number;
  /** Entries of stale bodies (see `MemoryOptions.staleAfter`): `clearStale()` removes them. */
  staleEntries: number;
  /** Their total size. */
  staleBytes: number;
}

/**
 * What `memory.stats()` returns.
 *
 * @example
 * ```ts
 * import { Memory } from '@larder/memory';
 * const stats = await new Memory('.cache').stats();
 * console.log(stats.entries, stats.bytes, stats.hits, stats.misses, stats.perFunction);
 * ```
 */
export interface CacheStats extends FunctionStats {
  /** The same counters per function name. */
  perFunction: Record<string, FunctionStats>;
}

/**
 * One entry, as `memory.list()` and `larder ls` show it.
 *
 * @example
 * ```ts
 * import { Memory } from '@larder/memory';
 * for (const e of await new Memory('.cache').list()) console.log(e.functionName, e.bytes, new Date(e.lastAccessMs));
 * ```
 */
export interface EntrySummary {
  id: string;
  functionName: string;
  bytes: number;
  createdMs: number;
  lastAccessMs: number;
  computeMs: number;
  hits: number;
  /** Whether the entry belongs to a stale body (see `MemoryOptions.staleAfter`). */
  stale: boolean;
}

