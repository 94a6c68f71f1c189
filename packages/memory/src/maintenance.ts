/**
 * What Memory's maintenance methods do, from the index (the authority for
 * listing): stats, entries, reduceSize, clearStale, clearFunction, and
 * reconcile (the one that walks the result files, to repair the index).
 * Entries are read and deleted a page at a time: nothing here holds every
 * record of a location in memory at once (reconcile excepted: it lists files).
 */
import { closeLoaded } from '@larder/store-fs';
import type { CacheLocation } from './cache-location.js';
import { UNREADABLE } from './entry.js';
import { badOption, checkOptionNames } from './errors.js';
import { keyParts, pages, type BodyRecord, type IndexEntry, type IndexStore, type PageCursor } from './index-store.js';
import { functionFolder } from './key.js';
import type { Limits, ReduceSizeResult } from './reduce-size.js';
import type { CacheStats, EntrySummary, FunctionStats } from './stats.js';
import type { EntryFile } from './tree.js';

/**
 * Options of `memory.entries()`.
 *
 * @example
 * ```ts
 * import { Memory } from '@larder/memory';
 * const memory = new Memory('.cache');
 * for await (const entry of memory.entries({ function: 'simulate', stale: true })) console.log(entry.id, entry.bytes);
 * ```
 */
export interface EntriesOptions {
  /** Only the entries of the function of this name (every body). @default every function */
  function?: string | undefined;
  /** true: only entries of stale bodies; false: only the others. @default both */
  stale?: boolean | undefined;
  /** 'key' (grouped by function and body) or 'lastAccess' (least recently used first). @default 'key' */
  order?: 'key' | 'lastAccess' | undefined;
}

/** What the maintenance operations need from their Memory. */
export interface Maintained {
  /** The entry store, bookkeeping and guard of the location. */
  location: CacheLocation;
  staleAfterMs: number;
  /** Function names per folder this Memory cached (for records rebuilt from files that cannot be read). */
  names: ReadonlyMap<string, string>;
}

const PAGE = 1000;
/** The first page of a listing (see entriesOf). */
const FIRST_PAGE = 100;
/** Records reduceSize deletes in one transaction (see reduceFromIndex): 64,000 keys, a few MB. */
const RECORD_BATCH = 64 * PAGE;

/** The stale bodies, as `folder/body` (see `MemoryOptions.staleAfter`): a newer body of the folder exists and this one was not used for `staleAfterMs`. */
export function staleBodies(bodies: readonly BodyRecord[], staleAfterMs: number, now: number): Set<string> {
  const newest = new Map<string, number>();
  for (const b of bodies) newest.set(b.folder, Math.max(newest.get(b.folder) ?? -Infinity, b.firstUsedMs));
  const stale = new Set<string>();
  for (const b of bodies) {
    if (b.firstUsedMs < newest.get(b.folder)! && now - b.lastUsedMs > staleAfterMs) stale.add(`${b.folder}/${b.body}`);
  }
  return stale;
}

const empty = (): FunctionStats => ({ entries: 0, bytes: 0, hits: 0, misses: 0, computeTimeSavedMs: 0, staleEntries: 0, staleBytes: 0 });

/** Totals and per-function counters from the store's aggregates: O(bodies + functions), not O(entries). */
export async function statsOf(index: IndexStore, staleAfterMs: number): Promise<CacheStats> {
  const [groups, functions, bodies] = await Promise.all([index.aggregate(), index.functions(), index.bodies()]);
  const stale = staleBodies(bodies, staleAfterMs, Date.now());
  const total = empty();
  const perFunction: Record<string, FunctionStats> = {};
  const of = (name: string) => (perFunction[name] ??= empty());
  for (const group of groups) {
    const fn = of(group.name);
    fn.entries += group.entries, total.entries += group.entries;
    fn.bytes += group.bytes, total.bytes += group.bytes;
    if (stale.has(`${group.folder}/${group.body}`)) {
      fn.staleEntries += group.entries, total.staleEntries += group.entries;
      fn.staleBytes += group.bytes, total.staleBytes += group.bytes;
    }
  }
  for (const record of functions) {
    const fn = of(record.name);
    fn.hits += record.hits, total.hits += record.hits;
    fn.misses += record.misses, total.misses += record.misses;
    fn.computeTimeSavedMs += record.computeTimeSavedMs, total.computeTimeSavedMs += record.computeTimeSavedMs;
  }
  return { ...total, perFunction };
}

