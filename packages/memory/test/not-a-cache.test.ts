/**
 * A folder that is not a cache: larder marks the locations it creates, adopts
 * only folders holding nothing but its own files, and refuses to clear, prune
 * or write anywhere else; read-only calls change nothing anywhere.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sqlite3 from 'sqlite3';
import { describe, expect, it } from 'vitest';
import { Memory, type MemoryWarning } from '@larder/memory';
import { larder, snapshot, tempDir } from './helpers.js';

/** A project folder as in the issue: results/paper.tex and results/figures/. */
function projectFolder(): string {
  const dir = tempDir();
  mkdirSync(join(dir, 'results', 'figures'), { recursive: true });
  writeFileSync(join(dir, 'results', 'paper.tex'), '\\documentclass{article}');
  writeFileSync(join(dir, 'results', 'figures', 'fig1.png'), Buffer.alloc(64, 7));
  writeFileSync(join(dir, 'notes.md'), '# notes');
  return dir;
}

/** Runs SQL on a database with the sqlite3 binding directly (the way another program would). */
function sql(file: string, statements: string): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file, (error) => {
      if (error) return reject(error);
      db.all(statements, (e: Error | null, rows: Record<string, unknown>[]) => db.close(() => (e ? reject(e) : resolve(rows))));
    });
  });
}

/** A folder holding another program's index.sqlite (rollback journal, its own table). */
async function foreignIndexFolder(): Promise<string> {
  const dir = tempDir();
  const file = join(dir, 'index.sqlite');
  await sql(file, 'CREATE TABLE notes(id INTEGER PRIMARY KEY, text TEXT)');
  await sql(file, "INSERT INTO notes(text) VALUES ('keep me')");
  return dir;
}

function collect() {
  const warnings: MemoryWarning[] = [];
  return { warnings, onWarning: (w: MemoryWarning) => void warnings.push(w) };
}

