/**
 * The read side of a cached call: the entry file of a key, then expiry and
 * `validate`. A hit is one synchronous file read (entry.ts); it is noted in
 * memory for the index (bookkeeping.ts) and returns without an await.
 */
import { closeLoaded } from '@larder/store-fs';
import type { CacheLocation } from './cache-location.js';
import type { CallReporter } from './call-report.js';
import { readEntry, UNREADABLE, type Envelope } from './entry.js';
import type { FunctionIdentity } from './key.js';
import type { CallInfo, ResolvedCacheOptions } from './options.js';

/** A lookup's answer: the entry, a miss, or an entry that exists but could not be read now. */
export type Lookup = Envelope | undefined | typeof UNREADABLE;

export class EntryLookup {
  /** `<folder>/<id>/`: entry keys are this plus the arguments hash. */
  readonly keyPrefix: string;
  private readonly pathOf: (argsHash: string) => string;

  constructor(
    private readonly location: CacheLocation,
    private readonly identity: FunctionIdentity,
    private readonly options: ResolvedCacheOptions,
    private readonly report: CallReporter,
  ) {
    this.keyPrefix = `${identity.folder}/${identity.id}/`;
    this.pathOf = location.entryPaths(this.keyPrefix.slice(0, -1));
  }

  /**
   * Reads the entry and applies expiry and `validate`; `countHit` notes the hit for the index.
   * Without `countHit` (isCached) the entry is read mapped, so the caller must `closeLoaded` it.
   */
  read(argsHash: string, countHit: boolean): Lookup {
    const { expiresAfterMs, validate } = this.options;
    const key = this.keyPrefix + argsHash;
    const mmap = countHit ? this.options.mmap : 'r';
    const entry = this.readFile(argsHash, mmap);
    if (entry === undefined || entry === UNREADABLE) return entry;
    const now = Date.now();
    if ((expiresAfterMs !== undefined && now - entry.createdMs > expiresAfterMs) || (validate && !validate(this.infoOf(key, entry, now)))) {
      if (mmap) closeLoaded(entry);
      return undefined;
    }
    if (countHit) {
      this.location.keeper.hit(key, this.identity.folder, this.identity.name, entry.createdMs, entry.computeMs, now);
      this.report.loading(entry.args, () => this.pathOf(argsHash));
    }
    return entry;
  }

  /** The entry file as it is (no expiry, no bookkeeping): what a miss with `mmap` hands back after storing. */
  readFile(argsHash: string, mmap: 'r' | undefined): Lookup {
    const key = this.keyPrefix + argsHash;
    return readEntry(this.pathOf(argsHash), mmap, (error, unreadable) => this.report.badEntry(key, error, unreadable), key, this.identity.name);
  }

  /** Facts about a stored entry. */
  infoOf(key: string, entry: Envelope, now = Date.now()): CallInfo {
    return { id: key, functionName: this.identity.name, createdMs: entry.createdMs, computeMs: entry.computeMs, ageMs: now - entry.createdMs, args: entry.args, cached: true, stored: true };
  }
}
