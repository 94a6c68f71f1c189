/**
 * The PostgreSQL {@link IndexStore}: larder's own tables in the database of
 * the URL, every row carrying the location's namespace (all created by larder,
 * documented in the README; `CREATE TABLE IF NOT EXISTS` under an advisory lock):
 *
 *   larder_entries(namespace, key, folder, body, name, bytes, created_ms, last_access_ms,
 *                  compute_ms, hits, PRIMARY KEY (namespace, key))
 *     index larder_entries_by_access(namespace, last_access_ms, key)   LRU paging
 *     index larder_entries_by_body_access(namespace, folder, body, last_access_ms, key)
 *                                    LRU paging of one body or function; GROUP BY aggregates
 *                                    (it replaced larder_entries_by_body(namespace, folder, body))
 *   larder_functions(namespace, folder, name, hits, misses, compute_time_saved_ms)
 *   larder_bodies(namespace, folder, body, name, first_used_ms, last_used_ms)
 *   larder_meta(namespace, needs_reconcile)
 *
 * Text columns that are compared use `COLLATE "C"` (byte order, like the other
 * stores). Names are stored as JSON text, so any name (NUL, lone surrogates)
 * round-trips. A batch is one transaction of upserts whose counters add on the
 * server (`hits = t.hits + excluded.hits`), so concurrent flushes never lose
 * counts; rows are sent sorted by key, so two flushes lock in one order.
 */
import { bodyPrefixOf, checkBatch, mergeBatch, prefixEnd } from './index-batch.js';
import { accessScope, MAX_PAGE, type BodyAggregate, type BodyRecord, type FunctionCounters, type IndexBatch, type IndexCapabilities, type IndexEntry, type IndexStore, type PageOptions } from './index-store.js';
import { PostgresConnection } from './postgres-connection.js';
import { checkNamespace, remoteOf, type RemoteUrl } from './remote-url.js';