const summary = (entry: IndexEntry, stale: boolean): EntrySummary => ({
  id: entry.key,
  functionName: entry.name,
  bytes: Math.max(0, entry.bytes),
  createdMs: entry.createdMs,
  lastAccessMs: entry.lastAccessMs,
  computeMs: entry.computeMs,
  hits: entry.hits,
  stale,
});

/** Validates `entries()` options. */
export function resolveEntriesOptions(options: EntriesOptions | undefined): EntriesOptions {
  const o = options ?? {};
  if (typeof o !== 'object' || o === null) badOption('entries(options)', 'an object', o);
  checkOptionNames('entries(options)', o, ['function', 'stale', 'order']);
  if (o.function !== undefined && (typeof o.function !== 'string' || o.function === '')) badOption('function', 'a function name', o.function);
  if (o.stale !== undefined && typeof o.stale !== 'boolean') badOption('stale', 'true, false or undefined', o.stale);
  if (o.order !== undefined && o.order !== 'key' && o.order !== 'lastAccess') badOption('order', "'key' or 'lastAccess'", o.order);
  return o;
}

/** Runs one piece of work on the index (each page is its own, so a stream holds no connection between pages). */
export type IndexRun = <T>(work: (index: IndexStore) => Promise<T>) => Promise<T>;

/** Streams entries from the index, a page at a time. */
export async function* entriesOf(run: IndexRun, options: EntriesOptions, staleAfterMs: number): AsyncGenerator<EntrySummary> {
  const stale = staleBodies(await run((index) => index.bodies()), staleAfterMs, Date.now());
  const prefix = options.function === undefined ? '' : `${functionFolder(options.function)}/`;
  const order = options.order ?? 'key';
  // Only the stale bodies' ranges are read when only stale entries are asked for in key order.
  const ranges = options.stale === true && order === 'key' ? [...stale].sort().map((id) => `${id}/`).filter((p) => p.startsWith(prefix)) : [prefix];
  // The first page is small, so a listing's first screen (`larder ls`) waits for a short query only.
  let limit = FIRST_PAGE;
  for (const range of ranges) {
    let after: PageCursor | undefined;
    for (;;) {
      const asked = limit;
      const page = await run((index) => index.page({ order, prefix: range, after, limit: asked }));
      limit = PAGE;
      for (const entry of page) {
        const [folder, body] = keyParts(entry.key);
        const isStale = stale.has(`${folder}/${body}`);
        if (options.stale === undefined || options.stale === isStale) yield summary(entry, isStale);
      }
      if (page.length < asked) break;
      const last = page[page.length - 1]!;
      after = { key: last.key, lastAccessMs: last.lastAccessMs };
    }
  }
}

/** Deletes entries: files first (the files are the truth), then their records. A file already gone just loses its record. */
async function removeEntries(m: Maintained, index: IndexStore, entries: readonly IndexEntry[]): Promise<void> {
  await removeRecords(index, await removeFiles(m, entries));
}

/** The first half of {@link removeEntries}: drops the entries' pending bookkeeping and deletes their files; returns their keys. */
async function removeFiles(m: Maintained, entries: readonly IndexEntry[]): Promise<string[]> {
  const keys = entries.map((e) => e.key);
  if (keys.length === 0) return keys;
  m.location.keeper.forgetEntries(keys);
  await m.location.deleteValues(keys);
  return keys;
}

/** The second half of {@link removeEntries}: the records of entries whose files are gone. */
async function removeRecords(index: IndexStore, keys: readonly string[]): Promise<void> {
  if (keys.length > 0) await index.deleteEntries(keys);
}

/**
 * reduceSize from the index: entries of stale bodies first, then least recently used first,
 * a page at a time, until every limit holds.
 */
