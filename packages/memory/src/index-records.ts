/**
 * Two {@link IndexStore}s over plain key-value records, the degraded modes:
 *
 * - {@link MemoryIndexStore}: a Map in this process. Used when no SQLite
 *   driver loads (`LARDER_MISSING_DRIVER`) or the index file cannot be opened
 *   (`LARDER_INDEX`). Not persistent: Memory fills it from the result files
 *   the first time a listing needs it, so stats/ls/reduceSize still answer.
 * - {@link KeyvIndexStore}: a bare Keyv instance the user passes as `index`.
 *   Records are `e/<entry key>`, `f/<folder>`, `b/<folder>/<body>` and
 *   `m/meta`. No atomic counters: `apply` reads, adds and writes back, so two
 *   processes flushing at once may lose counts. No ordered listing: `page`
 *   iterates every record with keyv's `iterator` (loading all entry records
 *   to sort them, cached until the next write); a store without `iterator`
 *   cannot list, and listing operations throw `LARDER_INDEX` saying so.
 */
import type Keyv from 'keyv';
import { MemoryError } from './errors.js';
import { keyParts, MAX_PAGE, type BodyAggregate, type BodyRecord, type FunctionCounters, type IndexBatch, type IndexCapabilities, type IndexEntry, type IndexStore, type PageOptions } from './index-store.js';

/** Where a record index keeps its records. */
interface Records {
  getMany(keys: readonly string[]): Promise<unknown[]>;
  setMany(records: readonly [string, unknown][]): Promise<void>;
  deleteMany(keys: readonly string[]): Promise<void>;
  /** Every [key, value] whose key starts with `prefix`; undefined when the store cannot enumerate. */
  scan(prefix: string): AsyncIterable<[string, unknown]> | undefined;
  close(): Promise<void>;
}

const E = 'e/';
const F = 'f/';
const B = 'b/';
const META = 'm/meta';

const compare = (order: PageOptions['order']) => (a: IndexEntry, b: IndexEntry): number =>
  order === 'key' ? (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) : a.lastAccessMs - b.lastAccessMs || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

