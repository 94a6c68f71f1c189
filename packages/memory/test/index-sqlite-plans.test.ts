/**
 * The SQLite index's query plans: a page of one function's or one body's entries least recently used
 * first is an index range SEARCH from the cursor, never a sort of the function's entries (which made
 * `entries({ function, order: 'lastAccess' })` quadratic: 200k entries in one function, 190 pages of
 * 1000, took 20 s) nor a walk of the whole LRU index filtered by key. A page in key order seeks to its
 * cursor (it sought to the function's start and filtered up to the cursor: 11 s for the same listing).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KEYV_TABLE, SqliteIndexStore } from '../src/index-sqlite.js';
import type { IndexEntry, PageOptions } from '../src/index-store.js';
import { loadSqliteDriver, type DriverName, type SqlConnection } from '../src/sqlite-driver.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

const drivers: DriverName[] = [];
for (const name of ['sqlite3', 'node:sqlite', 'bun:sqlite'] as const) {
  if (await loadSqliteDriver(name).then(() => true, () => false)) drivers.push(name);
}

/** A store whose reads are recorded, so each statement a page ran can be EXPLAINed with its own parameters. */
async function recordingStore(driver: DriverName) {
  const dir = mkdtempSync(join(tmpdir(), 'larder-plans-'));
  dirs.push(dir);
  const { sql, store } = await (await loadSqliteDriver(driver)).open(join(dir, 'index.sqlite'), KEYV_TABLE, 5000);
  const reads: [string, readonly unknown[]][] = [];
  const recording: SqlConnection = {
    driver: sql.driver,
    all: (text, params = []) => (reads.push([text, params]), sql.all(text, params)),
    run: (text, params) => sql.run(text, params),
    close: () => sql.close(),
  };
  const index = await SqliteIndexStore.open('plans', recording, store);
  /** The statements `page(options)` ran, with their parameters. */
  const statementsOf = async (options: PageOptions) => {
    reads.length = 0;
    await index.page(options);
    return reads.splice(0);
  };
  /** The parameter whose value the first index seek of `text` starts from (read off SQLite's bytecode). */
  const seekStart = async (text: string, params: readonly unknown[]) => {
    const ops = await sql.all(`EXPLAIN ${text}`, params);
    const seek = ops.findIndex((op) => /^Seek(GE|GT)$/.test(String(op.opcode)));
    const loaded = ops.slice(0, seek).reverse().find((op) => op.opcode === 'Variable' && op.p2 === ops[seek]!.p3);
    return loaded ? params[Number(loaded.p1) - 1] : undefined;
  };
  /** The plan lines of every statement `page(options)` (or `work`) ran. */
  const plansOf = async (options: PageOptions | (() => Promise<unknown>)) => {
    reads.length = 0;
    await (typeof options === 'function' ? options() : index.page(options));
    const ran = reads.splice(0);
    const plans: string[][] = [];
    for (const [text, params] of ran) plans.push((await sql.all(`EXPLAIN QUERY PLAN ${text}`, params)).map((row) => String(row.detail)));
    return plans;
  };
  return { index, plansOf, statementsOf, seekStart };
}

const hex = (n: number) => n.toString(16).padStart(16, '0');
const entry = (key: string, lastAccessMs: number): IndexEntry => ({ key, name: key.split('/')[0]!, bytes: 1, createdMs: 1, lastAccessMs, computeMs: 1, hits: 0 });

for (const driver of drivers) {
  describe(`SQLite index plans (${driver})`, () => {
    it('plans: a lastAccess page of one function or one body is a range SEARCH of an index from the cursor, with no sort; aggregate() reads that index alone', async () => {
      const { index, plansOf } = await recordingStore(driver);
      try {
        const put: IndexEntry[] = [];
        for (const folder of ['f', 'g']) for (const body of ['a'.repeat(16), 'b'.repeat(16), 'c'.repeat(16)]) for (let i = 0; i < 300; i++) put.push(entry(`${folder}/${body}/${hex(i)}`, 1000 + (i % 50)));
        await index.apply({ put });
        const after = { key: `f/${'b'.repeat(16)}/${hex(120)}`, lastAccessMs: 1020 };
        for (const prefix of ['f/', `f/${'b'.repeat(16)}/`]) {
          for (const cursor of [undefined, after]) {
            const plans = await plansOf({ order: 'lastAccess', prefix, after: cursor, limit: 100 });
            const lines = plans.flat();
            const context = { prefix, cursor, plans };
            // Every read of larder_entries seeks an index; none sorts (USE TEMP B-TREE FOR ORDER BY) or scans.
            expect({ ...context, reads: lines.filter((line) => /larder_entries\b/.test(line) && !/^SEARCH larder_entries USING (COVERING )?INDEX larder_entries_by_body_access \(folder=\?/.test(line)) }).toEqual({ ...context, reads: [] });
            expect({ ...context, sorts: lines.filter((line) => /TEMP B-TREE/.test(line)) }).toEqual({ ...context, sorts: [] });
            // The page itself starts at the cursor in the index (the row value is part of the SEARCH, not a filter after it).
            if (cursor) expect(lines.some((line) => line.includes('(last_access_ms,key)>(?,?)'))).toBe(true);
          }
        }
        // aggregate() (GROUP BY folder, body; count and bytes) reads only that index, in its order: no table, no sort.
        for (const folder of [undefined, 'f']) {
          const lines = (await plansOf(() => index.aggregate(folder))).flat();
          expect({ folder, reads: lines.filter((line) => /larder_entries\b/.test(line)) }).toEqual({ folder, reads: [folder === undefined ? 'SCAN larder_entries USING COVERING INDEX larder_entries_by_body_access' : 'SEARCH larder_entries USING COVERING INDEX larder_entries_by_body_access (folder=?)'] });
          expect({ folder, sorts: lines.filter((line) => /TEMP B-TREE/.test(line)) }).toEqual({ folder, sorts: [] });
        }
      } finally {
        await index.close();
      }
    });
  });
}

for (const driver of drivers) {
  describe(`SQLite index seeks (${driver})`, () => {
    it('plans: a key-order page of one function starts its seek at the cursor, not at the start of the function', async () => {
      const { index, statementsOf, seekStart } = await recordingStore(driver);
      try {
        await index.apply({ put: Array.from({ length: 50 }, (_, i) => entry(`f/${'a'.repeat(16)}/${hex(i)}`, i)) });
        const cursor = { key: `f/${'a'.repeat(16)}/${hex(30)}`, lastAccessMs: 30 };
        const [[text, params]] = (await statementsOf({ order: 'key', prefix: 'f/', after: cursor, limit: 10 })) as [[string, unknown[]]];
        expect(await seekStart(text, params)).toBe(cursor.key);
        // A cursor before the prefix (a caller's own) still starts at the prefix.
        const [[before, beforeParams]] = (await statementsOf({ order: 'key', prefix: 'f/', after: { key: 'a', lastAccessMs: 0 }, limit: 10 })) as [[string, unknown[]]];
        expect(await seekStart(before, beforeParams)).toBe('f/');
        expect((await index.page({ order: 'key', prefix: 'f/', after: cursor, limit: 100 })).map((e) => e.key)).toEqual(Array.from({ length: 19 }, (_, i) => `f/${'a'.repeat(16)}/${hex(31 + i)}`));
        expect(await index.page({ order: 'key', prefix: 'f/', after: { key: 'g', lastAccessMs: 0 }, limit: 10 })).toEqual([]);
      } finally {
        await index.close();
      }
    });
  });
}
