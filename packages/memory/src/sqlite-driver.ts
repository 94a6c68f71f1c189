/**
 * The SQLite driver, loaded on first use of an index, never at import:
 * `import '@larder/memory'` works (hash(), a pass-through Memory, a degraded
 * index) even where sqlite3's install script never built its binding.
 *
 * Order (the first that loads wins; `LARDER_SQLITE_DRIVER=sqlite3|node:sqlite|bun:sqlite`
 * picks one):
 * 1. `bun:sqlite` under Bun, `node:sqlite` on Node >= 22.13 (22.5-22.12 with
 *    `--experimental-sqlite`): built into the runtime, no install script.
 * 2. `sqlite3` through `@keyv/sqlite` (Node 20, or wherever the built-in is
 *    missing), when its native binding loads.
 * 3. none: the caller warns `LARDER_MISSING_DRIVER` once and uses an in-memory index.
 *
 * Every driver gives the same two things over ONE connection: a keyv store
 * for larder's plain records (@keyv/sqlite's own, or {@link KeyvSqlStore} for
 * the built-ins, with the same table layout so processes on different
 * drivers share a file) and a {@link SqlConnection} for larder's own tables.
 */
import EventEmitter from 'node:events';
import { pathToFileURL } from 'node:url';
import type { KeyvStoreAdapter } from 'keyv';

export type DriverName = 'node:sqlite' | 'bun:sqlite' | 'sqlite3';
export const DRIVER_NAMES: readonly DriverName[] = ['bun:sqlite', 'node:sqlite', 'sqlite3'];

/** Plain SQL on one connection. Rows come back as plain objects. */
export interface SqlConnection {
  readonly driver: DriverName;
  all(sql: string, params?: readonly unknown[]): Promise<Record<string, unknown>[]>;
  run(sql: string, params?: readonly unknown[]): Promise<void>;
  close(): Promise<void>;
}

export interface OpenedDatabase {
  sql: SqlConnection;
  /** A keyv store on the same connection, for records in table `table`. */
  store: KeyvStoreAdapter;
}

export interface SqliteDriver {
  readonly name: DriverName;
  /** Opens `file` read-write (created if missing), with a busy timeout. */
  open(file: string, table: string, busyTimeoutMs: number): Promise<OpenedDatabase>;
  /** Opens `file` read-only; `immutable` takes no locks and creates no -wal/-shm (SQLite URI `immutable=1`). */
  openReadOnly(file: string, immutable: boolean, busyTimeoutMs: number): Promise<SqlConnection>;
}

/** SQLite's primary result codes, for errors of the built-in drivers (sqlite3 names them itself). */
const RESULT_CODES: Record<number, string> = { 5: 'SQLITE_BUSY', 6: 'SQLITE_LOCKED', 8: 'SQLITE_READONLY', 10: 'SQLITE_IOERR', 11: 'SQLITE_CORRUPT', 13: 'SQLITE_FULL', 14: 'SQLITE_CANTOPEN', 26: 'SQLITE_NOTADB' };

/** Gives an error of node:sqlite / bun:sqlite sqlite3's `code` (SQLITE_BUSY, ...) so callers test one thing. */
function normalized(error: unknown): unknown {
  if (typeof error !== 'object' || error === null) return error;
  const e = error as { code?: unknown; errcode?: unknown; errno?: unknown; message?: unknown };
  const number = typeof e.errcode === 'number' ? e.errcode : typeof e.errno === 'number' && typeof e.code === 'string' && e.code.startsWith('SQLITE') ? e.errno : undefined;
  if (number !== undefined && RESULT_CODES[number & 0xff]) {
    try {
      Object.defineProperty(error, 'code', { value: RESULT_CODES[number & 0xff], configurable: true });
    } catch {
      // a frozen error keeps its own code
    }
  } else if (typeof e.code === 'string' && /^SQLITE_[A-Z]+_/.test(e.code)) {
    // bun: SQLITE_BUSY_SNAPSHOT and the like: the primary code is the prefix
    Object.defineProperty(error, 'code', { value: e.code.replace(/^(SQLITE_[A-Z]+)_.*$/, '$1'), configurable: true });
  }
  return error;
}

