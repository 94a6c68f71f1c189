/**
 * Index bookkeeping off the hot path. A hit or a store only touches two
 * in-memory maps; the records reach the index in one batched transaction a
 * moment later (`flushIntervalMs`), before `stats()` / `reduceSize()` / `ls`,
 * on `close()`, and when the process is about to exit (`beforeExit`).
 * A process killed before a flush loses those statistics, never a result; a
 * flush that fails (disk full, read-only) keeps them for the next one.
 */
import type { MemoryWarning } from './errors.js';
import type { FunctionCounters, IndexBatch, IndexEntry, IndexStore } from './index-store.js';
import { workerHookRegistry } from './worker-hooks.js';

/** Whether this is the main thread; node:worker_threads loads only when asked (a CLI process never needs it at start). */
const mainThread = (): boolean => process.getBuiltinModule('node:worker_threads').isMainThread;

/** An entry's bookkeeping waiting for the next flush: a store (whole record) and/or hits to add. */
interface PendingEntry { stored?: IndexEntry; hits: number; lastAccessMs: number; name: string; createdMs: number; computeMs: number }
/** A body's use waiting for the next flush. */
interface PendingBody { folder: string; body: string; name: string; firstMs: number; lastMs: number }

const live = new Set<Bookkeeper>();
/** Pending entry records that trigger a flush without waiting for the timer. */
const FLUSH_AT_PENDING = 10_000;
/** Flushes close() tries before it gives up on the index (each failure has warned). */
const CLOSE_FLUSH_ATTEMPTS = 3;
let exitHookInstalled = false;

/**
 * Index work under way in this thread (flush writes, and any other use of the
 * connection): a keeper leaves `live` while its flush runs, yet an exit must
 * wait for that write, and a worker must not start a task over it.
 */
const writing = new Set<Promise<unknown>>();

/**
 * Set once a pool calls this worker's before-task hook (the worker hooks'
 * contract: such a thread may be terminated during any task). From then on a
 * keeper's timer only marks it due, and due keepers flush between batches, so
 * no index work ever overlaps a task.
 */
let betweenTasksOnly = false;
const due = new Set<Bookkeeper>();

async function flushBetweenTasks(): Promise<void> {
  const flushing = [...due].map((keeper) => keeper.flush());
  due.clear();
  await Promise.allSettled(flushing);
  while (writing.size > 0) await Promise.allSettled([...writing]);
}

/** Writes every keeper's pending records and waits for writes already under way; once more for records a failed write put back. */
/** Flushes that failed in this thread (the index locked too long, read-only, gone): exit stops retrying after one. */
let failedFlushes = 0;
/** An exit's flush failed: later beforeExit events do not try again. */
let exitGaveUp = false;

async function flushLive(): Promise<void> {
  for (let round = 0; round < 2; round++) {
    const failedBefore = failedFlushes;
    await Promise.all([...[...live].map((keeper) => keeper.flush()), ...writing]);
    if (![...live].some((keeper) => keeper.hasPending())) return;
    // A failed batch is put back for the next flush; at exit there is none worth waiting for.
    if (failedFlushes > failedBefore) return;
  }
}

/**
 * At beforeExit: one flush of what is pending. A flush that failed puts its records back and
 * schedules itself again, which keeps the event loop alive and fires beforeExit once more: with
 * the index locked by another process, a program that had finished retried every busy timeout
 * (15 s) for as long as the lock was held. After a failed exit flush the records are given up
 * (what a kill would lose: counts and access times, never results).
 */
