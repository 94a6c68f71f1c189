/**
 * `IndexStore`: larder's own interface to the index, the metadata of a
 * location's entries (bytes, times, hits), per-function counters and
 * per-body records. Written as the contract a third-party implementation
 * (Redis, Postgres, ...) follows; `@larder/memory/testing` exports
 * `indexStoreConformance(factory)`, the tests that check it.
 *
 * Roles. The result files are the truth for values; the index is the
 * authority for listing: `stats()`, `entries()`, `list()`, `reduceSize()`,
 * `clearFunction()`, `clearStale()` and the "function changed" check read it
 * and never walk the files. `reconcile()` repairs it from the files. A hit
 * never reads the index (its bookkeeping reaches the index later, batched).
 *
 * Keys. An entry key is `<function folder>/<body id>/<arguments hash>`;
 * folder and body never contain '/'. Keys compare as byte strings (ASCII).
 *
 * Consistency an implementation owes:
 * - {@link IndexStore.apply} is atomic: all of a batch or none of it, and its
 *   increments ADD to what any other process added meanwhile (no lost update):
 *   SQLite in `BEGIN IMMEDIATE`, Redis in MULTI/Lua with HINCRBY, Postgres
 *   with `ON CONFLICT DO UPDATE SET hits = t.hits + excluded.hits`.
 *   A store that cannot says so with `capabilities.atomicIncrements = false`.
 * - Paging ({@link IndexStore.page}) returns at most `limit` records strictly
 *   after the cursor, in the asked order, without loading every record; a
 *   caller may delete the records of one page before asking for the next.
 * - Aggregates ({@link IndexStore.aggregate}) are computed by the store (SQL
 *   `GROUP BY`), never by returning every record.
 * - {@link IndexStore.clear} removes larder's records and nothing else of a
 *   store shared with other data.
 */

/** One entry's record. */
export interface IndexEntry {
  /** `<function folder>/<body id>/<arguments hash>`. */
  key: string;
  /** The function's name (the folder is a filesystem-safe form of it). */
  name: string;
  /** Size of the result file; -1 when not known yet (a record migrated from an index that did not keep it, until reconcile). */
  bytes: number;
  /** When the result was computed (ms since epoch). */
  createdMs: number;
  /** Last store or hit (ms since epoch). */
  lastAccessMs: number;
  /** How long the computation took (ms). */
  computeMs: number;
  /** Hits on this entry. */
  hits: number;
}

/** Counters of one function folder, over every process that flushed. */
export interface FunctionCounters {
  folder: string;
  name: string;
  hits: number;
  misses: number;
  /** Sum over hits of the hit entry's compute time (ms). */
  computeTimeSavedMs: number;
}

/** One body (version) of a function: `results/<folder>/<body>/`. */
export interface BodyRecord {
  folder: string;
  body: string;
  name: string;
  /** First store, hit or miss seen of this body (ms since epoch). */
  firstUsedMs: number;
  /** Last store, hit or miss seen of this body (ms since epoch). */
  lastUsedMs: number;
}

/** Entries and bytes of one body, as the store counts them. */
export interface BodyAggregate {
  folder: string;
  body: string;
  /** The name on one of its records. */
  name: string;
  entries: number;
  /** Sum of known sizes (records with bytes -1 count 0). */
  bytes: number;
}

/**
 * One atomic write. Each part is optional. Order of effect: `put` replaces
 * records whole; then `hits` adds to entries (an entry without a record gets
 * one from the hit's fields); `functions` adds to counters (created at 0);
 * `bodies` creates body records or widens them (first = min, last = max).
 */
export interface IndexBatch {
  put?: readonly IndexEntry[];
  /** Per entry: add `hits`, set last access to max(current, `lastAccessMs`). The other fields only create a missing record. */
  hits?: readonly { key: string; name: string; hits: number; lastAccessMs: number; createdMs: number; computeMs: number; bytes: number }[];
  /** Per function folder: add hits, misses and compute time saved. */
  functions?: readonly FunctionCounters[];
  /** Per body: a use at `usedMs`. */
  bodies?: readonly { folder: string; body: string; name: string; usedMs: number }[];
}

/** A position in a listing: the last record of the previous page. */
export interface PageCursor { key: string; lastAccessMs: number }

