/**
 * The SQLite {@link IndexStore}: larder's own tables on the connection of a
 * keyv store (keyv holds only larder's plain `meta` record, through keyv's
 * public API). Tables, all created by larder and documented in the README:
 *
 *   larder_entries(key PRIMARY KEY, folder, body, name, bytes, created_ms,
 *                  last_access_ms, compute_ms, hits)   WITHOUT ROWID, clustered by key
 *     index larder_entries_by_access(last_access_ms, key)   LRU paging
 *     index larder_entries_by_body_access(folder, body, last_access_ms, key, bytes)
 *                                      LRU paging of one body or function; GROUP BY aggregates
 *   larder_functions(folder PRIMARY KEY, name, hits, misses, compute_time_saved_ms)
 *   larder_bodies(folder, body, name, first_used_ms, last_used_ms, PRIMARY KEY(folder, body))
 *   larder_index (keyv's table: key 'larder:meta' → { schema, needsReconcile })
 *
 * Names are stored as JSON text (`"simulate"`), so any name, even one holding
 * NUL, round-trips through every driver. Writes of one batch run in `BEGIN IMMEDIATE`, and counters are SQL
 * increments (`hits = hits + excluded.hits`), so processes sharing the file
 * never lose counts. An index written by the previous release (keyv records
 * `larder:e/<key>` and `larder:f/<folder>` in `larder_index`) is migrated
 * once, read and deleted through keyv's public API; its entries had no sizes,
 * so the index then asks for one reconcile. Schema 3 replaced the index
 * `larder_entries_by_body(folder, body, bytes)` with `..._by_body_access`.
 */
import Keyv, { type KeyvStoreAdapter } from 'keyv';
import type { SqlConnection } from './sqlite-driver.js';
import { prefixEnd } from './index-batch.js';
import { accessScope, keyParts, MAX_PAGE, type BodyAggregate, type BodyRecord, type FunctionCounters, type IndexBatch, type IndexCapabilities, type IndexEntry, type IndexStore, type PageCursor, type PageOptions } from './index-store.js';

/** keyv's table in index.sqlite (the name the previous release used, so its records are found). */
export const KEYV_TABLE = 'larder_index';
/** Every table larder makes in index.sqlite (index-probe.ts: a file holding others is not larder's). */
export const OUR_TABLES = [KEYV_TABLE, 'larder_entries', 'larder_functions', 'larder_bodies'];
/** 2: larder's own tables (1 and none: keyv records only). 3: larder_entries_by_body_access replaced larder_entries_by_body. */
const SCHEMA = 3;
const CHUNK = 2000;
/** SQLite's page cache for a large delete (see deleteEntries): negative is KiB, so 64 MiB. */
const LARGE_DELETE_CACHE_KIB = -65536;

const CREATE = [
  `CREATE TABLE IF NOT EXISTS larder_entries (key TEXT PRIMARY KEY NOT NULL, folder TEXT NOT NULL, body TEXT NOT NULL, name TEXT NOT NULL,
     bytes INTEGER NOT NULL, created_ms REAL NOT NULL, last_access_ms REAL NOT NULL, compute_ms REAL NOT NULL, hits INTEGER NOT NULL) WITHOUT ROWID`,
  'CREATE INDEX IF NOT EXISTS larder_entries_by_access ON larder_entries(last_access_ms, key)',
  // One body's entries in LRU order are one range of it (a function's: one range per body, merged), and with
  // bytes it covers aggregate()'s GROUP BY folder, body. key is the table's primary key, so naming it here
  // only fixes its place (ties in last_access_ms by key), it is not stored twice.
  'CREATE INDEX IF NOT EXISTS larder_entries_by_body_access ON larder_entries(folder, body, last_access_ms, key, bytes)',
  `CREATE TABLE IF NOT EXISTS larder_functions (folder TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL,
     hits INTEGER NOT NULL, misses INTEGER NOT NULL, compute_time_saved_ms REAL NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS larder_bodies (folder TEXT NOT NULL, body TEXT NOT NULL, name TEXT NOT NULL,
     first_used_ms REAL NOT NULL, last_used_ms REAL NOT NULL, PRIMARY KEY (folder, body))`,
];

