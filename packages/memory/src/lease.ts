/**
 * In-flight dedup across processes and worker threads: a lease on one entry,
 * held while its result is computed, so that identical calls elsewhere wait
 * for that result instead of computing it again.
 *
 * The lease is a small file next to the entry (`<entry>.larder.lease`; the
 * BlobStore lists only `.larder` files, so it is never mistaken for a result),
 * created with `wx` (O_CREAT | O_EXCL): of several callers, exactly one
 * creates it. It holds the holder's host, pid, thread and a random token; its
 * mtime is the last renewal, refreshed every `leaseMs / 3` while the holder
 * computes.
 *
 * A lease is stale, and may be taken over, when
 * - its holder runs on this host and its pid is gone (kill -9, crash): seen at once;
 * - its file holds no readable holder record 2 s after it was made (debris);
 * - or it was not renewed for `leaseMs` (a dead worker thread in a live
 *   process, another host, or a holder whose event loop is blocked by a long
 *   synchronous function: the one case where a call may be computed twice).
 *
 * Taking over renames the stale file aside and checks it still holds the
 * token judged stale; if a fresh lease was caught instead, it is linked back
 * (link fails rather than replacing a newer one). Every race left loses only
 * dedup (a call computed twice, both results right), never correctness: the
 * entry itself is still written atomically by store-fs.
 *
 * A waiter polls for the entry with backoff (`awaitTurn`) and takes the lease
 * over when it goes stale. Fast functions skip all of this (`worthALease`).
 */
import { randomBytes } from 'node:crypto';
import { linkSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, utimesSync, writeSync, closeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { threadId } from 'node:worker_threads';
import { UNREADABLE, type Envelope } from './entry.js';

/** Appended to an entry's file path to name its lease. */
const LEASE_SUFFIX = '.lease';

interface Holder { host: string; pid: number; thread: number; token: string }

const HOST = hostname();
/** How long a lease file without a readable holder record is given before it counts as debris. */
const UNREADABLE_GRACE_MS = 2000;

/** A lease this thread holds; renewed until released. */
export class Lease {
  private readonly timer: NodeJS.Timeout;
  private released = false;

  constructor(readonly path: string, private readonly token: string, leaseMs: number) {
    // Renewal keeps the lease fresh while an async computation runs; unref so it never holds the process open.
    this.timer = setInterval(() => this.renew(), Math.max(10, Math.floor(leaseMs / 3)));
    this.timer.unref();
  }

  private renew(): void {
    const now = new Date();
    try {
      utimesSync(this.path, now, now);
    } catch {
      // The lease file was removed (clear(), reduceSize(), a takeover after a long stall): nothing to renew;
      // at worst another caller computes the same result, which is harmless.
    }
  }

  /** Gives the lease up, removing its file if it is still ours. */
  release(): void {
    if (this.released) return;
    this.released = true;
    clearInterval(this.timer);
    if (readHolder(this.path)?.token !== this.token) return; // taken over meanwhile: not ours to remove
    try {
      unlinkSync(this.path);
    } catch {
      // Already gone (a clear() removed the folder): the goal is reached.
    }
  }
}

function readHolder(path: string): Holder | undefined {
  try {
    const holder = JSON.parse(readFileSync(path, 'utf8')) as Partial<Holder>;
    if (typeof holder.token === 'string' && typeof holder.pid === 'number' && typeof holder.host === 'string') return holder as Holder;
  } catch {
    // Missing, or half written by a holder killed between create and write: judged by age alone.
  }
  return undefined;
}

/** The outcome of one attempt: the lease, someone else's live lease, or no lease possible here. */
export type Attempt = { kind: 'held'; lease: Lease } | { kind: 'busy' } | { kind: 'unavailable'; error: unknown };

/** Tries once to create the lease file for `entryPath`. */
export function tryAcquire(entryPath: string, leaseMs: number): Attempt {
  const path = entryPath + LEASE_SUFFIX;
  const token = randomBytes(8).toString('hex');
  const body = JSON.stringify({ host: HOST, pid: process.pid, thread: threadId, token } satisfies Holder);
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return { kind: 'busy' };
      if (code === 'ENOENT' && attempt === 0) {
        // The entry's folder does not exist yet (first result of this function).
        try { mkdirSync(dirname(path), { recursive: true }); } catch (mkdirError) { return { kind: 'unavailable', error: mkdirError }; }
        continue;
      }
      return { kind: 'unavailable', error }; // read-only, disk full, permissions: compute without a lease
    }
    try {
      writeSync(fd, body);
    } catch (error) {
      closeSync(fd);
      try { unlinkSync(path); } catch { /* gone already */ }
      return { kind: 'unavailable', error };
    }
    closeSync(fd);
    return { kind: 'held', lease: new Lease(path, token, leaseMs) };
  }
  return { kind: 'unavailable', error: new Error(`cannot create ${path}`) };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // alive, owned by another user
  }
}

