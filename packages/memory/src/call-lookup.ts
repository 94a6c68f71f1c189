/**
 * The read side of a cached call: the entry file of a key, then expiry and
 * `validate`. A hit is one synchronous file read (entry.ts); it is noted in
 * memory for the index (bookkeeping.ts) and returns without an await. In a
 * store that is not local (a BlobStore object), a hit is one `get`.
 */
import { closeLoaded } from '@larder/store-fs';
import type { CacheLocation } from './cache-location.js';
import type { CallReporter } from './call-report.js';
import { readEntryAsync, readEntryForHit, UNREADABLE, type Envelope, type Lookup } from './entry.js';
import { describe, MemoryError } from './errors.js';
import type { FunctionIdentity } from './key.js';
import type { CallInfo, ResolvedCacheOptions } from './options.js';

export type { Lookup } from './entry.js';

export class EntryLookup {
  /** `<folder>/<id>/`: entry keys are this plus the arguments hash. */
  readonly keyPrefix: string;
  /**
   * Keys whose hit found an entry it could not use (corrupt, expired, refused by `validate`), in
   * a store that is not local: the computation that follows replaces that entry, conditionally
   * on its version (call-compute.ts), where a plain miss writes put-if-absent.
   */
  private readonly spoiled = new Set<string>();

  constructor(
    private readonly location: CacheLocation,
    private readonly identity: FunctionIdentity,
    private readonly options: ResolvedCacheOptions,
    private readonly report: CallReporter,
  ) {
    this.keyPrefix = `${identity.folder}/${identity.id}/`;
  }

  /**
   * A hit's read: the entry with expiry and `validate` applied, noted for the index. Synchronous
   * for small and mapped entries (the fast path), a promise for large eager ones (read off the
   * event loop).
   */
  hit(argsHash: string): Lookup | Promise<Lookup> {
    const key = this.keyPrefix + argsHash;
    const onBad = (error: unknown, unreadable: boolean) => {
      if (!unreadable) this.noteSpoiled(key);
      this.report.badEntry(key, error, unreadable);
    };
    const { local, store } = this.location;
    const read = local ? readEntryForHit(local, key, this.options.mmap, onBad, this.identity.name) : readEntryAsync(store, key, this.options.mmap, onBad, key, this.identity.name);
    return read instanceof Promise ? read.then((entry) => this.check(argsHash, entry, this.options.mmap, true)) : this.check(argsHash, read, this.options.mmap, true);
  }

  /**
   * Reads the entry (synchronously from a local store) and applies expiry and `validate`;
   * `countHit` notes the hit for the index. Without `countHit` (isCached) the entry is read
   * mapped, so the caller must `closeLoaded` it.
   */
  read(argsHash: string, countHit: boolean): Lookup | Promise<Lookup> {
    const mmap = countHit ? this.options.mmap : 'r';
    const read = this.readFile(argsHash, mmap);
    return read instanceof Promise ? read.then((entry) => this.check(argsHash, entry, mmap, countHit)) : this.check(argsHash, read, mmap, countHit);
  }

  private check(argsHash: string, entry: Lookup, mmap: 'r' | undefined, countHit: boolean): Lookup {
    if (entry === undefined || entry === UNREADABLE) return entry;
    const { expiresAfterMs, validate } = this.options;
    const key = this.keyPrefix + argsHash;
    const now = Date.now();
    // Fresh only within expiresAfter of now on either side: an entry dated in the future (written
    // by a machine whose clock runs ahead, or NaN) would otherwise never expire, or not for days.
    if ((expiresAfterMs !== undefined && !(Math.abs(now - entry.createdMs) <= expiresAfterMs)) || (validate && !this.validated(validate, key, entry, now, mmap))) {
      if (mmap) closeLoaded(entry);
      if (countHit) this.noteSpoiled(key);
      return undefined;
    }
    if (countHit) {
      this.location.keeper.hit(key, this.identity.folder, this.identity.id, this.identity.name, entry.createdMs, entry.computeMs, now);
      this.report.loading(entry.args, () => this.location.whereIs(key));
    }
    return entry;
  }

  /**
   * `validate`'s verdict, which must be a boolean: an async validate returns a Promise, which is
   * truthy, so every entry was served whatever it decided; a forgotten `return` refused every one.
   */
  private validated(validate: NonNullable<ResolvedCacheOptions['validate']>, key: string, entry: Envelope, now: number, mmap: 'r' | undefined): boolean {
    const verdict: unknown = validate(this.infoOf(key, entry, now));
    if (typeof verdict === 'boolean') return verdict;
    if (mmap) closeLoaded(entry);
    const thenable = typeof (verdict as { then?: unknown } | null)?.then === 'function';
    throw new MemoryError('LARDER_OPTION', `validate of ${this.identity.name} must return true or false, got ${thenable ? 'a Promise: validate runs synchronously on the hit path, so it cannot be an async function' : describe(verdict)}`);
  }

  /** Whether the last hit of `key` found an entry it could not use (see `spoiled`); asking forgets it. */
  takeSpoiled(key: string): boolean {
    return this.spoiled.delete(key);
  }

  private noteSpoiled(key: string): void {
    if (!this.location.local) this.spoiled.add(key);
  }

  /** The entry file as it is (no expiry, no bookkeeping): what a miss with `mmap` hands back after storing. */
  readFile(argsHash: string, mmap: 'r' | undefined): Lookup | Promise<Lookup> {
    const key = this.keyPrefix + argsHash;
    return this.location.read(key, mmap, (error, unreadable) => this.report.badEntry(key, error, unreadable), this.identity.name);
  }

  /** Facts about a stored entry. */
  infoOf(key: string, entry: Envelope, now = Date.now()): CallInfo {
    return { id: key, functionName: this.identity.name, createdMs: entry.createdMs, computeMs: entry.computeMs, ageMs: now - entry.createdMs, args: entry.args, cached: true, stored: true };
  }
}
