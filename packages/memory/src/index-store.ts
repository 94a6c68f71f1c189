/**
 * The index: small metadata records about entries (bytes, created, last
 * access, compute time, hits) and per-function counters, kept in any keyv
 * store. Records are hints: the result files are the truth, so a lost or
 * stale record costs a statistic, never a wrong value.
 *
 * By default the index is SQLite in `<location>/index.sqlite` through
 * @keyv/sqlite, in WAL mode with a busy timeout so several processes can share
 * it, and with read-modify-write flushes inside `BEGIN IMMEDIATE` so their
 * counters add up. Only small JSON records go through keyv's serializer;
 * results live in store-fs files.
 */
import { existsSync, renameSync, rmSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import Keyv from 'keyv';
import { KeyvSqlite } from '@keyv/sqlite';
import { MemoryError, MemoryWarning } from './errors.js';
import { probeIndex } from './index-probe.js';

/** The small interface every index backend implements. */
export interface IndexStore {
  /** Where the records live, for messages. */
  readonly description: string;
  getMany<T>(keys: readonly string[]): Promise<(T | undefined)[]>;
  setMany(entries: readonly { key: string; value: unknown }[]): Promise<void>;
  deleteMany(keys: readonly string[]): Promise<void>;
  clear(): Promise<void>;
  /** Every key that starts with `prefix`, or undefined when the backend cannot enumerate its keys. */
  keys(prefix: string): Promise<string[] | undefined>;
  /** Runs `work` so no other process's transaction interleaves, where the backend can (SQLite); otherwise just runs it. */
  transaction<T>(work: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** What a SQL-speaking keyv store offers (KeyvSqlite). */
interface SqlStore {
  query(sql: string, ...params: unknown[]): Promise<unknown[]>;
}

const BUSY_TIMEOUT_MS = 15_000;
const TABLE = 'larder_index';
/** The prefixes of the records larder keeps in an index: entries and functions (bookkeeping.ts). */
export const ENTRY_RECORD_PREFIX = 'e/';
export const FUNCTION_RECORD_PREFIX = 'f/';
const RECORD_PREFIXES = [ENTRY_RECORD_PREFIX, FUNCTION_RECORD_PREFIX];

/** An {@link IndexStore} over any keyv instance. */
class KeyvIndexStore implements IndexStore {
  readonly description: string;
  readonly keyv: Keyv;
  private readonly sql: SqlStore | undefined;

  constructor(keyv: Keyv, description: string) {
    this.keyv = keyv;
    this.description = description;
    const store = keyv.store as Partial<SqlStore> | undefined;
    this.sql = store instanceof KeyvSqlite ? (store as unknown as SqlStore) : undefined;
  }

  async getMany<T>(keys: readonly string[]): Promise<(T | undefined)[]> {
    if (keys.length === 0) return [];
    // SQLite's IN (json_each(?)) is one statement; chunk to keep it bounded.
    const out: (T | undefined)[] = [];
    for (let i = 0; i < keys.length; i += 500) {
      const part = (await this.keyv.getMany<T>(keys.slice(i, i + 500))) as (T | undefined)[];
      out.push(...part);
    }
    return out;
  }

  async setMany(entries: readonly { key: string; value: unknown }[]): Promise<void> {
    if (entries.length === 0) return;
    const results = await this.keyv.setMany(entries.map(({ key, value }) => ({ key, value })));
    if (results.some((ok) => ok === false)) throw new Error(`keyv setMany failed for ${results.filter((ok) => !ok).length} records`);
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 500) await this.keyv.delete(keys.slice(i, i + 500));
  }

  async clear(): Promise<void> {
    // larder's own SQLite file holds nothing else; a Keyv the user passed in may hold their keys
    // (or another location's), so only larder's records go, and none if they cannot be listed.
    if (this.sql) return void (await this.keyv.clear());
    for (const prefix of RECORD_PREFIXES) {
      const keys = await this.keys(prefix);
      if (keys === undefined) throw new Error('this keyv store cannot list its keys, so clear() cannot tell larder\'s records from others; they were left in place');
      await this.deleteMany(keys);
    }
  }

  async keys(prefix: string): Promise<string[] | undefined> {
    const namespaced = `${this.keyv.namespace ? `${this.keyv.namespace}:` : ''}${prefix}`;
    if (this.sql) {
      // substr, not LIKE: entry keys hold '_', which LIKE would read as a wildcard.
      const rows = (await this.sql.query(`SELECT key FROM ${TABLE} WHERE substr(key, 1, ?) = ?`, namespaced.length, namespaced)) as { key: string }[];
      return rows.map((row) => row.key.slice(namespaced.length - prefix.length));
    }
    if (typeof this.keyv.iterator !== 'function') return undefined;
    const out: string[] = [];
    const namespace = this.keyv.namespace ? `${this.keyv.namespace}:` : '';
    for await (const [raw] of this.keyv.iterator(this.keyv.namespace) as AsyncIterable<[string, unknown]>) {
      const key = namespace && raw.startsWith(namespace) ? raw.slice(namespace.length) : raw;
      if (key.startsWith(prefix)) out.push(key);
    }
    return out;
  }

  async transaction<T>(work: () => Promise<T>): Promise<T> {
    if (!this.sql) return work();
    await this.sql.query('BEGIN IMMEDIATE');
    try {
      const result = await work();
      await this.sql.query('COMMIT');
      return result;
    } catch (error) {
      await this.sql.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.keyv.disconnect();
  }
}

/** Creates a keyv over SQLite at `file`, in WAL mode, and proves the file is a readable database. */
async function openSqlite(file: string): Promise<KeyvIndexStore> {
  const store = new KeyvSqlite({ uri: `sqlite://${file}`, busyTimeout: BUSY_TIMEOUT_MS, table: TABLE });
  const keyv = new Keyv({ store, namespace: 'larder', throwOnErrors: true });
  let firstError: unknown;
  keyv.on('error', (error: unknown) => (firstError ??= error));
  const sql = store as unknown as SqlStore;
  try {
    // WAL lets readers and one writer work at once across processes; NORMAL sync is enough for hints.
    await sql.query('PRAGMA journal_mode=WAL');
    await sql.query('PRAGMA synchronous=NORMAL');
    await sql.query(`SELECT count(*) FROM ${TABLE}`);
  } catch (error) {
    await keyv.disconnect().catch(() => undefined);
    throw error ?? firstError;
  }
  return new KeyvIndexStore(keyv, file);
}

/** Whether `error` is SQLite's "someone else holds the lock right now". */
function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || /database is locked/i.test(String((error as Error)?.message));
}

/**
 * openSqlite, retried while the database is busy. Switching to WAL and
 * creating the table need a moment's exclusive lock that the busy timeout
 * does not always wait for, so several processes or worker threads opening a
 * fresh location at once can meet SQLITE_BUSY; that is not a reason to give
 * up the shared index.
 */
async function openSqliteWhenFree(file: string): Promise<KeyvIndexStore> {
  for (let attempt = 0, delayMs = 5; ; attempt++, delayMs = Math.min(delayMs * 2, 200)) {
    try {
      return await openSqlite(file);
    } catch (error) {
      if (!isBusy(error) || attempt >= OPEN_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, delayMs + Math.random() * delayMs));
    }
  }
}

/** About 5 s of retries in all. */
const OPEN_ATTEMPTS = 30;

/** Whether `error` says the SQLite file itself is damaged (not merely busy). */
function isCorruptDatabase(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB';
}

/**
 * Opens the default index `<location>/index.sqlite`. A damaged database is
 * moved aside to `index.sqlite.corrupt-<time>` and rebuilt empty (the result
 * files are untouched, only statistics are lost); if even that fails, the
 * index is bypassed with an in-memory one. Both cases warn.
 */
export async function openLocationIndex(location: string, warn: (warning: MemoryWarning) => void, checked = false): Promise<IndexStore> {
  const file = join(location, 'index.sqlite');
  // Opening through keyv creates larder's table and switches the file to WAL: never in somebody
  // else's database, and never through a symlink (SQLite would write wherever it points).
  // `checked`: this Memory already found the file to be larder's index (worker threads reopen it on every use).
  const refusal = checked ? undefined : await refuseIndex(file);
  if (refusal !== undefined) return bypass(file, new Error(refusal), warn);
  try {
    return await openSqliteWhenFree(file);
  } catch (error) {
    if (!isCorruptDatabase(error)) return bypass(file, error, warn);
    const aside = `${file}.corrupt-${Date.now()}`;
    try {
      renameSync(file, aside);
      for (const suffix of ['-wal', '-shm']) if (existsSync(file + suffix)) rmSync(file + suffix, { force: true });
      const store = await openSqliteWhenFree(file);
      warn(new MemoryWarning('LARDER_INDEX', `the index database ${file} was corrupt; it was moved to ${aside} and rebuilt empty. Cached results are kept; hit counts and last-access times before now are lost.`, { cause: error }));
      return store;
    } catch (rebuildError) {
      return bypass(file, rebuildError, warn);
    }
  }
}

/** Why the index file must not be opened for writing, or undefined when it may. */
async function refuseIndex(file: string): Promise<string | undefined> {
  for (const suffix of ['-wal', '-shm', '-journal']) {
    const info = await lstat(file + suffix).catch(() => undefined);
    if (info !== undefined && !info.isFile()) return `${file}${suffix} is ${info.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}; larder does not write through it`;
  }
  const probe = await probeIndex(file, false);
  if (probe === 'symlink') return `${file} is a symbolic link; larder does not write through it`;
  if (probe === 'foreign') return `${file} is not larder's index (it holds other tables, or is not a file); larder leaves it untouched`;
  return undefined; // absent, ours, or damaged (moved aside and rebuilt below, as before)
}

function bypass(file: string, error: unknown, warn: (warning: MemoryWarning) => void): IndexStore {
  const reason = (error as Error)?.message ?? String(error);
  warn(new MemoryWarning('LARDER_INDEX', `cannot open the index database ${file} (${reason}); using an in-memory index for this process. Cached results still work; statistics will not be shared or kept. Check the file's permissions or delete it to rebuild.`, { cause: error }));
  return new KeyvIndexStore(new Keyv({ namespace: 'larder', throwOnErrors: true }), `memory (bypassing ${file})`);
}

/**
 * Resolves the `index` option: a keyv instance is used as is; a
 * `sqlite://path` URI opens SQLite there (WAL, busy timeout).
 */
export async function openIndexOption(index: Keyv | string, warn: (warning: MemoryWarning) => void): Promise<IndexStore> {
  if (typeof index === 'string') {
    if (!index.startsWith('sqlite://')) {
      throw new MemoryError('LARDER_OPTION', `index must be a keyv instance or a "sqlite://path" URI, got ${JSON.stringify(index)}. For Redis or Postgres pass a keyv instance: new Keyv(new KeyvRedis(uri)).`);
    }
    try {
      return await openSqliteWhenFree(index.slice('sqlite://'.length));
    } catch (error) {
      return bypass(index, error, warn);
    }
  }
  // keyv swallows store errors unless asked; surface them as warnings instead of losing them.
  index.on('error', (error: unknown) => warn(new MemoryWarning('LARDER_INDEX', `the index store reported an error: ${String((error as Error)?.message ?? error)}`, { cause: error })));
  return new KeyvIndexStore(index, 'keyv instance');
}
