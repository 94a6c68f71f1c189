import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Keyv from 'keyv';
import { afterAll, describe, expect, it } from 'vitest';
import { Memory, type MemoryWarning } from '@larder/memory';
import { indexStoreConformance } from '@larder/memory/testing';
import { openIndexOption, openLocationIndex, openSqliteIndex } from '../src/index-open.js';
import { probeIndex } from '../src/index-probe.js';
import { KeyvIndexStore, MemoryIndexStore } from '../src/index-records.js';
import type { IndexStore } from '../src/index-store.js';
import { loadSqliteDriver, type DriverName } from '../src/sqlite-driver.js';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'larder-index-'));
  dirs.push(dir);
  return dir;
};
const closers: IndexStore[] = [];
afterAll(async () => {
  for (const store of closers) await store.close().catch(() => undefined);
});

/** The SQLite drivers this runtime has (node:sqlite on Node >= 22.13, sqlite3 where its binding loads). */
const drivers: DriverName[] = [];
for (const name of ['sqlite3', 'node:sqlite', 'bun:sqlite'] as const) {
  if (await loadSqliteDriver(name).then(() => true, () => false)) drivers.push(name);
}

const runner = { describe, it, expect };
for (const driver of drivers) {
  indexStoreConformance(() => openSqliteIndex(join(tempDir(), 'index.sqlite'), driver), {
    ...runner,
    name: `SQLite through ${driver}`,
    reopen: (store) => openSqliteIndex(store.description.replace(/ \(.*\)$/, ''), driver),
  });
}
indexStoreConformance(() => new MemoryIndexStore(), { ...runner, name: 'in-memory (no SQLite driver, or a bypassed index)' });
// A bare Keyv: read-add-write counters (no atomic increments: the concurrent test is skipped), listing by iterating.
indexStoreConformance(() => new KeyvIndexStore(new Keyv({ namespace: 'larder' })), { ...runner, name: 'bare Keyv instance (degraded)' });

describe('SQLite index across processes', () => {
  it('index: two child processes × 300 increments end at 600 (atomic increments, not read-add-write)', async () => {
    const file = join(tempDir(), 'index.sqlite');
    const child = join(here, 'fixtures', 'index-increments.ts');
    const driver = drivers[0]!;
    await Promise.all([1, 2].map(() => run(process.execPath, ['--conditions=larder-source', '--import', 'tsx', child, file, driver, '300'], { cwd: root, timeout: 120_000 })));
    const index = await openSqliteIndex(file, driver);
    closers.push(index);
    const [entry] = await index.getEntries([`f/${'a'.repeat(16)}/${'0'.repeat(16)}`]);
    expect(entry?.hits).toBe(600);
    expect((await index.functions())[0]).toMatchObject({ hits: 600, computeTimeSavedMs: 600 });
  }, 180_000);

  if (drivers.includes('sqlite3') && drivers.includes('node:sqlite')) {
    it('index: a file written through sqlite3 reads through node:sqlite and back (one layout)', async () => {
      const file = join(tempDir(), 'index.sqlite');
      const a = await openSqliteIndex(file, 'sqlite3');
      await a.apply({ put: [{ key: `f/${'a'.repeat(16)}/${'1'.repeat(16)}`, name: 'f', bytes: 3, createdMs: 1, lastAccessMs: 2, computeMs: 3, hits: 4 }] });
      await a.close();
      const b = await openSqliteIndex(file, 'node:sqlite');
      closers.push(b);
      expect(await b.page({ order: 'key', limit: 5 })).toHaveLength(1);
      expect(await b.needsReconcile()).toBe(false);
    });
  }
});

const noWarn = (w: MemoryWarning) => { throw w; };