const C = 'text COLLATE "C" NOT NULL';
export const POSTGRES_INDEX_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS larder_entries (namespace ${C}, key ${C}, folder ${C}, body ${C}, name text NOT NULL,
     bytes bigint NOT NULL, created_ms double precision NOT NULL, last_access_ms double precision NOT NULL,
     compute_ms double precision NOT NULL, hits bigint NOT NULL, PRIMARY KEY (namespace, key))`,
  'CREATE INDEX IF NOT EXISTS larder_entries_by_access ON larder_entries (namespace, last_access_ms, key)',
  // One body's entries in LRU order are one range of it (a function's: one range per body), and it serves
  // aggregate()'s GROUP BY folder, body, which larder_entries_by_body (namespace, folder, body) did before.
  'CREATE INDEX IF NOT EXISTS larder_entries_by_body_access ON larder_entries (namespace, folder, body, last_access_ms, key)',
  'DROP INDEX IF EXISTS larder_entries_by_body',
  `CREATE TABLE IF NOT EXISTS larder_functions (namespace ${C}, folder ${C}, name text NOT NULL, hits bigint NOT NULL,
     misses bigint NOT NULL, compute_time_saved_ms double precision NOT NULL, PRIMARY KEY (namespace, folder))`,
  `CREATE TABLE IF NOT EXISTS larder_bodies (namespace ${C}, folder ${C}, body ${C}, name text NOT NULL,
     first_used_ms double precision NOT NULL, last_used_ms double precision NOT NULL, PRIMARY KEY (namespace, folder, body))`,
  `CREATE TABLE IF NOT EXISTS larder_meta (namespace ${C} PRIMARY KEY, needs_reconcile boolean NOT NULL)`,
];

const ENTRY_COLUMNS = 'key, name, bytes, created_ms, last_access_ms, compute_ms, hits';
const CHUNK = 2000;

const UPSERT_ENTRIES = `INSERT INTO larder_entries AS t (namespace, key, folder, body, name, bytes, created_ms, last_access_ms, compute_ms, hits)
  SELECT $1::text, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::float8[], $8::float8[], $9::float8[], $10::bigint[])
  ON CONFLICT (namespace, key) DO UPDATE SET folder = excluded.folder, body = excluded.body, name = excluded.name, bytes = excluded.bytes,
    created_ms = excluded.created_ms, last_access_ms = excluded.last_access_ms, compute_ms = excluded.compute_ms, hits = excluded.hits`;
const ADD_HITS = `INSERT INTO larder_entries AS t (namespace, key, folder, body, name, bytes, created_ms, last_access_ms, compute_ms, hits)
  SELECT $1::text, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::float8[], $8::float8[], $9::float8[], $10::bigint[])
  ON CONFLICT (namespace, key) DO UPDATE SET hits = t.hits + excluded.hits, last_access_ms = greatest(t.last_access_ms, excluded.last_access_ms)`;
const ADD_FUNCTIONS = `INSERT INTO larder_functions AS t (namespace, folder, name, hits, misses, compute_time_saved_ms)
  SELECT $1::text, * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::float8[])
  ON CONFLICT (namespace, folder) DO UPDATE SET name = excluded.name, hits = t.hits + excluded.hits, misses = t.misses + excluded.misses,
    compute_time_saved_ms = t.compute_time_saved_ms + excluded.compute_time_saved_ms`;
const USE_BODIES = `INSERT INTO larder_bodies AS t (namespace, folder, body, name, first_used_ms, last_used_ms)
  SELECT $1::text, * FROM unnest($2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[])
  ON CONFLICT (namespace, folder, body) DO UPDATE SET name = excluded.name, first_used_ms = least(t.first_used_ms, excluded.first_used_ms),
    last_used_ms = greatest(t.last_used_ms, excluded.last_used_ms)`;

function nameOf(value: unknown, fallback: string): string {
  try {
    const name = JSON.parse(String(value)) as unknown;
    return typeof name === 'string' ? name : fallback;
  } catch {
    return fallback;
  }
}

function entryOf(row: Record<string, unknown>): IndexEntry {
  const key = row.key as string;
  return { key, name: nameOf(row.name, key.split('/')[0]!), bytes: Number(row.bytes), createdMs: Number(row.created_ms), lastAccessMs: Number(row.last_access_ms), computeMs: Number(row.compute_ms), hits: Number(row.hits) };
}

/** Columns of `rows` as arrays, the shape `unnest($2::text[], …)` takes. */
function columns<T>(rows: readonly T[], ...pick: ((row: T) => unknown)[]): unknown[][] {
  return pick.map((get) => rows.map(get));
}

function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Options of {@link PostgresIndexStore.open}. */
export interface PostgresIndexOptions {
  /** The database, e.g. `postgres://user@db-host:5432/larder` (a `?namespace=` parameter is ignored here: pass `namespace`). */
  url: string | RemoteUrl;
  /** Scopes every row. One per cache location. */
  namespace: string;
}

/** larder's index in PostgreSQL tables, one namespace per location (see the module comment). */
export class PostgresIndexStore implements IndexStore {
  readonly capabilities: IndexCapabilities = { atomicIncrements: true, orderedPaging: true, persistent: true };
  readonly description: string;

  private constructor(private readonly db: PostgresConnection, readonly namespace: string) {
    this.description = `PostgreSQL index ${db.remote.display} (namespace ${namespace})`;
  }

  /**
   * A PostgreSQL index. Connects (and creates larder's tables) on first use.
   *
   * @example
   * ```ts
   * import { PostgresIndexStore, Memory } from '@larder/memory';
   * const index = PostgresIndexStore.open({ url: 'postgres://postgres@127.0.0.1:5432/larder', namespace: 'sweeps' });
   * const memory = new Memory('shared-cache', { index });
   * ```
   */
  static open(options: PostgresIndexOptions): PostgresIndexStore {
    const remote: RemoteUrl = remoteOf(options.url, 'postgres', 'PostgresIndexStore url');
    return new PostgresIndexStore(new PostgresConnection(remote, 'the PostgreSQL index', POSTGRES_INDEX_SCHEMA), checkNamespace(options.namespace, 'PostgresIndexStore'));
  }