const ENTRY_COLUMNS = 'key, name, bytes, created_ms, last_access_ms, compute_ms, hits';
const j = (i: number) => `json_extract(j.value, '$[${i}]')`;

const UPSERT_ENTRIES = `INSERT INTO larder_entries (key, folder, body, name, bytes, created_ms, last_access_ms, compute_ms, hits)
  SELECT ${[0, 1, 2, 3, 4, 5, 6, 7, 8].map(j).join(', ')} FROM json_each(?) AS j WHERE true
  ON CONFLICT(key) DO UPDATE SET folder = excluded.folder, body = excluded.body, name = excluded.name, bytes = excluded.bytes,
    created_ms = excluded.created_ms, last_access_ms = excluded.last_access_ms, compute_ms = excluded.compute_ms, hits = excluded.hits`;
const ADD_HITS = `INSERT INTO larder_entries (key, folder, body, name, bytes, created_ms, last_access_ms, compute_ms, hits)
  SELECT ${[0, 1, 2, 3, 4, 5, 6, 7, 8].map(j).join(', ')} FROM json_each(?) AS j WHERE true
  ON CONFLICT(key) DO UPDATE SET hits = hits + excluded.hits, last_access_ms = max(last_access_ms, excluded.last_access_ms)`;
const ADD_FUNCTIONS = `INSERT INTO larder_functions (folder, name, hits, misses, compute_time_saved_ms)
  SELECT ${[0, 1, 2, 3, 4].map(j).join(', ')} FROM json_each(?) AS j WHERE true
  ON CONFLICT(folder) DO UPDATE SET name = excluded.name, hits = hits + excluded.hits, misses = misses + excluded.misses,
    compute_time_saved_ms = compute_time_saved_ms + excluded.compute_time_saved_ms`;
const USE_BODIES = `INSERT INTO larder_bodies (folder, body, name, first_used_ms, last_used_ms)
  SELECT ${[0, 1, 2, 3, 3].map(j).join(', ')} FROM json_each(?) AS j WHERE true
  ON CONFLICT(folder, body) DO UPDATE SET name = excluded.name, first_used_ms = min(first_used_ms, excluded.first_used_ms),
    last_used_ms = max(last_used_ms, excluded.last_used_ms)`;

/** A name column (JSON text) back to the name; a value that is not JSON is taken as it is. */
function nameOf(value: unknown): string {
  try {
    const name = JSON.parse(String(value)) as unknown;
    return typeof name === 'string' ? name : String(value);
  } catch {
    return String(value);
  }
}

/**
 * A number column back to a number: a row another program wrote may hold text, or a REAL of
 * 9e999 (Infinity); those read as 0, so sums, sizes and dates stay numbers (a NaN date made
 * `larder ls` stop with "Invalid time value").
 */
function finite(value: unknown): number {
  const n = Number(value);
  return Number.isFinite(n) ? n : 0;
}

function entryOf(row: Record<string, unknown>): IndexEntry {
  return {
    key: row.key as string,
    name: nameOf(row.name),
    bytes: finite(row.bytes),
    createdMs: finite(row.created_ms),
    lastAccessMs: finite(row.last_access_ms),
    computeMs: finite(row.compute_ms),
    hits: finite(row.hits),
  };
}

function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

interface Meta { schema: number; needsReconcile?: boolean }

/** The bodies of one function folder (bound twice) that have entries: one index seek each, not a read of every entry. */
const BODIES_OF = `WITH RECURSIVE b(body) AS (
    SELECT (SELECT min(body) FROM larder_entries WHERE folder = ?)
    UNION ALL SELECT (SELECT min(body) FROM larder_entries WHERE folder = ? AND body > b.body) FROM b WHERE b.body IS NOT NULL)
  SELECT body FROM b WHERE body IS NOT NULL`;

/** SQLite's order of a lastAccess page (keys are ASCII, so JS string order is SQLite's BINARY order). */
const byLastAccess = (a: IndexEntry, b: IndexEntry): number => a.lastAccessMs - b.lastAccessMs || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/**
 * Write transactions of the synchronous drivers (node:sqlite, bun:sqlite), one after another
 * in this thread across every store: a second connection's BEGIN IMMEDIATE would block the
 * thread in its busy timeout while the first transaction waits for that same thread.
 */