describe('index store robustness', () => {

  it('index: a corrupt database file is moved aside and rebuilt, with one warning', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'index.sqlite'), Buffer.alloc(8192, 0x5a));
    const warnings: MemoryWarning[] = [];
    const store = await openLocationIndex(dir, (w) => warnings.push(w));
    closers.push(store);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.code).toBe('LARDER_INDEX');
    expect(warnings[0]!.message).toMatch(/was corrupt; it was moved to .*index\.sqlite\.corrupt-\d+ and rebuilt/);
    expect(readdirSync(dir).some((f) => f.startsWith('index.sqlite.corrupt-'))).toBe(true);
    expect(store.capabilities.persistent).toBe(true);
  });

  it('index: an unopenable database is bypassed with an in-memory index and a warning', async () => {
    const dir = tempDir();
    const warnings: MemoryWarning[] = [];
    const store = await openLocationIndex(join(dir, 'no', 'such', 'dir'), (w) => warnings.push(w));
    closers.push(store);
    expect(warnings.map((w) => w.code)).toEqual(['LARDER_INDEX']);
    expect(store.description).toMatch(/^memory/);
    expect(store.capabilities.persistent).toBe(false);
  });

  it('index: a URI of another scheme is a bad option that says what to pass instead', async () => {
    await expect(openIndexOption('mysql://localhost', noWarn)).rejects.toThrow(/index must be "redis:\/\/…", "postgres:\/\/…" or "sqlite:\/\/path" .*got "mysql:\/\/localhost"/);
  });

  for (const [url, driver] of [['redis://127.0.0.1:1/0', '@keyv/redis'], ['postgres://postgres@127.0.0.1:1/larder', 'pg']] as const) {
    it(`index: ${url.split(':')[0]} without ${driver} installed warns LARDER_MISSING_DRIVER naming it, and cached calls still work`, async () => {
      const { stdout } = await run(process.execPath, ['--conditions=larder-source', '--import', 'tsx', '--import', join(here, 'fixtures', 'hide-drivers.mjs'), join(here, 'fixtures', 'without-drivers.ts'), tempDir(), url], { cwd: root, timeout: 60_000 });
      const seen = JSON.parse(stdout) as { first: number; second: number; runs: number; entries: number; warnings: { code: string; message: string }[] };
      expect(seen).toMatchObject({ first: 16, second: 16, runs: 1, entries: 1 });
      expect(seen.warnings.map((w) => w.code)).toEqual(['LARDER_MISSING_DRIVER']);
      expect(seen.warnings[0]!.message).toContain(`npm install ${driver}`);
    }, 60_000);
  }

  it('index: the default database runs in WAL mode and holds only larder\'s tables', async () => {
    const dir = tempDir();
    const store = await openLocationIndex(dir, noWarn);
    closers.push(store);
    await store.apply({ functions: [{ folder: 'f', name: 'f', hits: 1, misses: 0, computeTimeSavedMs: 0 }] });
    expect(readdirSync(dir)).toContain('index.sqlite-wal');
    expect(await probeIndex(join(dir, 'index.sqlite'), false)).toBe('ours');
  });
});

describe('an index the user passes in', () => {
  it('regression: clear() on a Keyv the user shares with their own keys removes only larder\'s records', async () => {
    const keyv = new Keyv();
    await keyv.set('user-setting', 'keep me');
    const store = await openIndexOption(keyv, () => undefined);
    closers.push(store);
    await store.apply({ put: [{ key: `f/${'a'.repeat(16)}/${'1'.repeat(16)}`, name: 'f', bytes: 1, createdMs: 1, lastAccessMs: 1, computeMs: 1, hits: 0 }], functions: [{ folder: 'f', name: 'f', hits: 1, misses: 0, computeTimeSavedMs: 0 }] });
    await store.clear();
    expect(await store.page({ order: 'key', limit: 5 })).toEqual([]);
    expect(await store.functions()).toEqual([]);
    expect(await keyv.get('user-setting')).toBe('keep me');
  });
});

/**
 * fixtures/legacy-location was written by the previous release (main at 0e546b1) from an .mts
 * script run with tsx: `const square = memory.cache(function square(x: number) { return x * x; })`
 * called with 2, 3, 2, 2, and an async `greet('ada')` called twice, then closed. tsx gave
 * square the source text below (its identity hashes that text), so this function is the same one.
 */
const legacySquare = (0, eval)('(function square2(x){return x*x})') as (x: number) => number;

describe('a location written by the previous release', () => {
  it('migration: its index (keyv records in larder_index) is carried into larder\'s tables once, sizes from the files; its entries hit', async () => {
    const location = tempDir();
    cpSync(join(here, 'fixtures', 'legacy-location'), location, { recursive: true });
    const warnings: MemoryWarning[] = [];
    const memory = new Memory(location, { onWarning: (w) => warnings.push(w) });
    const stats = await memory.stats();
    // What the previous release reported for this location (see fixtures/legacy-location).
    expect(stats).toMatchObject({ entries: 3, bytes: 1592, hits: 3, misses: 3 });
    expect(stats.perFunction.square).toMatchObject({ entries: 2, bytes: 1056, hits: 2, misses: 2 });
    expect(stats.perFunction.greet).toMatchObject({ entries: 1, bytes: 536, hits: 1, misses: 1 });
    const entries = await memory.list();
    expect(entries.map((e) => e.functionName).sort()).toEqual(['greet', 'square', 'square']);
    expect(entries.find((e) => e.functionName === 'greet')!.hits).toBe(1);
    // The same source as the fixture's writer (fixtures/legacy-location was written by it): its entries hit.
    const square = memory.cache(legacySquare, { name: 'square' });
    expect(await square.isCached(3)).toBe(true);
    expect(await square(3)).toBe(9);
    expect((await memory.stats()).perFunction.square).toMatchObject({ hits: 3, misses: 2 });
    await memory.close();
    // The old records are gone from keyv's table: a second open migrates nothing and asks no reconcile.
    const index = await openLocationIndex(location, noWarn);
    closers.push(index);
    expect(await index.needsReconcile()).toBe(false);
    expect(warnings).toEqual([]);
  });
});

