/**
 * Read-only looks at an `index.sqlite` before larder opens it for writing:
 * opening a database through keyv creates a table in it and switches it to
 * WAL, which must never happen to somebody else's database that happens to
 * have the same name. Also a read-only index for `stats`/`list` on a folder
 * larder has not marked (they must change nothing there).
 */
import { lstat } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import sqlite3 from 'sqlite3';

/** What an index file is: absent, larder's (or empty), another program's, damaged, a symlink, or unknown (could not be opened). */
export type IndexProbe = 'absent' | 'ours' | 'foreign' | 'corrupt' | 'symlink' | 'unknown';

/** larder's table (see index-store.ts) and what SQLite makes for it. */
const OUR_TABLE = 'larder_index';

interface Db { all(sql: string, ...params: unknown[]): Promise<Record<string, unknown>[]>; close(): Promise<void> }

/**
 * Opens `file` read-only. `immutable` reads the file as it is, with no locks and no -wal/-shm
 * files created: for folders larder has not marked, where it must change nothing (a writer
 * active meanwhile may make it see damage, so callers only ever refuse on that, never repair).
 */
export function openReadOnly(file: string, immutable: boolean): Promise<Db> {
  return new Promise((resolve, reject) => {
    const uri = immutable ? `${pathToFileURL(file).href}?immutable=1` : file;
    const flags = sqlite3.OPEN_READONLY | (immutable ? sqlite3.OPEN_URI : 0);
    const db = new sqlite3.Database(uri, flags, (error) => {
      if (error) return reject(error);
      db.configure('busyTimeout', 5_000);
      resolve({
        all: (sql, ...params) => new Promise((ok, fail) => db.all(sql, params, (e: Error | null, rows: Record<string, unknown>[]) => (e ? fail(e) : ok(rows)))),
        close: () => new Promise((ok) => db.close(() => ok())),
      });
    });
  });
}

/** Looks at the index file `file` without changing it (see {@link openReadOnly} for `immutable`). */
export async function probeIndex(file: string, immutable: boolean): Promise<IndexProbe> {
  try {
    const info = await lstat(file);
    if (info.isSymbolicLink()) return 'symlink';
    if (!info.isFile()) return 'foreign';
    if (info.size === 0) return 'ours'; // an empty file is an empty database: SQLite makes one so
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'absent' : 'foreign';
  }
  let db: Db | undefined;
  try {
    db = await openReadOnly(file, immutable);
    const rows = await db.all("SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'");
    return rows.every((row) => row.tbl_name === OUR_TABLE) ? 'ours' : 'foreign';
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') return 'corrupt';
    // Busy: another larder is writing it. Unopenable: not proof of anything; the caller decides.
    return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' ? 'ours' : 'unknown';
  } finally {
    await db?.close();
  }
}

/**
 * Every record of larder's index at `file`, read as the file is (immutable: no lock, no -wal or
 * -shm created), for `stats`/`list` on a location larder has not marked. Empty when the file is
 * absent or not larder's index.
 */
export async function readIndexSnapshot(file: string): Promise<Map<string, unknown>> {
  const records = new Map<string, unknown>();
  if ((await probeIndex(file, true)) !== 'ours') return records;
  let db: Db | undefined;
  try {
    db = await openReadOnly(file, true);
    for (const row of await db.all(`SELECT key, value FROM ${OUR_TABLE}`)) {
      if (typeof row.key !== 'string' || typeof row.value !== 'string' || !row.key.startsWith('larder:')) continue;
      try {
        records.set(row.key.slice('larder:'.length), (JSON.parse(row.value) as { value?: unknown }).value);
      } catch {
        // a record keyv could not read either: a statistic lost, nothing more
      }
    }
  } catch {
    // An empty database has no table yet; a damaged one gives what it gave. Statistics only.
  } finally {
    await db?.close();
  }
  return records;
}