const syncLane = { queue: Promise.resolve() as Promise<unknown> };

/** larder's index over one SQLite connection (see the module comment). */
export class SqliteIndexStore implements IndexStore {
  readonly capabilities: IndexCapabilities = { atomicIncrements: true, orderedPaging: true, persistent: true };
  /** Our own writes, one after another: a transaction on a shared async connection must not meet another of ours (see {@link syncLane}). */
  private readonly lane: { queue: Promise<unknown> };

  private constructor(
    readonly description: string,
    private readonly sql: SqlConnection,
    /** undefined for a read-only view. */
    private readonly keyv: Keyv | undefined,
  ) {
    this.lane = sql.driver === 'sqlite3' ? { queue: Promise.resolve() } : syncLane;
  }

  /** Opens larder's tables on `sql` (creating them), migrating a previous release's records once. */
  static async open(description: string, sql: SqlConnection, store: KeyvStoreAdapter): Promise<SqliteIndexStore> {
    const keyv = new Keyv({ store, namespace: 'larder', throwOnErrors: true });
    const index = new SqliteIndexStore(description, sql, keyv);
    for (const statement of CREATE) await sql.run(statement);
    await index.migrate();
    return index;
  }

  /** A view that only reads (stats/ls of a location larder has not marked): undefined when the file has no tables of this schema. */
  static async readOnly(description: string, sql: SqlConnection): Promise<SqliteIndexStore | undefined> {
    const tables = await sql.all("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('larder_entries', 'larder_functions', 'larder_bodies')");
    if (tables.length < 3) return undefined;
    return new SqliteIndexStore(description, sql, undefined);
  }

  private writable(): Keyv {
    if (!this.keyv) throw new Error(`${this.description} is open read-only`);
    return this.keyv;
  }

  /** Runs `work` alone among our writes, inside BEGIN IMMEDIATE (rolled back when it throws). */
  private transaction<T>(work: () => Promise<T>): Promise<T> {
    this.writable();
    const run = this.lane.queue.then(async () => {
      await this.sql.run('BEGIN IMMEDIATE');
      try {
        const result = await work();
        await this.sql.run('COMMIT');
        return result;
      } catch (error) {
        await this.sql.run('ROLLBACK').catch(() => undefined);
        throw error;
      }
    });
    this.lane.queue = run.catch(() => undefined);
    return run;
  }

  /** Brings an index of an older schema to {@link SCHEMA}, once: the first process to open it does it, in one transaction. */
  private async migrate(): Promise<void> {
    const keyv = this.writable();
    if (((await keyv.get<Meta>('meta'))?.schema ?? 0) >= SCHEMA) return;
    await this.transaction(async () => {
      const meta = await keyv.get<Meta>('meta');
      const from = meta?.schema ?? 0;
      if (from >= SCHEMA) return; // another process migrated meanwhile
      const carried = from < 2 && (await this.carryKeyvRecords(keyv));
      // 3: larder_entries_by_body_access (made by CREATE on this open) does what larder_entries_by_body did.
      await this.sql.run('DROP INDEX IF EXISTS larder_entries_by_body');
      await keyv.set('meta', { schema: SCHEMA, needsReconcile: carried || meta?.needsReconcile === true } satisfies Meta);
    });
  }