  async apply(batch: IndexBatch): Promise<void> {
    checkBatch(batch);
    const { put, hits, functions, bodies } = mergeBatch(batch);
    if (put.length + hits.length + functions.length + bodies.length === 0) return;
    const ns = this.namespace;
    const folderOf = (key: string) => key.slice(0, key.indexOf('/'));
    const bodyOf = (key: string) => key.split('/')[1];
    await this.db.transaction(async (query) => {
      for (const part of chunks(put)) {
        await query(UPSERT_ENTRIES, [ns, ...columns(part, (e) => e.key, (e) => folderOf(e.key), (e) => bodyOf(e.key), (e) => JSON.stringify(e.name), (e) => e.bytes, (e) => e.createdMs, (e) => e.lastAccessMs, (e) => e.computeMs, (e) => e.hits)]);
      }
      for (const part of chunks(hits)) {
        await query(ADD_HITS, [ns, ...columns(part, (h) => h.key, (h) => folderOf(h.key), (h) => bodyOf(h.key), (h) => JSON.stringify(h.name), (h) => h.bytes, (h) => h.createdMs, (h) => h.lastAccessMs, (h) => h.computeMs, (h) => h.hits)]);
      }
      for (const part of chunks(functions)) {
        await query(ADD_FUNCTIONS, [ns, ...columns(part, (f) => f.folder, (f) => JSON.stringify(f.name), (f) => f.hits, (f) => f.misses, (f) => f.computeTimeSavedMs)]);
      }
      for (const part of chunks(bodies)) {
        await query(USE_BODIES, [ns, ...columns(part, (b) => b.folder, (b) => b.body, (b) => JSON.stringify(b.name), (b) => b.firstMs, (b) => b.lastMs)]);
      }
    });
  }

  async getEntries(keys: readonly string[]): Promise<(IndexEntry | undefined)[]> {
    const found = new Map<string, IndexEntry>();
    for (const part of chunks(keys)) {
      const { rows } = await this.db.query(`SELECT ${ENTRY_COLUMNS} FROM larder_entries WHERE namespace = $1 AND key = ANY($2::text[])`, [this.namespace, part]);
      for (const row of rows) found.set(row.key as string, entryOf(row));
    }
    return keys.map((key) => found.get(key));
  }

  async deleteEntries(keys: readonly string[]): Promise<void> {
    for (const part of chunks(keys)) await this.db.query('DELETE FROM larder_entries WHERE namespace = $1 AND key = ANY($2::text[])', [this.namespace, part]);
  }

  deletePrefix(prefix: string): Promise<number> {
    return this.db.transaction(async (query) => {
      const range = prefix === '' ? '' : 'AND key >= $2 AND key < $3';
      const { rowCount } = await query(`DELETE FROM larder_entries WHERE namespace = $1 ${range}`, prefix === '' ? [this.namespace] : [this.namespace, prefix, prefixEnd(prefix)]);
      const [folder, body] = bodyPrefixOf(prefix).split('/');
      if (!folder) await query('DELETE FROM larder_bodies WHERE namespace = $1', [this.namespace]);
      else if (!body) await query('DELETE FROM larder_bodies WHERE namespace = $1 AND folder = $2', [this.namespace, folder]);
      else await query('DELETE FROM larder_bodies WHERE namespace = $1 AND folder = $2 AND body = $3', [this.namespace, folder, body]);
      return rowCount ?? 0;
    });
  }

