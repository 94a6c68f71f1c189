/**
 * Opening an index: the default `<location>/index.sqlite`, a `sqlite://path`
 * URI, or a Keyv instance. SQLite runs in WAL mode with a busy timeout so
 * several processes share it. A damaged database is moved aside and rebuilt;
 * one that cannot be opened, a foreign or symlinked file, or a machine with no
 * SQLite driver at all falls back to an in-memory index with one warning:
 * results always work, statistics are then this process's own.
 */
import { existsSync, renameSync, rmSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import type Keyv from 'keyv';
import { MemoryError, MemoryWarning } from './errors.js';
import { probeIndex } from './index-probe.js';
import { KeyvIndexStore, MemoryIndexStore } from './index-records.js';
import { KEYV_TABLE, SqliteIndexStore } from './index-sqlite.js';
import { isIndexStore, type IndexStore } from './index-store.js';
import { INDEX_URIS, loadDriver, parseRemoteUrl } from './remote-url.js';
import { loadSqliteDriver, MISSING_DRIVER_FIX, NoSqliteDriver, sqliteDriver, type DriverName } from './sqlite-driver.js';

const BUSY_TIMEOUT_MS = 15_000;
/** About 5 s of retries in all. */
const OPEN_ATTEMPTS = 30;

/** Opens larder's tables in the SQLite file `file` (WAL) and proves it is a readable database. */
async function openSqlite(file: string, driverName?: DriverName): Promise<IndexStore> {
  const driver = driverName ? await loadSqliteDriver(driverName) : await sqliteDriver();
  const { sql, store } = await driver.open(file, KEYV_TABLE, BUSY_TIMEOUT_MS);
  try {
    // WAL lets readers and one writer work at once across processes; NORMAL sync is enough for an index.
    await sql.all('PRAGMA journal_mode=WAL');
    await sql.run('PRAGMA synchronous=NORMAL');
    return await SqliteIndexStore.open(`${file} (${driver.name})`, sql, store);
  } catch (error) {
    await sql.close().catch(() => undefined);
    throw error;
  }
}

/** Whether `error` is SQLite's "someone else holds the lock right now". */
function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || /database is locked/i.test(String((error as Error)?.message));
}

/**
 * openSqlite, retried while the database is busy: switching to WAL and
 * creating the tables need a moment's exclusive lock that the busy timeout
 * does not always wait for, so several processes opening a fresh location at
 * once can meet SQLITE_BUSY; that is no reason to give up the shared index.
 */
async function openSqliteWhenFree(file: string, driverName?: DriverName): Promise<IndexStore> {
  for (let attempt = 0, delayMs = 5; ; attempt++, delayMs = Math.min(delayMs * 2, 200)) {
    try {
      return await openSqlite(file, driverName);
    } catch (error) {
      if (!isBusy(error) || attempt >= OPEN_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, delayMs + Math.random() * delayMs));
    }
  }
}

/** Whether `error` says the SQLite file itself is damaged (not merely busy). */
function isCorruptDatabase(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB';
}

let missingDriverWarned = false;

/** The in-memory index used when there is no SQLite driver, warning once per process with the exact fix. */
function withoutDriver(file: string, error: NoSqliteDriver, warn: (warning: MemoryWarning) => void): IndexStore {
  if (!missingDriverWarned) {
    missingDriverWarned = true;
    warn(new MemoryWarning('LARDER_MISSING_DRIVER', `no SQLite driver is available (${error.tried.map((t) => t.name).join(', ')} tried), so the index of ${file} is kept in memory for this process: cached results still work, statistics are this process's own and listings read the result files. ${MISSING_DRIVER_FIX}`, { cause: error }));
  }
  return new MemoryIndexStore(`memory (no SQLite driver for ${file})`);
}

function bypass(file: string, error: unknown, warn: (warning: MemoryWarning) => void): IndexStore {
  if (error instanceof NoSqliteDriver) return withoutDriver(file, error, warn);
  const reason = (error as Error)?.message ?? String(error);
  warn(new MemoryWarning('LARDER_INDEX', `cannot open the index database ${file} (${reason}); using an in-memory index for this process. Cached results still work; statistics will not be shared or kept. Check the file's permissions or delete it to rebuild.`, { cause: error }));
  return new MemoryIndexStore(`memory (bypassing ${file})`);
}

/**
 * Opens the default index `<location>/index.sqlite`. A damaged database is
 * moved aside to `index.sqlite.corrupt-<time>` and rebuilt empty (the result
 * files are untouched; reconcile refills it); if even that fails, the index is
 * bypassed with an in-memory one. Both cases warn.
 */
