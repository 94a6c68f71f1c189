/**
 * Read-only looks at an `index.sqlite` before larder opens it for writing:
 * opening a database through keyv creates a table in it and switches it to
 * WAL, which must never happen to somebody else's database that happens to
 * have the same name. Also a read-only index for `stats`/`list` on a folder
 * larder has not marked (they must change nothing there).
 */
import { lstat } from 'node:fs/promises';
import { OUR_TABLES, SqliteIndexStore } from './index-sqlite.js';
import type { IndexStore } from './index-store.js';
import { sqliteDriver, type SqlConnection } from './sqlite-driver.js';

/** What an index file is: absent, larder's (or empty), another program's, damaged, a symlink, or unknown (could not be opened). */
export type IndexProbe = 'absent' | 'ours' | 'foreign' | 'corrupt' | 'symlink' | 'unknown';

/**
 * Opens `file` read-only. `immutable` reads the file as it is, with no locks and no -wal/-shm
 * files created: for folders larder has not marked, where it must change nothing (a writer
 * active meanwhile may make it see damage, so callers only ever refuse on that, never repair).
 */
export async function openReadOnly(file: string, immutable: boolean): Promise<SqlConnection> {
  return (await sqliteDriver()).openReadOnly(file, immutable, 5_000);
}

/** Looks at the index file `file` without changing it (see {@link openReadOnly} for `immutable`). 'unknown' also when no SQLite driver loads. */
export async function probeIndex(file: string, immutable: boolean): Promise<IndexProbe> {
  try {
    const info = await lstat(file);
    if (info.isSymbolicLink()) return 'symlink';
    if (!info.isFile()) return 'foreign';
    if (info.size === 0) return 'ours'; // an empty file is an empty database: SQLite makes one so
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'absent' : 'foreign';
  }
  let db: SqlConnection | undefined;
  try {
    db = await openReadOnly(file, immutable);
    const rows = await db.all("SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'");
    return rows.every((row) => OUR_TABLES.includes(row.tbl_name as string)) ? 'ours' : 'foreign';
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') return 'corrupt';
    // Busy: another larder is writing it. Unopenable: not proof of anything; the caller decides.
    return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' ? 'ours' : 'unknown';
  } finally {
    await db?.close().catch(() => undefined);
  }
}

/**
 * larder's index at `file`, opened read-only as the file is (immutable: no lock, no -wal or
 * -shm created), for `stats`/`ls` on a location larder has not marked. Undefined when the file
 * is absent, not larder's, written by a release before these tables, or unreadable: the caller
 * then lists the result files instead. Close it after use.
 */
export async function openIndexSnapshot(file: string): Promise<IndexStore | undefined> {
  if ((await probeIndex(file, true)) !== 'ours') return undefined;
  let db: SqlConnection | undefined;
  try {
    db = await openReadOnly(file, true);
    const store = await SqliteIndexStore.readOnly(`${file} (read-only)`, db);
    if (!store) await db.close();
    return store;
  } catch {
    await db?.close().catch(() => undefined);
    return undefined;
  }
}