  async page({ order, prefix = '', after, limit }: PageOptions): Promise<IndexEntry[]> {
    const n = Math.max(1, Math.min(MAX_PAGE, Math.floor(limit)));
    const params: unknown[] = [this.namespace];
    const where = ['namespace = $1'];
    const param = (value: unknown) => `$${params.push(value)}`;
    const scope = order === 'lastAccess' ? accessScope(prefix) : undefined;
    if (scope) {
      // A body's page is one range of larder_entries_by_body_access from the cursor; a function's, the
      // first n of each of its bodies (found by one index probe each: a loose index scan), merged.
      // A key range with ORDER BY last_access_ms sorted the whole function for every page.
      const folder = param(scope.folder);
      const range = [param(prefix), param(prefixEnd(prefix))] as const;
      const cursor = after ? `AND (last_access_ms, key) > (${param(after.lastAccessMs)}::float8, ${param(after.key)})` : '';
      const inBody = (body: string) => `SELECT ${ENTRY_COLUMNS} FROM larder_entries WHERE namespace = $1 AND folder = ${folder} AND body = ${body}
        AND key >= ${range[0]} AND key < ${range[1]} ${cursor} ORDER BY last_access_ms, key LIMIT ${n}`;
      const sql = scope.body !== undefined ? inBody(param(scope.body)) : `WITH RECURSIVE b(body) AS (
          SELECT (SELECT min(body) FROM larder_entries WHERE namespace = $1 AND folder = ${folder})
          UNION ALL SELECT (SELECT min(body) FROM larder_entries WHERE namespace = $1 AND folder = ${folder} AND body > b.body) FROM b WHERE b.body IS NOT NULL)
        SELECT e.* FROM b, LATERAL (${inBody('b.body')}) AS e WHERE b.body IS NOT NULL ORDER BY e.last_access_ms, e.key LIMIT ${n}`;
      const { rows } = await this.db.query(sql, params);
      return rows.map(entryOf);
    }
    if (prefix !== '') where.push(`key >= ${param(prefix)} AND key < ${param(prefixEnd(prefix))}`);
    if (after && order === 'key') where.push(`key > ${param(after.key)}`);
    if (after && order === 'lastAccess') where.push(`(last_access_ms, key) > (${param(after.lastAccessMs)}::float8, ${param(after.key)})`);
    const orderBy = order === 'key' ? 'key' : 'last_access_ms, key';
    const { rows } = await this.db.query(`SELECT ${ENTRY_COLUMNS} FROM larder_entries WHERE ${where.join(' AND ')} ORDER BY ${orderBy} LIMIT ${n}`, params);
    return rows.map(entryOf);
  }

  async aggregate(folder?: string): Promise<BodyAggregate[]> {
    const { rows } = await this.db.query(`SELECT a.folder, a.body, coalesce(b.name, f.name, to_json(a.folder)::text) AS name, a.entries, a.bytes
      FROM (SELECT folder, body, count(*) AS entries, sum(greatest(bytes, 0)) AS bytes FROM larder_entries
            WHERE namespace = $1 ${folder === undefined ? '' : 'AND folder = $2'} GROUP BY folder, body) AS a
      LEFT JOIN larder_bodies AS b ON b.namespace = $1 AND b.folder = a.folder AND b.body = a.body
      LEFT JOIN larder_functions AS f ON f.namespace = $1 AND f.folder = a.folder`, folder === undefined ? [this.namespace] : [this.namespace, folder]);
    return rows.map((row) => ({ folder: row.folder as string, body: row.body as string, name: nameOf(row.name, row.folder as string), entries: Number(row.entries), bytes: Number(row.bytes) }));
  }

  async functions(): Promise<FunctionCounters[]> {
    const { rows } = await this.db.query('SELECT folder, name, hits, misses, compute_time_saved_ms FROM larder_functions WHERE namespace = $1 ORDER BY folder', [this.namespace]);
    return rows.map((row) => ({ folder: row.folder as string, name: nameOf(row.name, row.folder as string), hits: Number(row.hits), misses: Number(row.misses), computeTimeSavedMs: Number(row.compute_time_saved_ms) }));
  }

  async bodies(folder?: string): Promise<BodyRecord[]> {
    const { rows } = await this.db.query(`SELECT folder, body, name, first_used_ms, last_used_ms FROM larder_bodies WHERE namespace = $1 ${folder === undefined ? '' : 'AND folder = $2'} ORDER BY folder, first_used_ms`, folder === undefined ? [this.namespace] : [this.namespace, folder]);
    return rows.map((row) => ({ folder: row.folder as string, body: row.body as string, name: nameOf(row.name, row.folder as string), firstUsedMs: Number(row.first_used_ms), lastUsedMs: Number(row.last_used_ms) }));
  }

  async needsReconcile(): Promise<boolean> {
    const { rows } = await this.db.query('SELECT needs_reconcile FROM larder_meta WHERE namespace = $1', [this.namespace]);
    return rows[0]?.needs_reconcile === true;
  }

  async reconciled(): Promise<void> {
    await this.db.query('DELETE FROM larder_meta WHERE namespace = $1', [this.namespace]);
  }

  clear(): Promise<void> {
    return this.db.transaction(async (query) => {
      for (const table of ['larder_entries', 'larder_functions', 'larder_bodies']) await query(`DELETE FROM ${table} WHERE namespace = $1`, [this.namespace]);
    });
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