export interface PageOptions {
  /** 'key': ascending key; 'lastAccess': least recently used first (ties by key). */
  order: 'key' | 'lastAccess';
  /** Only keys starting with this (e.g. `folder/` or `folder/body/`). */
  prefix?: string | undefined;
  /** Records strictly after this one in `order`. */
  after?: PageCursor | undefined;
  /** At most this many (1..10000). */
  limit: number;
}

export interface IndexCapabilities {
  /** `apply` adds atomically across processes (false: read-add-write, concurrent flushes may lose counts). */
  atomicIncrements: boolean;
  /** `page` streams in order without loading everything (false: it loads and sorts every record per page, or throws when it cannot list). */
  orderedPaging: boolean;
  /** The records outlive this process (false: an in-memory index, filled from the files when listing needs it). */
  persistent: boolean;
}

/** larder's index interface (see the module comment for the contract). */
export interface IndexStore {
  /** Where the records live, for messages. */
  readonly description: string;
  readonly capabilities: IndexCapabilities;
  /** Applies one batch atomically (see {@link IndexBatch}). */
  apply(batch: IndexBatch): Promise<void>;
  /** The records of `keys`, in order; undefined where none. */
  getEntries(keys: readonly string[]): Promise<(IndexEntry | undefined)[]>;
  /** Deletes the records of `keys` (absent ones are fine). */
  deleteEntries(keys: readonly string[]): Promise<void>;
  /** Deletes every entry record whose key starts with `prefix` and the body records under it; returns how many entries. Counters stay. */
  deletePrefix(prefix: string): Promise<number>;
  /** One page of entries (see {@link PageOptions}). */
  page(options: PageOptions): Promise<IndexEntry[]>;
  /** Entries and bytes per body, for every body that has entries (or only those of `folder`). */
  aggregate(folder?: string): Promise<BodyAggregate[]>;
  /** Every function's counters. */
  functions(): Promise<FunctionCounters[]>;
  /** Body records (all, or of one function folder). */
  bodies(folder?: string): Promise<BodyRecord[]>;
  /** Whether records were carried over from an older index that lacked sizes, so the caller should reconcile once. */
  needsReconcile(): Promise<boolean>;
  /** Marks a reconcile done (clears {@link needsReconcile}). */
  reconciled(): Promise<void>;
  /** Removes larder's records (entries, counters, bodies) and nothing else. */
  clear(): Promise<void>;
  close(): Promise<void>;
}

/** The biggest page a caller asks for (and a store must serve). */
export const MAX_PAGE = 10_000;

/** Iterates every page of a listing, `pageSize` records at a time. With `deleting`, each page's records are expected gone before the next (the cursor still moves on). */
export async function* pages(index: IndexStore, options: Omit<PageOptions, 'limit' | 'after'>, pageSize = 1000): AsyncGenerator<IndexEntry[]> {
  let after: PageCursor | undefined;
  for (;;) {
    const page = await index.page({ ...options, after, limit: pageSize });
    if (page.length === 0) return;
    yield page;
    if (page.length < pageSize) return;
    const last = page[page.length - 1]!;
    after = { key: last.key, lastAccessMs: last.lastAccessMs };
  }
}

/** `folder/body/args` → [folder, body]. */
export function keyParts(key: string): [string, string] {
  const first = key.indexOf('/');
  const second = key.indexOf('/', first + 1);
  return [key.slice(0, first), key.slice(first + 1, second)];
}

/**
 * Which part of an index's (folder, body, last use, key) order a lastAccess page under `prefix`
 * reads: one body's range (`folder/body/`, or longer), one range per body of a function
 * (`folder/`), or none (the whole index, or a prefix that ends inside a name: the key range,
 * sorted). The SQLite and PostgreSQL indexes page this way, so a function's page is never a
 * sort of the whole function.
 */
export function accessScope(prefix: string): { folder: string; body?: string } | undefined {
  const [folder, body, ...rest] = prefix.split('/');
  if (!folder || body === undefined) return undefined;
  if (body === '' && rest.length === 0) return { folder };
  return body !== '' && rest.length > 0 ? { folder, body } : undefined;
}

/** Whether `value` is an {@link IndexStore} object (what the `index` option tells from a Keyv). */
export function isIndexStore(value: unknown): value is IndexStore {
  const v = value as Partial<IndexStore> | null;
  return typeof v === 'object' && v !== null && typeof v.apply === 'function' && typeof v.page === 'function' && typeof v.aggregate === 'function' && typeof v.capabilities === 'object';
}