export async function reduceFromIndex(m: Maintained, index: IndexStore, limits: Limits): Promise<ReduceSizeResult> {
  const now = Date.now();
  const groups = await index.aggregate();
  let items = groups.reduce((n, g) => n + g.entries, 0);
  let bytes = groups.reduce((n, g) => n + g.bytes, 0);
  let removed = 0;
  let freedBytes = 0;
  const over = () => (limits.itemsLimit !== undefined && items > limits.itemsLimit) || (limits.bytesLimit !== undefined && bytes > limits.bytesLimit);
  const tooOld = (e: IndexEntry) => limits.ageLimitMs !== undefined && now - e.lastAccessMs > limits.ageLimitMs;
  const take = (page: IndexEntry[], entry: IndexEntry) => {
    page.push(entry);
    items--, removed++;
    bytes -= Math.max(0, entry.bytes), freedBytes += Math.max(0, entry.bytes);
  };
  // Stale bodies first, in key order within each: a body is one key range of the index, which
  // pages without sorting it (least recently used first within a body made the SQLite index sort
  // the body's every entry again for each page: quadratic, hours for a stale body of 10^6).
  for (const id of staleBodies(await index.bodies(), m.staleAfterMs, now)) {
    if (!over() && limits.ageLimitMs === undefined) break;
    for await (const page of pages(index, { order: 'key', prefix: `${id}/` }, PAGE)) {
      const doomed: IndexEntry[] = [];
      for (const entry of page) if (over() || tooOld(entry)) take(doomed, entry);
      await removeEntries(m, index, doomed);
      if (!over() && limits.ageLimitMs === undefined) break;
    }
  }
  // Then everything, least recently used first; stop at the first entry every limit keeps.
  // Pipelined (the index and the file system wait on different things): while one page's files
  // are deleted, the next page is read and the records of earlier pages are deleted. Pages are
  // read after a cursor, so a read never meets records whose deletion is under way. Records go
  // RECORD_BATCH at a time, in key order, in one transaction: deleting keys spread over the whole
  // index dirties a page of each of its b-trees per key, so one large sorted batch writes each
  // page once where page-sized batches wrote it again and again (measured at 10^6 entries: the
  // record deletes were half of reduceSize; batches of 64,000 wrote 25% fewer pages than of 16,000).
  // At most two batches of keys and two pages are held.
  let done = !over() && limits.ageLimitMs === undefined;
  const handled = <T>(promise: Promise<T>) => (promise.catch(() => undefined), promise); // awaited later
  const read = (after?: PageCursor) => handled(index.page({ order: 'lastAccess', after, limit: PAGE }));
  let next = done ? undefined : read();
  let records: Promise<void> = Promise.resolve();
  let gone: string[] = [];
  const dropRecords = async () => {
    const keys = gone.sort();
    gone = [];
    await records;
    records = handled(removeRecords(index, keys));
  };
  try {
    while (!done && next) {
      const page = await next;
      const last = page.at(-1);
      next = page.length === PAGE && last ? read({ key: last.key, lastAccessMs: last.lastAccessMs }) : undefined;
      const doomed: IndexEntry[] = [];
      for (const entry of page) {
        if (!over() && !tooOld(entry)) {
          done = true;
          break;
        }
        take(doomed, entry);
      }
      for (const key of await removeFiles(m, doomed)) gone.push(key);
      if (gone.length >= RECORD_BATCH) await dropRecords();
    }
  } finally {
    // Nothing left running: the records of files already deleted (their failure is this
    // call's), and a page read ahead that was not needed.
    await dropRecords();
    await records;
    await next?.catch(() => undefined);
  }
  return { removed, freedBytes };
}

/** Removes every entry of every stale body (see `MemoryOptions.staleAfter`). */
export async function clearStaleFromIndex(m: Maintained, index: IndexStore): Promise<ReduceSizeResult> {
  const stale = staleBodies(await index.bodies(), m.staleAfterMs, Date.now());
  let removed = 0;
  let freedBytes = 0;
  for (const id of stale) {
    // Each page is deleted before the next is asked for, so the first page is always the next one.
    for (;;) {
      const page = await index.page({ order: 'key', prefix: `${id}/`, limit: PAGE });
      await removeEntries(m, index, page);
      removed += page.length;
      freedBytes += page.reduce((n, e) => n + Math.max(0, e.bytes), 0);
      if (page.length < PAGE) break;
    }
    await index.deletePrefix(`${id}/`);
    m.location.keeper.forget(`${id}/`);
    // Whatever the index never heard of under the body (a writer killed before its flush) goes too.
    await m.location.removeValuesUnder(id);
  }
  return { removed, freedBytes };
}