/** Whether the lease of `entryPath` exists and is held by a live, recently renewed holder. */
function leaseState(entryPath: string, leaseMs: number, now = Date.now()): 'free' | 'live' | 'stale' {
  const path = entryPath + LEASE_SUFFIX;
  let mtimeMs: number;
  try {
    mtimeMs = lstatSync(path).mtimeMs; // a symlink in its place is judged as itself, not by what it points to
  } catch {
    return 'free';
  }
  const holder = readHolder(path);
  if (holder && holder.host === HOST && !pidAlive(holder.pid)) return 'stale';
  // A holder writes its record right after creating the file; one still unreadable after a moment
  // is debris (a holder killed in between, a foreign or damaged file), not a live lease.
  if (!holder && now - mtimeMs > UNREADABLE_GRACE_MS) return 'stale';
  if (now - mtimeMs > leaseMs) return 'stale';
  return 'live';
}

/**
 * Removes a stale lease so a caller can take its place (the freed path may
 * still be won by another caller's `tryAcquire`: that is the point).
 */
function breakStale(entryPath: string): void {
  const path = entryPath + LEASE_SUFFIX;
  const seen = readHolder(path)?.token;
  const aside = `${path}.${randomBytes(6).toString('hex')}.stale`;
  try {
    renameSync(path, aside);
  } catch {
    return; // someone else broke it first
  }
  const caught = readHolder(aside)?.token;
  if (caught !== seen) {
    // Between our look and our rename another caller replaced the stale lease with a live one: put it back.
    try { linkSync(aside, path); } catch { /* a newer lease exists already; keep it */ }
  }
  try { unlinkSync(aside); } catch { /* already gone */ }
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
export type Turn = { entry: Envelope } | { lease: Lease | undefined; store: boolean };

/**
 * Takes the lease of the entry at `entryPath`, or waits while another thread or process holds
 * it: polls for the entry with backoff (`lookup` reads it, as a hit), and takes over a lease
 * whose holder died or stopped renewing it.
 */
export async function awaitTurn(entryPath: string, leaseMs: number, lookup: () => Envelope | undefined | typeof UNREADABLE): Promise<Turn> {
  for (let delayMs = 0; ; ) {
    const attempt = tryAcquire(entryPath, leaseMs);
    // No lease can be made here (read-only location, disk full): compute; the store will warn if it fails too.
    if (attempt.kind === 'unavailable') return { lease: undefined, store: true };
    if (attempt.kind === 'held') {
      // The previous holder may have stored the result between our miss and our lease.
      const entry = lookup();
      if (entry === undefined) return { lease: attempt.lease, store: true };
      attempt.lease.release();
      return entry === UNREADABLE ? { lease: undefined, store: false } : { entry };
    }
    delayMs = nextDelay(delayMs);
    await sleep(delayMs);
    const entry = lookup();
    if (entry === UNREADABLE) return { lease: undefined, store: false };
    if (entry) return { entry };
    if (leaseState(entryPath, leaseMs) === 'stale') breakStale(entryPath);
  }
}