class RecordIndexStore implements IndexStore {
  /** Sorted entry lists per order, dropped on any write that adds or changes an entry. */
  private sorted = new Map<string, IndexEntry[]>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly description: string,
    readonly capabilities: IndexCapabilities,
    private readonly records: Records,
  ) {}

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async *scanOrThrow(prefix: string): AsyncIterable<[string, unknown]> {
    const scan = this.records.scan(prefix);
    if (!scan) throw new MemoryError('LARDER_INDEX', `${this.description} cannot list its keys (its keyv store has no iterator), so larder cannot list, count or prune entries from it; use the default SQLite index or a keyv store with an iterator`);
    yield* scan;
  }

  apply(batch: IndexBatch): Promise<void> {
    return this.serial(async () => {
      if ((batch.put?.length ?? 0) + (batch.hits?.length ?? 0) > 0) this.sorted.clear();
      const writes = new Map<string, unknown>();
      for (const entry of batch.put ?? []) writes.set(E + entry.key, { ...entry });
      const hits = batch.hits ?? [];
      const functions = batch.functions ?? [];
      const bodies = batch.bodies ?? [];
      const keys = [...hits.map((h) => E + h.key), ...functions.map((f) => F + f.folder), ...bodies.map((b) => `${B}${b.folder}/${b.body}`)];
      const current = keys.length ? await this.records.getMany(keys) : [];
      const read = (key: string, i: number) => (writes.has(key) ? writes.get(key) : current[i]);
      hits.forEach((hit, i) => {
        const key = E + hit.key;
        const old = read(key, i) as IndexEntry | undefined;
        const base: IndexEntry = old ?? { key: hit.key, name: hit.name, bytes: hit.bytes, createdMs: hit.createdMs, lastAccessMs: hit.lastAccessMs, computeMs: hit.computeMs, hits: 0 };
        writes.set(key, { ...base, hits: base.hits + hit.hits, lastAccessMs: Math.max(base.lastAccessMs, hit.lastAccessMs) });
      });
      functions.forEach((fn, i) => {
        const key = F + fn.folder;
        const old = read(key, hits.length + i) as FunctionCounters | undefined;
        writes.set(key, { folder: fn.folder, name: fn.name, hits: (old?.hits ?? 0) + fn.hits, misses: (old?.misses ?? 0) + fn.misses, computeTimeSavedMs: (old?.computeTimeSavedMs ?? 0) + fn.computeTimeSavedMs });
      });
      bodies.forEach((use, i) => {
        const key = `${B}${use.folder}/${use.body}`;
        const old = read(key, hits.length + functions.length + i) as BodyRecord | undefined;
        writes.set(key, { folder: use.folder, body: use.body, name: use.name, firstUsedMs: Math.min(old?.firstUsedMs ?? Infinity, use.usedMs), lastUsedMs: Math.max(old?.lastUsedMs ?? -Infinity, use.usedMs) });
      });
      await this.records.setMany([...writes]);
    });
  }

  async getEntries(keys: readonly string[]): Promise<(IndexEntry | undefined)[]> {
    return (await this.records.getMany(keys.map((key) => E + key))) as (IndexEntry | undefined)[];
  }

  deleteEntries(keys: readonly string[]): Promise<void> {
    return this.serial(() => this.records.deleteMany(keys.map((key) => E + key)));
  }

  deletePrefix(prefix: string): Promise<number> {
    return this.serial(async () => {
      const entries: string[] = [];
      for await (const [key] of this.scanOrThrow(E + prefix)) entries.push(key);
      const [folder, body] = prefix.split('/');
      const bodies: string[] = [];
      for await (const [key] of this.scanOrThrow(folder ? `${B}${folder}/${body ? `${body}` : ''}` : B)) {
        if (!body || key === `${B}${folder}/${body}`) bodies.push(key);
      }
      await this.records.deleteMany([...entries, ...bodies]);
      return entries.length;
    });
  }

  private async sortedEntries(order: PageOptions['order']): Promise<IndexEntry[]> {
    let list = this.sorted.get(order);
    if (!list) {
      list = [];
      for await (const [, value] of this.scanOrThrow(E)) list.push(value as IndexEntry);
      list.sort(compare(order));
      this.sorted.set(order, list);
    }
    return list;
  }

  async page({ order, prefix = '', after, limit }: PageOptions): Promise<IndexEntry[]> {
    const n = Math.max(1, Math.min(MAX_PAGE, Math.floor(limit)));
    const list = await this.sortedEntries(order);
    const cmp = compare(order);
    let lo = 0;
    if (after) {
      const probe = { key: after.key, lastAccessMs: after.lastAccessMs } as IndexEntry;
      let hi = list.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (cmp(list[mid]!, probe) <= 0) lo = mid + 1;
        else hi = mid;
      }
    }
    const out: IndexEntry[] = [];
    for (let i = lo; i < list.length && out.length < n; i += n) {
      const candidates = list.slice(i, i + n).filter((e) => e.key.startsWith(prefix));
      // Deleted since the list was sorted: skipped (deletes do not re-sort).
      const live = await this.records.getMany(candidates.map((e) => E + e.key));
      candidates.forEach((e, k) => live[k] !== undefined && out.length < n && out.push(live[k] as IndexEntry));
    }
    return out;
  }

  async aggregate(folder?: string): Promise<BodyAggregate[]> {
    const groups = new Map<string, BodyAggregate>();
    for await (const [, value] of this.scanOrThrow(folder === undefined ? E : `${E}${folder}/`)) {
      const entry = value as IndexEntry;
      const [f, b] = keyParts(entry.key);
      const id = `${f}/${b}`;
      let group = groups.get(id);
      if (!group) groups.set(id, (group = { folder: f, body: b, name: entry.name, entries: 0, bytes: 0 }));
      group.entries++;
      group.bytes += Math.max(0, entry.bytes);
    }
    return [...groups.values()];
  }

  async functions(): Promise<FunctionCounters[]> {
    const out: FunctionCounters[] = [];
    for await (const [, value] of this.scanOrThrow(F)) out.push(value as FunctionCounters);
    return out.sort((a, b) => (a.folder < b.folder ? -1 : 1));
  }

  async bodies(folder?: string): Promise<BodyRecord[]> {
    const out: BodyRecord[] = [];
    for await (const [, value] of this.scanOrThrow(folder === undefined ? B : `${B}${folder}/`)) out.push(value as BodyRecord);
    return out.sort((a, b) => (a.folder < b.folder ? -1 : a.folder > b.folder ? 1 : a.firstUsedMs - b.firstUsedMs));
  }

  async needsReconcile(): Promise<boolean> {
    return ((await this.records.getMany([META]))[0] as { needsReconcile?: boolean } | undefined)?.needsReconcile === true;
  }

  async reconciled(): Promise<void> {
    await this.records.setMany([[META, { needsReconcile: false }]]);
  }

  clear(): Promise<void> {
    return this.serial(async () => {
      this.sorted.clear();
      for (const prefix of [E, F, B]) {
        const keys: string[] = [];
        for await (const [key] of this.scanOrThrow(prefix)) keys.push(key);
        await this.records.deleteMany(keys);
      }
    });
  }

  async close(): Promise<void> {
    await this.queue;
    await this.records.close();
  }
}