/**
 * Deletes a function folder's entries: its records by prefix in the index, and its files
 * (the function's own folder is swept, so files the index never heard of, from a process
 * killed before its flush, go too). Returns how many entries the index had.
 */
export async function clearFolder(location: CacheLocation, index: IndexStore, folder: string): Promise<number> {
  location.keeper.forget(`${folder}/`);
  const count = await index.deletePrefix(`${folder}/`);
  await location.removeValuesUnder(folder);
  return count;
}

/** Other bodies of `folder` than `body`, and how many entries they keep, from the index. */
export async function otherBodies(index: IndexStore, folder: string, body: string): Promise<{ bodies: number; entries: number }> {
  const [records, groups] = await Promise.all([index.bodies(folder), index.aggregate(folder)]);
  const ids = new Set([...records.map((b) => b.body), ...groups.map((g) => g.body)]);
  ids.delete(body);
  return { bodies: ids.size, entries: groups.filter((g) => g.body !== body).reduce((n, g) => n + g.entries, 0) };
}

/** An entry record rebuilt from its file: name and times from its envelope, or from the folder and mtime when it cannot be read. */
async function recordFromFile(location: CacheLocation, file: EntryFile, names: ReadonlyMap<string, string>): Promise<IndexEntry> {
  const folder = file.key.slice(0, file.key.indexOf('/'));
  // Mapped, so only the header and manifest are read; the value is not kept, so its file is closed.
  const read = await location.readAny(file.key);
  const entry = read === UNREADABLE ? undefined : read;
  if (entry) closeLoaded(entry);
  return {
    key: file.key,
    name: entry?.name ?? names.get(folder) ?? folder,
    bytes: file.bytes,
    createdMs: entry?.createdMs ?? file.mtimeMs,
    lastAccessMs: file.mtimeMs,
    computeMs: entry?.computeMs ?? 0,
    hits: 0,
  };
}

/**
 * Makes the index agree with the result files (this walks the tree): a record for every file
 * (from its header when the index lost it), the file's size on every record, no record without
 * a file. Returns how many records were added and removed.
 */
export async function reconcileIndex(m: Maintained, index: IndexStore): Promise<{ added: number; removed: number }> {
  const files = await m.location.listEntries();
  let added = 0;
  for (let i = 0; i < files.length; i += PAGE) {
    const part = files.slice(i, i + PAGE);
    const records = await index.getEntries(part.map((f) => f.key));
    const put: IndexEntry[] = [];
    for (const [k, file] of part.entries()) {
      const record = records[k];
      if (record === undefined) put.push(await recordFromFile(m.location, file, m.names)), added++;
      else if (record.bytes !== file.bytes) put.push({ ...record, bytes: file.bytes });
    }
    const bodies = put.map((e) => { const [folder, body] = keyParts(e.key); return { folder, body, name: e.name, usedMs: e.lastAccessMs }; });
    if (put.length > 0) await index.apply({ put, bodies });
  }
  const onDisk = new Set(files.map((f) => f.key));
  let removed = 0;
  for await (const page of pages(index, { order: 'key' }, PAGE)) {
    const orphans: string[] = [];
    // Checked again one by one: a file may have been written since the listing.
    for (const entry of page) if (!onDisk.has(entry.key) && !(await m.location.store.has(entry.key).catch(() => true))) orphans.push(entry.key);
    if (orphans.length > 0) await index.deleteEntries(orphans);
    removed += orphans.length;
  }
  await index.reconciled();
  return { added, removed };
}

/**
 * The cheap automatic check before a listing: reconcile when the index asks for it (migrated
 * from an older release), when it is not persistent (an in-memory index starts empty), or when
 * it is empty while the location has result folders (a lost or rebuilt index file).
 */
export async function needsReconcile(m: Maintained, index: IndexStore): Promise<boolean> {
  if (!index.capabilities.persistent || (await index.needsReconcile())) return true;
  if ((await index.page({ order: 'key', limit: 1 })).length > 0) return false;
  return m.location.holdsEntries();
}