  /** Schema 2: carries the previous release's keyv records into larder's tables and deletes them; whether there were entries (they lack sizes). */
  private async carryKeyvRecords(keyv: Keyv): Promise<boolean> {
    const entries: unknown[][] = [];
    const functions: unknown[][] = [];
    const bodies = new Map<string, unknown[]>();
    const old: string[] = [];
    // keyv's public iterator over this namespace: 'larder:e/<key>' and 'larder:f/<folder>' records of the previous release.
    for await (const [rawKey, value] of keyv.iterator!(keyv.namespace) as AsyncIterable<[string, unknown]>) {
      const key = rawKey.startsWith('larder:') ? rawKey.slice('larder:'.length) : rawKey;
      const record = value as Record<string, unknown> | undefined;
      if (key.startsWith('e/') && record) {
        const entryKey = key.slice(2);
        const [folder, body] = keyParts(entryKey);
        if (!folder || !body) continue;
        const name = String(record.name ?? folder);
        const created = Number(record.createdMs) || 0;
        const last = Number(record.lastAccessMs) || created;
        entries.push([entryKey, folder, body, JSON.stringify(name), -1, created, last, Number(record.computeMs) || 0, Number(record.hits) || 0]);
        const seen = bodies.get(`${folder}/${body}`);
        if (!seen) bodies.set(`${folder}/${body}`, [folder, body, JSON.stringify(name), created, last]);
        else seen[3] = Math.min(seen[3] as number, created), seen[4] = Math.max(seen[4] as number, last);
        old.push(key);
      } else if (key.startsWith('f/') && record) {
        functions.push([key.slice(2), JSON.stringify(String(record.name ?? key.slice(2))), Number(record.hits) || 0, Number(record.misses) || 0, Number(record.computeTimeSavedMs) || 0]);
        old.push(key);
      }
    }
    for (const part of chunks(entries)) await this.sql.run(UPSERT_ENTRIES, [JSON.stringify(part)]);
    for (const part of chunks(functions)) await this.sql.run(ADD_FUNCTIONS, [JSON.stringify(part)]);
    const bodyRows = [...bodies.values()].map(([folder, body, name, first, last]) => ({ folder, body, name, first, last }));
    for (const part of chunks(bodyRows)) {
      await this.sql.run(`INSERT INTO larder_bodies (folder, body, name, first_used_ms, last_used_ms)
        SELECT json_extract(j.value, '$.folder'), json_extract(j.value, '$.body'), json_extract(j.value, '$.name'), json_extract(j.value, '$.first'), json_extract(j.value, '$.last')
        FROM json_each(?) AS j WHERE true ON CONFLICT(folder, body) DO NOTHING`, [JSON.stringify(part)]);
    }
    for (const part of chunks(old, 500)) await keyv.delete(part);
    return entries.length > 0;
  }

  apply(batch: IndexBatch): Promise<void> {
    return this.transaction(async () => {
      for (const part of chunks(batch.put ?? [])) {
        await this.sql.run(UPSERT_ENTRIES, [JSON.stringify(part.map((e) => { const [folder, body] = keyParts(e.key); return [e.key, folder, body, JSON.stringify(e.name), e.bytes, e.createdMs, e.lastAccessMs, e.computeMs, e.hits]; }))]);
      }
      for (const part of chunks(batch.hits ?? [])) {
        await this.sql.run(ADD_HITS, [JSON.stringify(part.map((e) => { const [folder, body] = keyParts(e.key); return [e.key, folder, body, JSON.stringify(e.name), e.bytes, e.createdMs, e.lastAccessMs, e.computeMs, e.hits]; }))]);
      }
      for (const part of chunks(batch.functions ?? [])) {
        await this.sql.run(ADD_FUNCTIONS, [JSON.stringify(part.map((f) => [f.folder, JSON.stringify(f.name), f.hits, f.misses, f.computeTimeSavedMs]))]);
      }
      for (const part of chunks(batch.bodies ?? [])) {
        await this.sql.run(USE_BODIES, [JSON.stringify(part.map((b) => [b.folder, b.body, JSON.stringify(b.name), b.usedMs]))]);
      }
    });
  }

  async getEntries(keys: readonly string[]): Promise<(IndexEntry | undefined)[]> {
    const found = new Map<string, IndexEntry>();
    for (const part of chunks(keys, 500)) {
      for (const row of await this.sql.all(`SELECT ${ENTRY_COLUMNS} FROM larder_entries WHERE key IN (SELECT value FROM json_each(?))`, [JSON.stringify(part)])) {
        found.set(row.key as string, entryOf(row));
      }
    }
    return keys.map((key) => found.get(key));
  }