/** An in-process index (see the module comment). */
export class MemoryIndexStore extends RecordIndexStore {
  constructor(description = 'memory') {
    const map = new Map<string, unknown>();
    super(description, { atomicIncrements: true, orderedPaging: true, persistent: false }, {
      getMany: async (keys) => keys.map((key) => map.get(key)),
      setMany: async (records) => void records.forEach(([key, value]) => map.set(key, value)),
      deleteMany: async (keys) => void keys.forEach((key) => map.delete(key)),
      scan: (prefix) => (async function* () {
        for (const [key, value] of [...map]) if (key.startsWith(prefix)) yield [key, value] as [string, unknown];
      })(),
      close: async () => undefined,
    });
  }
}

/** A bare Keyv instance as the index (see the module comment for what it cannot do). */
export class KeyvIndexStore extends RecordIndexStore {
  constructor(keyv: Keyv, description = 'keyv instance') {
    const namespace = keyv.namespace ? `${keyv.namespace}:` : '';
    super(description, { atomicIncrements: false, orderedPaging: false, persistent: true }, {
      getMany: async (keys) => {
        const out: unknown[] = [];
        for (let i = 0; i < keys.length; i += 500) out.push(...((await keyv.getMany(keys.slice(i, i + 500))) as unknown[]));
        return out;
      },
      setMany: async (records) => {
        for (let i = 0; i < records.length; i += 500) {
          const results = await keyv.setMany(records.slice(i, i + 500).map(([key, value]) => ({ key, value })));
          if (results.some((ok) => ok === false)) throw new Error(`keyv setMany failed for ${results.filter((ok) => !ok).length} records`);
        }
      },
      deleteMany: async (keys) => {
        for (let i = 0; i < keys.length; i += 500) await keyv.delete(keys.slice(i, i + 500));
      },
      scan: (prefix) => {
        if (typeof keyv.iterator !== 'function') return undefined;
        const iterator = keyv.iterator.bind(keyv);
        return (async function* () {
          for await (const [raw, value] of iterator(keyv.namespace) as AsyncIterable<[string, unknown]>) {
            const key = namespace && raw.startsWith(namespace) ? raw.slice(namespace.length) : raw;
            if (key.startsWith(prefix) && value !== undefined) yield [key, value] as [string, unknown];
          }
        })();
      },
      close: () => keyv.disconnect(),
    });
  }
}