/** The synchronous statement API node:sqlite and bun:sqlite share (what larder uses of it). */
interface SyncDatabase {
  prepare(sql: string): { all(...params: unknown[]): unknown[]; run(...params: unknown[]): unknown };
  exec(sql: string): void;
  close(): void;
}

/** A {@link SqlConnection} over a synchronous database: each call runs at once, so a multi-statement transaction cannot interleave with other work of this thread. */
function syncConnection(driver: DriverName, db: SyncDatabase): SqlConnection {
  const statements = new Map<string, ReturnType<SyncDatabase['prepare']>>();
  const prepared = (sql: string) => {
    let statement = statements.get(sql);
    if (!statement) statements.set(sql, (statement = db.prepare(sql)));
    return statement;
  };
  let open = true;
  const guard = <T>(work: () => T): Promise<T> => {
    try {
      if (!open) throw Object.assign(new Error('the index database is closed'), { code: 'SQLITE_MISUSE' });
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(normalized(error));
    }
  };
  return {
    driver,
    all: (sql, params = []) => guard(() => prepared(sql).all(...params) as Record<string, unknown>[]),
    run: (sql, params = []) => guard(() => void (params.length === 0 && !/\?/.test(sql) ? db.exec(sql) : prepared(sql).run(...params))),
    close: () => guard(() => {
      open = false;
      statements.clear();
      db.close();
    }),
  };
}

/**
 * A keyv store on larder's own connection, for the built-in drivers. Same
 * table layout as @keyv/sqlite (`key VARCHAR(255) PRIMARY KEY, value TEXT`,
 * keys `<namespace>:<key>`), so a location written through one driver reads
 * through the other.
 */
export class KeyvSqlStore extends EventEmitter implements KeyvStoreAdapter {
  opts: { table: string; dialect: string };
  namespace?: string | undefined;
  private readonly ready: Promise<void>;

  constructor(private readonly sql: SqlConnection, table: string) {
    super();
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(table)) throw new Error(`invalid table name ${JSON.stringify(table)}`);
    this.opts = { table, dialect: 'sqlite' };
    this.ready = sql.run(`CREATE TABLE IF NOT EXISTS ${table}(key VARCHAR(255) PRIMARY KEY, value TEXT)`);
    // A damaged file fails here, and the opener (index-open.ts) learns it from its own first statement and
    // closes the connection without ever asking this store: the failure must not become an unhandled rejection.
    this.ready.catch(() => undefined);
  }

  private async q(sqlText: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
    await this.ready;
    return this.sql.all(sqlText.replaceAll('$TABLE', this.opts.table), params);
  }

  async get<Value>(key: string): Promise<Value | undefined> {
    const rows = await this.q('SELECT value FROM $TABLE WHERE key = ?', [key]);
    return rows[0]?.value as Value | undefined;
  }

  async getMany<Value>(keys: string[]): Promise<Array<Value | undefined>> {
    const rows = await this.q('SELECT key, value FROM $TABLE WHERE key IN (SELECT value FROM json_each(?))', [JSON.stringify(keys)]);
    const found = new Map(rows.map((row) => [row.key as string, row.value as Value]));
    return keys.map((key) => found.get(key));
  }

  async set(key: string, value: unknown): Promise<boolean> {
    await this.q('INSERT INTO $TABLE (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value', [key, value]);
    return true;
  }

  async delete(key: string): Promise<boolean> {
    const rows = await this.q('DELETE FROM $TABLE WHERE key = ? RETURNING key', [key]);
    return rows.length > 0;
  }

  async deleteMany(keys: string[]): Promise<boolean> {
    const rows = await this.q('DELETE FROM $TABLE WHERE key IN (SELECT value FROM json_each(?)) RETURNING key', [JSON.stringify(keys)]);
    return rows.length > 0;
  }

  async has(key: string): Promise<boolean> {
    return (await this.q('SELECT 1 AS x FROM $TABLE WHERE key = ?', [key])).length > 0;
  }

  async clear(): Promise<void> {
    // substr, not LIKE: '_' in a namespace would be a wildcard.
    const prefix = this.namespace ? `${this.namespace}:` : '';
    await this.q('DELETE FROM $TABLE WHERE substr(key, 1, ?) = ?', [prefix.length, prefix]);
  }

  async *iterator<Value>(namespace?: string): AsyncGenerator<Array<string | Awaited<Value> | undefined>, void> {
    const prefix = namespace ? `${namespace}:` : '';
    let after = '';
    for (;;) {
      const rows = await this.q('SELECT key, value FROM $TABLE WHERE key > ? AND substr(key, 1, ?) = ? ORDER BY key LIMIT 500', [after, prefix.length, prefix]);
      if (rows.length === 0) return;
      for (const row of rows) yield [row.key as string, row.value as Awaited<Value>];
      after = rows[rows.length - 1]!.key as string;
    }
  }

  async disconnect(): Promise<void> {
    await this.sql.close();
  }
}