  deleteEntries(keys: readonly string[]): Promise<void> {
    return this.transaction(async () => {
      // Keys spread over the whole index touch pages all over its three b-trees: with SQLite's
      // default cache (2 MB) a large batch read many of them again and again (reduceSize at 10^6
      // entries: 40% fewer reads and 35% fewer writes with 64 MB). The pages are held only while
      // they are used, and the connection's own setting comes back after.
      const large = keys.length > CHUNK;
      const [{ cache_size: cacheSize }] = large ? ((await this.sql.all('PRAGMA cache_size')) as [{ cache_size: number }]) : [{ cache_size: 0 }];
      if (large) await this.sql.run(`PRAGMA cache_size = ${LARGE_DELETE_CACHE_KIB}`);
      try {
        for (const part of chunks(keys)) await this.sql.run('DELETE FROM larder_entries WHERE key IN (SELECT value FROM json_each(?))', [JSON.stringify(part)]);
      } finally {
        if (large) await this.sql.run(`PRAGMA cache_size = ${Math.trunc(Number(cacheSize))}`);
      }
    });
  }

  deletePrefix(prefix: string): Promise<number> {
    return this.transaction(async () => {
      // '' is every record, whatever its key: a range ending at '\x7f' kept rows someone else wrote with other characters.
      const [where, range] = prefix === '' ? ['', []] : ['WHERE key >= ? AND key < ?', [prefix, prefixEnd(prefix)]];
      const [{ n }] = (await this.sql.all(`SELECT count(*) AS n FROM larder_entries ${where}`, range)) as [{ n: number }];
      await this.sql.run(`DELETE FROM larder_entries ${where}`, range);
      const [folder, body] = prefix.split('/');
      if (!folder) await this.sql.run('DELETE FROM larder_bodies');
      else if (!body) await this.sql.run('DELETE FROM larder_bodies WHERE folder = ?', [folder]);
      else await this.sql.run('DELETE FROM larder_bodies WHERE folder = ? AND body = ?', [folder, body]);
      return Number(n);
    });
  }

  async page({ order, prefix = '', after, limit }: PageOptions): Promise<IndexEntry[]> {
    const n = Math.max(1, Math.min(MAX_PAGE, Math.floor(limit)));
    const scope = order === 'lastAccess' ? accessScope(prefix) : undefined;
    if (scope?.body !== undefined) return this.bodyAccessPage(scope.folder, scope.body, prefix, after, undefined, n);
    if (scope) {
      // A function's entries are one range per body of larder_entries_by_body_access: each body's first n
      // after the cursor, merged. A function has few bodies, so this reads a few pages' worth per page,
      // where one query over the key range sorted the whole function for every page. Once n are found,
      // a body is read only below the n-th (bodies of different times, the usual versions, read nothing).
      const bodies = await this.sql.all(BODIES_OF, [scope.folder, scope.folder]);
      let merged: IndexEntry[] = [];
      for (const { body } of bodies) {
        const before = merged.length === n ? merged[n - 1] : undefined;
        merged = merged.concat(await this.bodyAccessPage(scope.folder, String(body), prefix, after, before, n)).sort(byLastAccess).slice(0, n);
      }
      return merged;
    }
    const where: string[] = [];
    const params: unknown[] = [];
    // One lower bound on key: given `key >= prefix AND key > cursor`, SQLite seeks to the prefix and filters
    // the cursor, so each page of a function in key order read the function from its start again.
    if (order === 'key' && after && after.key >= prefix) where.push('key > ?'), params.push(after.key);
    else if (prefix !== '') where.push('key >= ?'), params.push(prefix);
    if (prefix !== '') where.push('key < ?'), params.push(prefixEnd(prefix));
    if (order === 'lastAccess' && after) {
      // A row value, so the page is a range SEARCH of larder_entries_by_access. The same condition
      // spelled `a > ? OR (a = ? AND key > ?)` made SQLite SCAN the index from its start on every
      // page, looking each row up in the table: reduceSize and `ls --order lastAccess` at 10^6
      // entries read ~30 pages per entry.
      where.push('(last_access_ms, key) > (?, ?)'), params.push(after.lastAccessMs, after.key);
    }
    const orderBy = order === 'key' ? 'key' : 'last_access_ms, key';
    const rows = await this.sql.all(`SELECT ${ENTRY_COLUMNS} FROM larder_entries ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ${orderBy} LIMIT ${n}`, params);
    return rows.map(entryOf);
  }

