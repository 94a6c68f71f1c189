/**
 * Which entries `reduceSize` removes: least recently used first, until every
 * given limit holds. Pure, so the policy is testable apart from the disk.
 */
import { MemoryError, badOption, checkOptionNames } from './errors.js';
import { parseDuration, parseSize } from './units.js';

/**
 * Limits for `memory.reduceSize()` (and `larder prune`). Each is optional, but at least one is needed; all given ones must hold afterwards.
 *
 * @example
 * ```ts
 * import { Memory } from '@larder/memory';
 * const memory = new Memory('.cache');
 * const { removed, freedBytes } = await memory.reduceSize({ bytesLimit: '10G', ageLimit: '30d', itemsLimit: 10_000 });
 * ```
 */
export interface ReduceSizeOptions {
  /**
   * Total size of the results to keep at most: bytes, or '500M', '10G' (base 1024).
   * @default undefined (no size limit)
   */
  bytesLimit?: number | string | undefined;
  /**
   * Number of entries to keep at most.
   * @default undefined (no count limit)
   */
  itemsLimit?: number | undefined;
  /**
   * Entries not used (stored or hit) for longer than this are removed: ms, or '30d', '12h'.
   * @default undefined (no age limit)
   */
  ageLimit?: number | string | undefined;
}

/** What `reduceSize` returns. */
export interface ReduceSizeResult {
  removed: number;
  freedBytes: number;
}

/** An entry as the policy sees it. */
export interface SizedEntry {
  key: string;
  bytes: number;
  /** Last store or hit (ms since epoch). */
  lastAccessMs: number;
}

export interface Limits { bytesLimit: number | undefined; itemsLimit: number | undefined; ageLimitMs: number | undefined }

/** Validates the limits once. */
export function resolveLimits(options: ReduceSizeOptions | undefined): Limits {
  const o = options ?? {};
  if (typeof o !== 'object' || o === null) badOption('reduceSize(options)', 'an object', o);
  checkOptionNames('reduceSize(options)', o, ['bytesLimit', 'itemsLimit', 'ageLimit'], { bytes_limit: 'use bytesLimit', items_limit: 'use itemsLimit', age_limit: 'use ageLimit' });
  if (o.itemsLimit !== undefined && !(Number.isInteger(o.itemsLimit) && o.itemsLimit >= 0)) badOption('itemsLimit', 'a non-negative integer', o.itemsLimit);
  // No limit removes nothing (joblib's reduce_size() falls back on Memory's bytes_limit; a Memory has none here).
  if (o.bytesLimit === undefined && o.itemsLimit === undefined && o.ageLimit === undefined) {
    throw new MemoryError('LARDER_OPTION', 'reduceSize(options) needs at least one of bytesLimit, itemsLimit, ageLimit (without one it removes nothing); clearStale() removes the entries of stale bodies');
  }
  return {
    bytesLimit: o.bytesLimit === undefined ? undefined : parseSize(o.bytesLimit, 'bytesLimit'),
    itemsLimit: o.itemsLimit,
    ageLimitMs: o.ageLimit === undefined ? undefined : parseDuration(o.ageLimit, 'ageLimit'),
  };
}

/** The entries to remove, oldest access first. */
export function planReduction(entries: readonly SizedEntry[], limits: Limits, now: number): SizedEntry[] {
  const byAge = [...entries].sort((a, b) => a.lastAccessMs - b.lastAccessMs || (a.key < b.key ? -1 : 1));
  let bytes = byAge.reduce((sum, entry) => sum + entry.bytes, 0);
  let items = byAge.length;
  const remove: SizedEntry[] = [];
  for (const entry of byAge) {
    const tooOld = limits.ageLimitMs !== undefined && now - entry.lastAccessMs > limits.ageLimitMs;
    const tooMany = limits.itemsLimit !== undefined && items > limits.itemsLimit;
    const tooBig = limits.bytesLimit !== undefined && bytes > limits.bytesLimit;
    if (!tooOld && !tooMany && !tooBig) break;
    remove.push(entry);
    items--;
    bytes -= entry.bytes;
  }
  return remove;
}