describe('a folder that is not a cache', () => {
  it('not a cache: larder clear / prune on a project folder exit 2 saying so, and delete nothing', () => {
    const dir = projectFolder();
    const before = snapshot(dir);
    for (const args of [['clear', dir], ['clear', dir, '--function', 'figures'], ['prune', dir, '--items-limit', '0'], ['reconcile', dir]]) {
      const run = larder(...args);
      expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(2);
      expect(run.stderr).toMatch(/is not a larder cache: it holds (notes\.md|results\/paper\.tex|results\/figures\/fig1\.png), which larder did not write/);
      expect(run.stdout).not.toMatch(/removed/);
    }
    expect(snapshot(dir)).toEqual(before);
  }, 180_000);

  it('not a cache: Memory.clear(), reduceSize(), clearFunction() and fn.clear() on a project folder throw LARDER_NOT_A_CACHE and delete nothing', async () => {
    const dir = projectFolder();
    const before = snapshot(dir);
    const memory = new Memory(dir);
    const refused = { code: 'LARDER_NOT_A_CACHE', message: expect.stringMatching(/^\[larder\/memory\] .* is not a larder cache/) };
    await expect(memory.clear()).rejects.toMatchObject(refused);
    await expect(memory.reduceSize({ itemsLimit: 0 })).rejects.toMatchObject(refused);
    await expect(memory.clearFunction('figures')).rejects.toMatchObject(refused);
    await expect(memory.reconcile()).rejects.toMatchObject(refused);
    const figures = memory.cache(function figures(n: number) { return n; }, { name: 'figures' });
    await expect(figures.clear()).rejects.toMatchObject(refused);
    await memory.close();
    expect(snapshot(dir)).toEqual(before);
  }, 180_000);

  it('not a cache: a cached call on a project folder returns its value, warns once with LARDER_NOT_A_CACHE and writes nothing', async () => {
    const dir = projectFolder();
    const before = snapshot(dir);
    const { warnings, onWarning } = collect();
    const memory = new Memory(dir, { onWarning });
    let runs = 0;
    const square = memory.cache(function square(x: number) { runs++; return x * x; }, { name: 'square' });
    const cube = memory.cache(function cube(x: number) { runs++; return x ** 3; }, { name: 'cube' });
    expect(await square(3)).toBe(9);
    expect(await square(3)).toBe(9);
    expect(await cube(2)).toBe(8);
    expect((await square.call(4)).value).toBe(16);
    expect(await (await square.callAndShelve(5)).get()).toBe(25);
    expect(await square.isCached(3)).toBe(false);
    expect(runs).toBe(5);
    expect(warnings.map((w) => w.code)).toEqual(['LARDER_NOT_A_CACHE']);
    expect(warnings[0]!.message).toMatch(/^\[larder\/memory\] .* is not a larder cache: .*store nothing there/);
    await memory.close();
    expect(snapshot(dir)).toEqual(before);
  }, 180_000);

  it('not a cache: stats, ls, list and isCached change nothing in a folder larder did not mark, or a missing one', async () => {
    const dir = projectFolder();
    const before = snapshot(dir);
    expect(larder('stats', dir).code).toBe(0);
    expect(larder('ls', dir, '--json').code).toBe(0);
    const memory = new Memory(dir);
    expect((await memory.stats()).entries).toBe(0);
    expect(await memory.list()).toEqual([]);
    await memory.close();
    expect(snapshot(dir)).toEqual(before);
    const missing = join(tempDir(), 'not-yet');
    const lazy = new Memory(missing);
    expect((await lazy.stats()).entries).toBe(0);
    expect(await lazy.list()).toEqual([]);
    expect(await lazy.cache(function f(x: number) { return x; }, { name: 'f' }).isCached(1)).toBe(false);
    await lazy.clear();
    expect(await lazy.reduceSize({ itemsLimit: 0 })).toEqual({ removed: 0, freedBytes: 0 });
    await lazy.close();
    expect(existsSync(missing)).toBe(false);
  }, 180_000);

  it('not a cache: an unrelated index.sqlite is never opened for writing, renamed or switched to WAL, by any command', async () => {
    const dir = await foreignIndexFolder();
    const before = snapshot(dir);
    const { warnings, onWarning } = collect();
    const memory = new Memory(dir, { onWarning });
    const f = memory.cache(function f(x: number) { return x + 1; }, { name: 'f' });
    expect(await f(1)).toBe(2);
    expect(await f.isCached(1)).toBe(false);
    expect((await memory.stats()).entries).toBe(0);
    await expect(memory.clear()).rejects.toMatchObject({ code: 'LARDER_NOT_A_CACHE', message: expect.stringMatching(/index\.sqlite that is not larder's index/) });
    await expect(memory.reduceSize({ itemsLimit: 0 })).rejects.toMatchObject({ code: 'LARDER_NOT_A_CACHE' });
    await memory.close();
    expect(larder('stats', dir).code).toBe(0);
    expect(larder('ls', dir).code).toBe(0);
    expect(larder('clear', dir).code).toBe(2);
    expect(larder('prune', dir, '--items-limit', '0').code).toBe(2);
    expect(warnings.map((w) => w.code)).toEqual(['LARDER_NOT_A_CACHE']);
    expect(snapshot(dir)).toEqual(before);
    const file = join(dir, 'index.sqlite');
    expect(await sql(file, 'PRAGMA journal_mode')).toEqual([{ journal_mode: 'delete' }]);
    expect(await sql(file, "SELECT name FROM sqlite_master WHERE type = 'table'")).toEqual([{ name: 'notes' }]);
  }, 180_000);

  it('not a cache: an unrelated index.sqlite placed in a marked cache is left untouched; the cache works with an in-memory index', async () => {
    const dir = tempDir();
    let runs = 0;
    const body = function f(x: number) { runs++; return x + 1; };
    const first = new Memory(dir);
    await first.cache(body, { name: 'f' })(1);
    await first.close();
    for (const name of readdirSync(dir)) if (name.startsWith('index.sqlite')) rmSync(join(dir, name));
    const file = join(dir, 'index.sqlite');
    await sql(file, 'CREATE TABLE notes(id INTEGER PRIMARY KEY, text TEXT)');
    const before = readFileSync(file);
    const { warnings, onWarning } = collect();
    const memory = new Memory(dir, { onWarning });
    const f = memory.cache(body, { name: 'f' });
    expect(await f(1)).toBe(2);
    expect(await f(2)).toBe(3);
    expect(runs).toBe(2); // f(1) was a hit: results do not depend on the index
    expect((await memory.stats()).entries).toBe(2);
    await memory.close();
    expect(warnings.map((w) => w.code)).toEqual(['LARDER_INDEX']);
    expect(warnings[0]!.message).toMatch(/is not larder's index .* leaves it untouched/);
    expect(readFileSync(file).equals(before)).toBe(true);
    expect(readdirSync(dir).filter((name) => name.startsWith('index.sqlite'))).toEqual(['index.sqlite']);
  }, 180_000);

  it('marker: larder marks the location it creates with a CACHEDIR.TAG per the spec and its own marker with the layout version', async () => {
    const dir = join(tempDir(), 'cache');
    const memory = new Memory(dir);
    await memory.cache(function f(x: number) { return x; }, { name: 'f' })(1);
    await memory.close();
    const tag = readFileSync(join(dir, 'CACHEDIR.TAG'));
    expect(tag.subarray(0, 43).toString('latin1')).toBe('Signature: 8a477f597d28d172789f06886806bc55');
    expect(tag.toString('utf8').split('\n')[0]).toBe('Signature: 8a477f597d28d172789f06886806bc55');
    expect(JSON.parse(readFileSync(join(dir, 'larder-cache.json'), 'utf8'))).toEqual({ larder: '@larder/memory', layout: 1 });
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  }, 180_000);

  it('adoption: a cache written before the marker existed (only larder\'s files) keeps working, and is marked on its first write', async () => {
    const dir = tempDir();
    let runs = 0;
    const body = function f(x: number) { runs++; return { x }; };
    const writer = new Memory(dir);
    const f = writer.cache(body, { name: 'f' });
    await f(1);
    await f(1);
    await f(2);
    await writer.close();
    // The current release's layout: results/ and index.sqlite, no marks.
    rmSync(join(dir, 'CACHEDIR.TAG'));
    rmSync(join(dir, 'larder-cache.json'));
    const before = snapshot(dir);
    // Read-only calls see it and change nothing...
    const reader = new Memory(dir);
    const stats = await reader.stats();
    expect(stats.entries).toBe(2);
    expect(stats.hits).toBe(1);
    expect(await reader.cache(body, { name: 'f' }).isCached(2)).toBe(true);
    await reader.close();
    expect(larder('ls', dir).stdout.trim().split('\n')).toHaveLength(3);
    expect(snapshot(dir)).toEqual(before);
    // ...and the first write adopts it: hits, and the marks appear.
    const { warnings, onWarning } = collect();
    const user = new Memory(dir, { onWarning });
    const g = user.cache(body, { name: 'f' });
    expect(await g(1)).toEqual({ x: 1 });
    expect(await g(2)).toEqual({ x: 2 });
    expect(runs).toBe(2);
    await user.close();
    expect(warnings).toEqual([]);
    expect(existsSync(join(dir, 'CACHEDIR.TAG'))).toBe(true);
    expect(existsSync(join(dir, 'larder-cache.json'))).toBe(true);
    // An empty folder is adopted too (a fresh mkdtemp, a folder made for the cache).
    const empty = tempDir();
    await new Memory(empty).clear();
    expect(existsSync(join(empty, 'larder-cache.json'))).toBe(true);
  }, 180_000);

  it('not a cache: a location that is a file gives LARDER_NOT_A_CACHE from every entry point; calls warn and compute', async () => {
    const file = join(tempDir(), 'cache.bin');
    writeFileSync(file, 'not a folder');
    const { warnings, onWarning } = collect();
    const memory = new Memory(file, { onWarning });
    const isFile = { code: 'LARDER_NOT_A_CACHE', message: expect.stringMatching(/^\[larder\/memory\] .*cache\.bin is not a larder cache: it is a file, not a folder/) };
    const f = memory.cache(function f(x: number) { return x * 2; }, { name: 'f' });
    expect(await f(2)).toBe(4);
    expect(await f.isCached(2)).toBe(false);
    expect(warnings.map((w) => w.code)).toEqual(['LARDER_NOT_A_CACHE']);
    await expect(memory.clear()).rejects.toMatchObject(isFile);
    await expect(f.clear()).rejects.toMatchObject(isFile);
    await expect(memory.reduceSize({ itemsLimit: 1 })).rejects.toMatchObject(isFile);
    await expect(memory.stats()).rejects.toMatchObject(isFile);
    await expect(memory.list()).rejects.toMatchObject(isFile);
    await memory.close();
    for (const command of ['clear', 'stats', 'ls']) {
      const run = larder(command, file);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/is not a larder cache/);
    }
    expect(readFileSync(file, 'utf8')).toBe('not a folder');
  }, 180_000);

  it('marking: 8 processes starting at once on one new location all store and hit, none is refused', async () => {
    const dir = join(tempDir(), 'fresh');
    const script = join(tempDir(), 'marking-child.mjs');
    writeFileSync(script, `
      import { Memory } from ${JSON.stringify(pathToFileURL(fileURLToPath(new URL('../src/index.ts', import.meta.url))).href)};
      const warnings = [];
      const memory = new Memory(process.argv[2], { onWarning: (w) => warnings.push(w.code) });
      const f = memory.cache(function f(x) { return x * 10; }, { name: 'f' });
      let ok = true;
      for (let i = 0; i < 20; i++) ok &&= (await f(i)) === i * 10;
      for (let i = 0; i < 20; i++) ok &&= await f.isCached(i);
      await memory.close();
      console.log(JSON.stringify({ ok, warnings }));`);
    const run = () => new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--conditions=larder-source', '--import', 'tsx', script, dir], { encoding: 'utf8', timeout: 120_000 }, (error, stdout) => (error ? reject(error) : resolve(stdout)));
    });
    const results = (await Promise.all(Array.from({ length: 8 }, run))).map((out) => JSON.parse(out) as { ok: boolean; warnings: string[] });
    for (const result of results) expect(result).toEqual({ ok: true, warnings: [] });
    expect(existsSync(join(dir, 'larder-cache.json'))).toBe(true);
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  }, 180_000);
});