/** Imports a module, hiding only Node 22's "SQLite is an experimental feature" warning that the import itself emits. */
async function importQuietly(specifier: string): Promise<unknown> {
  const original = process.emitWarning;
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    const text = typeof warning === 'string' ? warning : warning?.message;
    if (/SQLite is an experimental feature/.test(String(text))) return;
    return (original as (...a: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    return await import(specifier);
  } finally {
    process.emitWarning = original;
  }
}

const uriOf = (file: string, immutable: boolean) => new URL(`${pathToFileURL(file).href}${immutable ? '?immutable=1' : ''}`);

async function builtinDriver(name: 'node:sqlite' | 'bun:sqlite'): Promise<SqliteDriver> {
  const specifier = name;
  const mod = (await importQuietly(specifier)) as Record<string, unknown>;
  type Ctor = new (path: string | URL, options?: Record<string, unknown>) => SyncDatabase;
  const Database = (name === 'node:sqlite' ? mod.DatabaseSync : mod.Database ?? (mod.default as Record<string, unknown> | undefined)?.Database) as Ctor;
  if (typeof Database !== 'function') throw new Error(`${name} has no database class`);
  const create = (file: string | URL, readOnly: boolean): SyncDatabase => {
    try {
      if (name === 'node:sqlite') return new Database(file, readOnly ? { readOnly: true } : {});
      return new Database(file instanceof URL ? file.href : file, readOnly ? { readonly: true } : { create: true, readwrite: true });
    } catch (error) {
      throw normalized(error);
    }
  };
  return {
    name,
    async open(file, table, busyTimeoutMs) {
      const db = create(file, false);
      const sql = syncConnection(name, db);
      await sql.run(`PRAGMA busy_timeout = ${Math.floor(busyTimeoutMs)}`);
      return { sql, store: new KeyvSqlStore(sql, table) };
    },
    async openReadOnly(file, immutable, busyTimeoutMs) {
      const db = create(immutable ? uriOf(file, true) : file, true);
      const sql = syncConnection(name, db);
      await sql.run(`PRAGMA busy_timeout = ${Math.floor(busyTimeoutMs)}`);
      return sql;
    },
  };
}

interface Sqlite3Db {
  all(sql: string, params: unknown[], callback: (error: Error | null, rows: Record<string, unknown>[]) => void): void;
  run(sql: string, params: unknown[], callback: (error: Error | null) => void): void;
  close(callback: (error: Error | null) => void): void;
  configure(option: 'busyTimeout', value: number): void;
}

async function sqlite3Driver(): Promise<SqliteDriver> {
  // Both throw "Could not locate the bindings file" when sqlite3's install script never ran.
  const sqlite3 = ((await import('sqlite3')) as { default: Record<string, unknown> }).default;
  const { KeyvSqlite } = await import('@keyv/sqlite');
  const Database = sqlite3.Database as new (file: string, mode: number, callback: (error: Error | null) => void) => Sqlite3Db;
  return {
    name: 'sqlite3',
    async open(file, table, busyTimeoutMs) {
      const store = new KeyvSqlite({ uri: `sqlite://${file}`, busyTimeout: busyTimeoutMs, table });
      // @keyv/sqlite's public `query` runs any statement on its connection: larder's tables share it.
      const query = (store as unknown as { query(sql: string, ...params: unknown[]): Promise<Record<string, unknown>[]> }).query;
      const sql: SqlConnection = {
        driver: 'sqlite3',
        all: (text, params = []) => query(text, ...params),
        run: async (text, params = []) => void (await query(text, ...params)),
        close: async () => void (await (store as unknown as { disconnect(): Promise<void> }).disconnect()),
      };
      return { sql, store: store as unknown as KeyvStoreAdapter };
    },
    openReadOnly(file, immutable, busyTimeoutMs) {
      return new Promise((resolve, reject) => {
        const uri = immutable ? uriOf(file, true).href : file;
        const flags = (sqlite3.OPEN_READONLY as number) | (immutable ? (sqlite3.OPEN_URI as number) : 0);
        const db = new Database(uri, flags, (error) => {
          if (error) return reject(error);
          db.configure('busyTimeout', busyTimeoutMs);
          resolve({
            driver: 'sqlite3',
            all: (text, params = []) => new Promise((ok, fail) => db.all(text, [...params], (e, rows) => (e ? fail(e) : ok(rows)))),
            run: (text, params = []) => new Promise((ok, fail) => db.run(text, [...params], (e) => (e ? fail(e) : ok()))),
            close: () => new Promise((ok) => db.close(() => ok())),
          });
        });
      });
    },
  };
}

function loadOne(name: DriverName): Promise<SqliteDriver> {
  return name === 'sqlite3' ? sqlite3Driver() : builtinDriver(name);
}

/** Why no driver loaded (for the warning): one line per driver tried. */
export class NoSqliteDriver extends Error {
  constructor(readonly tried: { name: DriverName; error: unknown }[]) {
    super(`no SQLite driver could be loaded: ${tried.map(({ name, error }) => `${name}: ${((error as Error)?.message ?? String(error)).split('\n')[0]}`).join('; ')}`);
  }
}

let loading: Promise<SqliteDriver> | undefined;

/** The order drivers are tried in this runtime. */
export function driverOrder(): DriverName[] {
  const forced = process.env.LARDER_SQLITE_DRIVER;
  if (forced !== undefined && forced !== '') {
    if (!(DRIVER_NAMES as readonly string[]).includes(forced)) throw new Error(`LARDER_SQLITE_DRIVER must be one of ${DRIVER_NAMES.join(', ')}, got ${JSON.stringify(forced)}`);
    return [forced as DriverName];
  }
  const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined';
  return isBun ? ['bun:sqlite', 'sqlite3'] : ['node:sqlite', 'sqlite3'];
}

/** The SQLite driver of this process, loaded once (see the module comment for the order); rejects with {@link NoSqliteDriver}. */
export function sqliteDriver(): Promise<SqliteDriver> {
  loading ??= (async () => {
    const tried: { name: DriverName; error: unknown }[] = [];
    for (const name of driverOrder()) {
      try {
        return await loadOne(name);
      } catch (error) {
        tried.push({ name, error });
      }
    }
    throw new NoSqliteDriver(tried);
  })();
  return loading;
}

/** A specific driver, for tests that run every driver the runtime has. */
export function loadSqliteDriver(name: DriverName): Promise<SqliteDriver> {
  return loadOne(name);
}

/** The exact fix, for the LARDER_MISSING_DRIVER warning. */
export const MISSING_DRIVER_FIX = 'Install a SQLite driver: with npm, `npm install-scripts approve sqlite3` then `npm rebuild sqlite3`; with pnpm, add "sqlite3" to `onlyBuiltDependencies` (package.json "pnpm" or pnpm-workspace.yaml) then `pnpm rebuild sqlite3`; or run on Node >= 22.13 or Bun, whose built-in SQLite needs no install script.';
