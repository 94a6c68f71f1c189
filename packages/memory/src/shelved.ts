/**
 * `ShelvedResult`: a handle on a stored result (joblib's MemorizedResult).
 * It holds the entry's id, not the value, so a large result can be dropped
 * from memory and read back when needed.
 */
import type { CacheLocation } from './cache-location.js';
import type { CallReporter } from './call-report.js';
import { MemoryError } from './errors.js';
import { UNREADABLE } from './entry.js';
import type { CallInfo } from './options.js';

/**
 * A reference to one cached result, from `cachedFn.callAndShelve(...args)`.
 *
 * @example
 * ```ts
 * import { Memory } from '@larder/memory';
 * const memory = new Memory('.cache');
 * const square = memory.cache((x: number) => x * x, { name: 'square' });
 * const shelved = await square.callAndShelve(4);
 * console.log(shelved.id, await shelved.get()); // "square/…/…" 16
 * await shelved.clear();
 * ```
 */
export interface ShelvedResult<R> {
  /** The entry's id in the location (non-empty). */
  readonly id: string;
  /** Facts about the result (created, compute time, hit or computed, stored). */
  readonly info: CallInfo;
  /** Reads the result back (honouring the function's `mmap`). Rejects with `LARDER_SHELVED_MISSING` once the entry is gone. */
  get(): Promise<R>;
  /** Deletes this entry from the cache. */
  clear(): Promise<void>;
}

/** Where a shelved result reads from and how it deletes itself. */
export interface ShelfAccess {
  location: CacheLocation;
  mmap: 'r' | undefined;
  report: CallReporter;
}

/** A shelved result that lives in the location. */
export class StoredShelvedResult<R> implements ShelvedResult<R> {
  constructor(readonly id: string, readonly info: CallInfo, private readonly access: ShelfAccess) {}

  async get(): Promise<R> {
    const entry = await this.access.location.read(this.id, this.access.mmap, (error, unreadable) => this.access.report.badEntry(this.id, error, unreadable), this.info.functionName);
    if (entry === undefined || entry === UNREADABLE) {
      throw new MemoryError('LARDER_SHELVED_MISSING', `the shelved result ${this.id} of ${this.info.functionName} is no longer in the cache (cleared, evicted or unreadable); call callAndShelve() again to recompute it`);
    }
    return entry.value as R;
  }

  async clear(): Promise<void> {
    await this.access.location.remove([this.id]);
  }
}

/** A shelved result that could not be stored (pass-through Memory, or an unstorable value): it keeps the value. */
export class HeldShelvedResult<R> implements ShelvedResult<R> {
  private held: { value: R } | undefined;
  constructor(readonly id: string, readonly info: CallInfo, value: R) {
    this.held = { value };
  }

  async get(): Promise<R> {
    if (!this.held) throw new MemoryError('LARDER_SHELVED_MISSING', `the shelved result ${this.id} of ${this.info.functionName} was cleared; call callAndShelve() again to recompute it`);
    return this.held.value;
  }

  async clear(): Promise<void> {
    this.held = undefined;
  }
}