  /**
   * Up to n entries of one body under `prefix`, strictly between the cursors `after` and `before`, least
   * recently used first: one range SEARCH of larder_entries_by_body_access.
   */
  private async bodyAccessPage(folder: string, body: string, prefix: string, after: PageCursor | undefined, before: PageCursor | undefined, n: number): Promise<IndexEntry[]> {
    // The key range changes nothing for keys `folder/body/…` (keyParts made the columns from them); it keeps a
    // longer prefix (`folder/body/ab`) exact.
    const where = ['folder = ? AND body = ? AND key >= ? AND key < ?'];
    const params: unknown[] = [folder, body, prefix, prefixEnd(prefix)];
    if (after) where.push('(last_access_ms, key) > (?, ?)'), params.push(after.lastAccessMs, after.key);
    if (before) where.push('(last_access_ms, key) < (?, ?)'), params.push(before.lastAccessMs, before.key);
    const rows = await this.sql.all(`SELECT ${ENTRY_COLUMNS} FROM larder_entries WHERE ${where.join(' AND ')} ORDER BY last_access_ms, key LIMIT ${n}`, params);
    return rows.map(entryOf);
  }

  async aggregate(folder?: string): Promise<BodyAggregate[]> {
    const rows = await this.sql.all(`SELECT a.folder AS folder, a.body AS body, coalesce(b.name, f.name, json_quote(a.folder)) AS name, a.entries AS entries, a.bytes AS bytes
      FROM (SELECT folder, body, count(*) AS entries, sum(max(bytes, 0)) AS bytes FROM larder_entries ${folder === undefined ? '' : 'WHERE folder = ?'} GROUP BY folder, body) AS a
      LEFT JOIN larder_bodies AS b ON b.folder = a.folder AND b.body = a.body
      LEFT JOIN larder_functions AS f ON f.folder = a.folder`, folder === undefined ? [] : [folder]);
    return rows.map((row) => ({ folder: row.folder as string, body: row.body as string, name: nameOf(row.name), entries: finite(row.entries), bytes: finite(row.bytes) }));
  }

  async functions(): Promise<FunctionCounters[]> {
    const rows = await this.sql.all('SELECT folder, name, hits, misses, compute_time_saved_ms FROM larder_functions ORDER BY folder');
    return rows.map((row) => ({ folder: row.folder as string, name: nameOf(row.name), hits: finite(row.hits), misses: finite(row.misses), computeTimeSavedMs: finite(row.compute_time_saved_ms) }));
  }

  async bodies(folder?: string): Promise<BodyRecord[]> {
    const rows = await this.sql.all(`SELECT folder, body, name, first_used_ms, last_used_ms FROM larder_bodies ${folder === undefined ? '' : 'WHERE folder = ?'} ORDER BY folder, first_used_ms`, folder === undefined ? [] : [folder]);
    return rows.map((row) => ({ folder: row.folder as string, body: row.body as string, name: nameOf(row.name), firstUsedMs: finite(row.first_used_ms), lastUsedMs: finite(row.last_used_ms) }));
  }

  async needsReconcile(): Promise<boolean> {
    return (await this.keyv?.get<Meta>('meta'))?.needsReconcile === true;
  }

  /** Asks for a reconcile on next use (an index rebuilt empty beside existing result files). */
  async requestReconcile(): Promise<void> {
    const keyv = this.writable();
    await this.transaction(() => keyv.set('meta', { schema: SCHEMA, needsReconcile: true } satisfies Meta));
  }

  async reconciled(): Promise<void> {
    const keyv = this.writable();
    await this.transaction(() => keyv.set('meta', { schema: SCHEMA } satisfies Meta));
  }

  clear(): Promise<void> {
    return this.transaction(async () => {
      for (const table of ['larder_entries', 'larder_functions', 'larder_bodies']) await this.sql.run(`DELETE FROM ${table}`);
    });
  }

  async close(): Promise<void> {
    await this.lane.queue;
    if (this.keyv) await this.keyv.disconnect();
    else await this.sql.close();
  }
}