/**
 * fixtures/location-schema2 was written by main at 2e41939 (index schema 2, with the index
 * larder_entries_by_body(folder, body, bytes)) from an .mts script run with tsx: `scale` as
 * `(function scale(x){return x*2})` called with 1, 2, 3, 2, then as `(function scale(x){return x*3})`
 * (a second body) with 4, 5, 4, and `(function label(s){return "run " + s})` with 'a', then closed.
 */
describe('a location written before schema 3', () => {
  const scaleV2 = (0, eval)('(function scale(x){return x*3})') as (x: number) => number;
  const indexes = async (file: string) => {
    const sql = await (await loadSqliteDriver(drivers[0]!)).openReadOnly(file, false, 5000);
    try {
      const names = (await sql.all("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'larder_entries_%' ORDER BY name")).map((row) => row.name);
      const [meta] = await sql.all("SELECT value FROM larder_index WHERE key = 'larder:meta'");
      return { names, meta: (JSON.parse(String(meta?.value)) as { value: unknown }).value };
    } finally {
      await sql.close();
    }
  };

  it('migration: schema 2 gets the per-body LRU index in place of (folder, body, bytes) once, and lists, counts and hits as before', async () => {
    const location = tempDir();
    cpSync(join(here, 'fixtures', 'location-schema2'), location, { recursive: true });
    const file = join(location, 'index.sqlite');
    expect(await indexes(file)).toEqual({ names: ['larder_entries_by_access', 'larder_entries_by_body'], meta: { schema: 2, needsReconcile: false } });
    const warnings: MemoryWarning[] = [];
    const memory = new Memory(location, { onWarning: (w) => warnings.push(w) });
    const lru: string[] = [];
    for await (const entry of memory.entries({ function: 'scale', order: 'lastAccess' })) lru.push(entry.id);
    // Least recently used first across both bodies (the fixture's last accesses, read from its index).
    expect(lru).toEqual([
      'scale/f4ba66093393cd5b/2e41fe5f8d96bdf0',
      'scale/f4ba66093393cd5b/e546e4e573e96576',
      'scale/f4ba66093393cd5b/7ec410d45deeef7d',
      'scale/2b0b3f45dbf9ad14/7aff24c4fad69485',
      'scale/2b0b3f45dbf9ad14/8a4463cb1f925608',
    ]);
    const stats = await memory.stats();
    expect(stats).toMatchObject({ entries: 6, hits: 2, misses: 6 });
    expect(stats.perFunction.scale).toMatchObject({ entries: 5, bytes: 5 * 536 });
    const scale = memory.cache(scaleV2, { name: 'scale' });
    expect(await scale.isCached(5)).toBe(true);
    expect(await scale(5)).toBe(15);
    await memory.close();
    const migrated = await indexes(file);
    expect(migrated).toEqual({ names: ['larder_entries_by_access', 'larder_entries_by_body_access'], meta: { schema: 3, needsReconcile: false } });
    // Opened again: nothing left to migrate, and the hit above on scale(5) (7aff…) made it the most recently used.
    const again = new Memory(location, { onWarning: (w) => warnings.push(w) });
    const lruAgain: string[] = [];
    for await (const entry of again.entries({ function: 'scale', order: 'lastAccess' })) lruAgain.push(entry.id);
    expect(lruAgain).toEqual([...lru.filter((id) => !id.endsWith('7aff24c4fad69485')), 'scale/2b0b3f45dbf9ad14/7aff24c4fad69485']);
    expect((await again.stats()).perFunction.scale).toMatchObject({ entries: 5, hits: 3 });
    await again.close();
    expect(await indexes(file)).toEqual(migrated);
    expect(warnings).toEqual([]);
  });
});