async function flushAtExit(): Promise<void> {
  if (exitGaveUp) return;
  const failedBefore = failedFlushes;
  await flushLive();
  if (failedFlushes > failedBefore) {
    exitGaveUp = true;
    for (const keeper of live) keeper.abandonAtExit();
    live.clear();
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // beforeExit may start async work; the process exits once it settles.
  process.on('beforeExit', () => void flushAtExit());
  // A worker thread ended by terminate() never sees beforeExit: the worker lifecycle hooks
  // (worker-hooks.ts) give it two moments instead. Teardown runs before a pool's close() ends the
  // thread; before-task runs before each batch, so index work never overlaps a task the pool may
  // terminate: a sqlite3 statement under way in a terminated worker aborts the whole process
  // (node-sqlite3 #1666).
  if (!mainThread()) {
    const hooks = workerHookRegistry();
    hooks.teardown.add(flushLive);
    hooks.beforeTask.add(() => {
      betweenTasksOnly = true;
      return due.size === 0 && writing.size === 0 ? undefined : flushBetweenTasks();
    });
  }
}

/** Batches hits, misses and stores of one Memory into its index. */
export class Bookkeeper {
  private entries = new Map<string, PendingEntry>();
  private functions = new Map<string, FunctionCounters>();
  private bodies = new Map<string, PendingBody>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private indexPromise: Promise<IndexStore> | undefined;

  constructor(
    private readonly openIndex: () => Promise<IndexStore>,
    private readonly warn: (warning: MemoryWarning) => void,
    private readonly flushIntervalMs: number,
    private readonly indexWarning: (error: unknown) => MemoryWarning,
  ) {
    // Registered when the Memory is made: a worker's task module makes it at import, before its first task.
    installExitHook();
  }

  /** How many `useIndex` calls are running (the connection is closed after the last in a worker thread). */
  private indexUsers = 0;

  /**
   * Runs `work` on the index, opened on first use. In the main thread the
   * connection then stays open. In a worker thread it is closed as soon as no
   * work uses it: sqlite3 (5.1.7) aborts the whole process when a worker is
   * terminated while it holds an open database and runs JavaScript or has a
   * statement under way (node-sqlite3 #1666), and larder's pools terminate
   * busy workers on timeout, abort and task errors. A worker computing a
   * cached function therefore never holds a connection.
   */
  useIndex<T>(work: (index: IndexStore) => Promise<T>): Promise<T> {
    const using = this.runOnIndex(work);
    writing.add(using);
    void using.then(() => writing.delete(using), () => writing.delete(using));
    return using;
  }

  private async runOnIndex<T>(work: (index: IndexStore) => Promise<T>): Promise<T> {
    this.indexUsers++;
    try {
      this.indexPromise ??= this.openIndex();
      return await work(await this.indexPromise);
    } finally {
      if (--this.indexUsers === 0 && !mainThread()) await this.closeIndex();
    }
  }

  private async closeIndex(): Promise<void> {
    const opened = this.indexPromise;
    this.indexPromise = undefined;
    const index = await opened?.catch(() => undefined); // a failed open was reported where it failed
    await index?.close().catch((error: unknown) => this.warn(this.indexWarning(error)));
  }

  hasPending(): boolean {
    return this.entries.size > 0 || this.functions.size > 0 || this.bodies.size > 0;
  }

  private fn(folder: string, name: string): FunctionCounters {
    let record = this.functions.get(folder);
    if (!record) this.functions.set(folder, (record = { folder, name, hits: 0, misses: 0, computeTimeSavedMs: 0 }));
    return record;
  }

  /** A use of the body `body` of `folder` at `now` (version keeping: first and last use). */
  private used(folder: string, body: string, name: string, now: number): void {
    const id = `${folder}/${body}`;
    const pending = this.bodies.get(id);
    if (pending) pending.lastMs = Math.max(pending.lastMs, now), pending.firstMs = Math.min(pending.firstMs, now);
    else this.bodies.set(id, { folder, body, name, firstMs: now, lastMs: now });
  }

  /** A hit on `entryKey`, whose file says it was created at `createdMs` and took `computeMs`. */
  hit(entryKey: string, folder: string, body: string, name: string, createdMs: number, computeMs: number, now: number): void {
    const pending = this.entries.get(entryKey);
    if (pending) pending.hits++, pending.lastAccessMs = now;
    else this.entries.set(entryKey, { hits: 1, lastAccessMs: now, name, createdMs, computeMs });
    const fn = this.fn(folder, name);
    fn.hits++;
    fn.computeTimeSavedMs += computeMs;
    this.used(folder, body, name, now);
    this.schedule();
  }

  /** A miss of function `folder`, body `body` (stored or not). */
  miss(folder: string, body: string, name: string, now: number): void {
    this.fn(folder, name).misses++;
    this.used(folder, body, name, now);
    this.schedule();
  }

  /** A result stored under `record.key`. */
  stored(record: IndexEntry): void {
    this.entries.set(record.key, { stored: record, hits: 0, lastAccessMs: record.lastAccessMs, name: record.name, createdMs: record.createdMs, computeMs: record.computeMs });
    this.schedule();
  }

  /** Drops pending bookkeeping of these entries, about to be deleted (one map lookup each, for pages of reduceSize). */
  forgetEntries(keys: readonly string[]): void {
    for (const key of keys) this.entries.delete(key);
  }

  /** Drops pending bookkeeping of entries about to be deleted (a prefix of their keys, or all). */
  forget(prefix = ''): void {
    for (const key of this.entries.keys()) if (key.startsWith(prefix)) this.entries.delete(key);
    for (const key of this.bodies.keys()) if (`${key}/`.startsWith(prefix)) this.bodies.delete(key);
    if (prefix === '') this.functions.clear();
  }

  private schedule(): void {
    // A loop that awaits only cached calls may never turn the event loop, so the timer below
    // would not fire: past this many records, flush now (one batch of them stays small enough to
    // commit within another process's busy timeout). Not in a worker between tasks only (due).
    if (this.entries.size >= FLUSH_AT_PENDING && !betweenTasksOnly) return void this.flush();
    if (this.timer || this.flushIntervalMs === Infinity) return;
    installExitHook();
    live.add(this);
    this.timer = setTimeout(() => {
      if (!betweenTasksOnly) return void this.flush();
      this.timer = undefined;
      due.add(this);
    }, this.flushIntervalMs);
    this.timer.unref();
  }

  /**
   * Writes everything pending to the index. Never rejects: a failing index warns, and the
   * records wait for the next flush (an index that fails for good costs memory proportional
   * to the distinct entries touched, and statistics, never results).
   */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer), (this.timer = undefined);
    due.delete(this);
    if (!this.hasPending()) return this.flushing;
    const entries = this.entries;
    const functions = this.functions;
    const bodies = this.bodies;
    this.entries = new Map();
    this.functions = new Map();
    this.bodies = new Map();
    live.delete(this);
    // Flushes run one after another, each one atomic batch of increments.
    const flushing = this.flushing.then(() => this.useIndex((index) => index.apply(batchOf(entries, functions, bodies)))).catch((error: unknown) => {
      // The batch rolled back (disk full, read-only, locked too long): keep the records for the next flush.
      failedFlushes++;
      this.restore(entries, functions, bodies);
      this.warn(this.indexWarning(error));
    });
    this.flushing = flushing;
    return flushing;
  }

  /** Puts records of a failed flush back, merged with what arrived meanwhile; the next flush retries them. */
  private restore(entries: Map<string, PendingEntry>, functions: Map<string, FunctionCounters>, bodies: Map<string, PendingBody>): void {
    for (const [key, failed] of entries) {
      const newer = this.entries.get(key);
      if (!newer) this.entries.set(key, failed);
      else if (!newer.stored) {
        newer.hits += failed.hits;
        newer.lastAccessMs = Math.max(newer.lastAccessMs, failed.lastAccessMs);
        newer.stored ??= failed.stored;
      }
    }
    for (const [folder, failed] of functions) {
      const fn = this.fn(folder, failed.name);
      fn.hits += failed.hits;
      fn.misses += failed.misses;
      fn.computeTimeSavedMs += failed.computeTimeSavedMs;
    }
    for (const failed of bodies.values()) {
      this.used(failed.folder, failed.body, failed.name, failed.firstMs);
      this.used(failed.folder, failed.body, failed.name, failed.lastMs);
    }
    if (this.hasPending()) this.schedule();
  }

  /** The process is exiting and the index refused its records: stop the retry timer, so the process can end. */
  abandonAtExit(): void {
    if (this.timer) clearTimeout(this.timer), (this.timer = undefined);
  }

  /** Flushes (retrying a failed batch: records left now would be lost), then closes the index. */
  async close(): Promise<void> {
    for (let attempt = 0; attempt < CLOSE_FLUSH_ATTEMPTS && (attempt === 0 || this.hasPending()); attempt++) await this.flush();
    live.delete(this);
    await this.closeIndex();
  }
}

/** One atomic batch of what a flush carries: stored records whole, then hits and counters as increments. */
function batchOf(entries: Map<string, PendingEntry>, functions: Map<string, FunctionCounters>, bodies: Map<string, PendingBody>): IndexBatch {
  const put: IndexEntry[] = [];
  const hits: NonNullable<IndexBatch['hits']>[number][] = [];
  for (const [key, pending] of entries) {
    if (pending.stored) put.push({ ...pending.stored, hits: pending.stored.hits + pending.hits, lastAccessMs: Math.max(pending.stored.lastAccessMs, pending.lastAccessMs) });
    else hits.push({ key, name: pending.name, hits: pending.hits, lastAccessMs: pending.lastAccessMs, createdMs: pending.createdMs, computeMs: pending.computeMs, bytes: -1 });
  }
  const uses = [...bodies.values()].flatMap((b) => [{ folder: b.folder, body: b.body, name: b.name, usedMs: b.firstMs }, ...(b.lastMs !== b.firstMs ? [{ folder: b.folder, body: b.body, name: b.name, usedMs: b.lastMs }] : [])]);
  return { put, hits, functions: [...functions.values()], bodies: uses };
}
