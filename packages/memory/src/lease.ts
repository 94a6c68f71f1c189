/**
 * The in-flight lease: a seam between Memory and whatever coordinates
 * identical calls across threads, processes and machines. While one caller
 * computes an entry it holds the entry's lease; identical calls elsewhere
 * wait for that entry instead of computing it again.
 *
 * A `LeaseStore` keeps one lease per entry key. Every operation takes the
 * key; a held lease is named by a random token, so renewing and releasing
 * touch the lease only while it is still the caller's (a lease taken over
 * meanwhile is someone else's). A lease lives `ttlMs` from its last renewal:
 * the holder renews it (`HeldLease` does, every `ttlMs / 3`), and a lease not
 * renewed for `ttlMs`, or whose holder the store can see is dead, may be
 * taken over. lease-files.ts is the local implementation (a lease file next
 * to the entry); Redis or Postgres ones fit the same calls (SET NX PX, a
 * token-checked PEXPIRE / DEL; expiry does the takeover). `leaseStoreTestSuite`
 * (@larder/memory/testing) is the contract every implementation passes.
 *
 * Every race a lease can lose costs only dedup (a call computed twice, both
 * results right), never correctness: entries are written atomically.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { UNREADABLE, type Envelope, type Lookup } from './entry.js';

/** The outcome of one acquire: the lease (with its token), someone else's live lease, or no lease possible here. */
export type LeaseAttempt = { kind: 'held'; token: string } | { kind: 'busy' } | { kind: 'unavailable'; error: unknown };

/**
 * Where in-flight leases live. Keys are entry keys (`<folder>/<body id>/<arguments hash>`,
 * names of `[A-Za-z0-9._-]` joined by '/'); the store decides where and how it keeps them.
 *
 * @example
 * ```ts
 * import type { LeaseStore } from '@larder/memory';
 * async function computeOnce(store: LeaseStore, key: string): Promise<void> {
 *   const attempt = await store.acquire(key, 30_000);
 *   if (attempt.kind !== 'held') return; // busy elsewhere, or no lease possible here
 *   try {
 *     await store.renew(key, attempt.token, 30_000); // what HeldLease does every 10 s
 *   } finally {
 *     await store.release(key, attempt.token);
 *   }
 * }
 * ```
 */
export interface LeaseStore {
  /** Says what the store is (for messages), e.g. `lease files under /cache/results`. */
  readonly description: string;
  /**
   * Tries once to take the lease of `key` for `ttlMs`. Exactly one of several concurrent
   * callers gets `held`; the others get `busy` while the lease is live. `unavailable` means no
   * lease can be made here (read-only location, no connection): the caller computes without one.
   */
  acquire(key: string, ttlMs: number): Promise<LeaseAttempt>;
  /** Extends the lease to `ttlMs` from now. False when it is no longer held under `token` (taken over, removed). */
  renew(key: string, token: string, ttlMs: number): Promise<boolean>;
  /** Gives the lease up if it is still held under `token`; never removes another holder's lease. */
  release(key: string, token: string): Promise<void>;
  /**
   * Removes the lease of `key` if it is stale: its holder is known to be dead, or it was not
   * renewed for `ttlMs`. True when a stale lease was removed (the key may then be acquired, by
   * this caller or another). A store whose leases expire by themselves may return false.
   */
  takeOver(key: string, ttlMs: number): Promise<boolean>;
  /** Releases what the store holds open (connections). Optional. */
  close?(): Promise<void>;
}

const SEGMENT = /^[A-Za-z0-9._-]+$/;

/** A lease key's segments; every lease store checks its keys here (a file lease must not land outside its root). */
export function checkLeaseKey(key: string): string[] {
  const parts = typeof key === 'string' ? key.split('/') : [];
  if (parts.length === 0 || !parts.every((part) => SEGMENT.test(part) && part !== '.' && part !== '..')) {
    throw Object.assign(new TypeError(`[larder/memory] a lease key must be names of [A-Za-z0-9._-] joined by '/', got ${JSON.stringify(key)}`), { code: 'LARDER_OPTION' });
  }
  return parts;
}

/** A lease this thread holds: renewed every `ttlMs / 3` until released. */
export class HeldLease {
  private readonly timer: NodeJS.Timeout;
  private released = false;

  constructor(private readonly store: LeaseStore, readonly key: string, private readonly token: string, ttlMs: number) {
    // Renewal keeps the lease fresh while an async computation runs; unref so it never holds the process open.
    this.timer = setInterval(() => {
      // A lease lost meanwhile (cleared, taken over after a long stall) costs at most a second computation.
      this.store.renew(this.key, this.token, ttlMs).catch(() => false);
    }, Math.max(10, Math.floor(ttlMs / 3)));
    this.timer.unref();
  }

  /** Gives the lease up (once); never rejects. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    clearInterval(this.timer);
    await this.store.release(this.key, this.token).catch(() => undefined);
  }
}

/** Backoff between polls of a waiter: starts small (results of quick calls), grows to a ceiling. */
function nextDelay(delayMs: number): number {
  return Math.min(250, Math.max(5, Math.ceil(delayMs * 1.5)));
}

/**
 * A lease costs a few file operations (about 0.2 ms on ext4); a function whose
 * last computation here took less than this is cheaper to compute twice than
 * to coordinate, so its misses skip the cross-process lease.
 */
const LEASE_MIN_COMPUTE_MS = 5;

/** Whether a miss of a function whose last computation in this thread took `lastComputeMs` (undefined before the first) should take the lease. */
export function worthALease(lastComputeMs: number | undefined): boolean {
  return lastComputeMs === undefined || lastComputeMs >= LEASE_MIN_COMPUTE_MS;
}

/**
 * A waiter's turn: the entry another caller stored meanwhile, or the right to compute (with a
 * lease when one could be made); `store` is false when the entry could not be read (it may be good).
 */
export type Turn = { entry: Envelope } | { lease: HeldLease | undefined; store: boolean };

/**
 * Takes the lease of `key`, or waits while another thread, process or machine holds it: polls
 * for the entry with backoff (`lookup` reads it, as a hit), and takes over a stale lease.
 */
export async function awaitTurn(leases: LeaseStore, key: string, ttlMs: number, lookup: () => Lookup | Promise<Lookup>): Promise<Turn> {
  for (let delayMs = 0; ; ) {
    const attempt = await leases.acquire(key, ttlMs).catch((error: unknown): LeaseAttempt => ({ kind: 'unavailable', error }));
    // No lease can be made here (read-only location, disk full): compute; the store will warn if it fails too.
    if (attempt.kind === 'unavailable') return { lease: undefined, store: true };
    if (attempt.kind === 'held') {
      const lease = new HeldLease(leases, key, attempt.token, ttlMs);
      // The previous holder may have stored the result between our miss and our lease.
      const entry = await lookup();
      if (entry === undefined) return { lease, store: true };
      await lease.release();
      return entry === UNREADABLE ? { lease: undefined, store: false } : { entry };
    }
    delayMs = nextDelay(delayMs);
    await sleep(delayMs);
    const entry = await lookup();
    if (entry === UNREADABLE) return { lease: undefined, store: false };
    if (entry) return { entry };
    await leases.takeOver(key, ttlMs).catch(() => false);
  }
}