export async function openLocationIndex(location: string, warn: (warning: MemoryWarning) => void, checked = false): Promise<IndexStore> {
  const file = join(location, 'index.sqlite');
  // Opening creates larder's tables and switches the file to WAL: never in somebody else's
  // database, and never through a symlink (SQLite would write wherever it points).
  // `checked`: this Memory already found the file to be larder's index (worker threads reopen it on every use).
  try {
    const refusal = checked ? undefined : await refuseIndex(file);
    if (refusal !== undefined) return bypass(file, new Error(refusal), warn);
    return await openSqliteWhenFree(file);
  } catch (error) {
    if (!isCorruptDatabase(error)) return bypass(file, error, warn);
    const aside = `${file}.corrupt-${Date.now()}`;
    try {
      renameSync(file, aside);
      for (const suffix of ['-wal', '-shm']) if (existsSync(file + suffix)) rmSync(file + suffix, { force: true });
      const store = await openSqliteWhenFree(file);
      // Refilled from the result files on its first listing (Memory's automatic reconcile).
      if (store instanceof SqliteIndexStore) await store.requestReconcile();
      warn(new MemoryWarning('LARDER_INDEX', `the index database ${file} was corrupt; it was moved to ${aside} and rebuilt: its entries are listed again from the result files. Cached results are kept; hit counts and last-access times before now are lost.`, { cause: error }));
      return store;
    } catch (rebuildError) {
      return bypass(file, rebuildError, warn);
    }
  }
}

/** Why the index file must not be opened for writing, or undefined when it may. */
async function refuseIndex(file: string): Promise<string | undefined> {
  for (const suffix of ['-wal', '-shm', '-journal', '']) {
    const info = await lstat(file + suffix).catch(() => undefined);
    if (info === undefined) continue;
    if (suffix !== '' && !info.isFile()) return `${file}${suffix} is ${info.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}; larder does not write through it`;
    // A hard link shares its content with a file elsewhere (SQLite writes the -wal and -shm
    // in place, and rewrites the database's pages): that file would change too.
    if (info.isFile() && info.nlink > 1) return `${file}${suffix} has ${info.nlink} hard links (its content is also a file elsewhere); larder does not write through it`;
  }
  const probe = await probeIndex(file, false);
  if (probe === 'symlink') return `${file} is a symbolic link; larder does not write through it`;
  if (probe === 'foreign') return `${file} is not larder's index (it holds other tables, or is not a file); larder leaves it untouched`;
  return undefined; // absent, ours, or damaged (moved aside and rebuilt by the caller)
}

/**
 * Resolves the `index` option: an IndexStore is used as is; a Keyv instance
 * through {@link KeyvIndexStore} (degraded: see index-records.ts); a
 * `sqlite://path` URI opens SQLite there; a `redis://` or `postgres://` URL
 * opens larder's index on that server in the namespace of `location`
 * (connecting on first use: an unreachable server fails the operation that
 * needed it, which warns, never a cached call). A missing driver package
 * warns once (`LARDER_MISSING_DRIVER`, naming it) and keeps the index in memory.
 */
export async function openIndexOption(index: IndexStore | Keyv | string, warn: (warning: MemoryWarning) => void, location = '.'): Promise<IndexStore> {
  if (isIndexStore(index)) return index;
  if (typeof index === 'string') {
    const remote = parseRemoteUrl(index, 'index');
    if (remote) {
      // The Redis and Postgres modules load only for an index on one of them.
      const store = (await import('./remote-open.js')).openRemoteIndex(remote, location);
      const driver = remote.kind === 'redis' ? '@keyv/redis' : 'pg';
      try {
        await loadDriver(driver, `index: "${remote.display}"`);
      } catch (error) {
        if (!(error instanceof MemoryError)) throw error;
        warn(new MemoryWarning('LARDER_MISSING_DRIVER', `${error.message.replace(/^\[larder\/memory\] /, '')}. Until then the index of this process is kept in memory: cached results still work.`, { cause: error }));
        return new MemoryIndexStore(`memory (no ${driver} for ${remote.display})`);
      }
      return store;
    }
    if (!index.startsWith('sqlite://')) throw new MemoryError('LARDER_OPTION', `index must be ${INDEX_URIS}, got ${JSON.stringify(index)}`);
    try {
      return await openSqliteWhenFree(index.slice('sqlite://'.length));
    } catch (error) {
      return bypass(index, error, warn);
    }
  }
  // keyv swallows store errors unless asked; surface them as warnings instead of losing them.
  index.on('error', (error: unknown) => warn(new MemoryWarning('LARDER_INDEX', `the index store reported an error: ${String((error as Error)?.message ?? error)}`, { cause: error })));
  return new KeyvIndexStore(index);
}

/** The SQLite index in `file` through one named driver (or the process's default), without fallbacks: for tests and tools. */
export function openSqliteIndex(file: string, driver?: DriverName): Promise<IndexStore> {
  return openSqliteWhenFree(file, driver);
}
