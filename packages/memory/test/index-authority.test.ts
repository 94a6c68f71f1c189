import { execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Keyv from 'keyv';
import { describe, expect, it } from 'vitest';
import { Memory, type EntrySummary } from '@larder/memory';
import { entryFile, tempDir, testMemory } from './helpers.js';

const run = promisify(execFile);

/** Puts a copy of entry `from`'s file where entry `to` would live: a file the index never heard of. */
function copyEntry(location: string, from: string, to: string): void {
  const target = entryFile(location, to);
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(entryFile(location, from), target);
}
const root = fileURLToPath(new URL('../../..', import.meta.url));
const collect = async (iterable: AsyncIterable<EntrySummary>) => {
  const out: EntrySummary[] = [];
  for await (const entry of iterable) out.push(entry);
  return out;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the index is the authority for listing', () => {
  it('index authority: stats, list and entries read the index, not the files; reconcile brings in a file the index never heard of', async () => {
    const { memory, location } = testMemory();
    const f = memory.cache(function f(x: number) { return new Float64Array(100).fill(x); }, { name: 'f' });
    await f(1), await f(2);
    const [one] = await memory.list();
    // A file put there behind the index's back (a copy under another arguments hash).
    const alien = one!.id.replace(/[0-9a-f]{16}$/, 'f'.repeat(16));
    copyEntry(location, one!.id, alien);
    expect((await memory.stats()).entries).toBe(2);
    expect((await collect(memory.entries())).map((e) => e.id)).not.toContain(alien);
    expect(await memory.reconcile()).toEqual({ added: 1, removed: 0 });
    expect((await memory.stats()).entries).toBe(3);
  });

  it('entries(): streams in key order or least recently used first, by function; bad options name themselves', async () => {
    const { memory } = testMemory();
    const f = memory.cache((x: number) => x, { name: 'f' });
    const g = memory.cache((x: number) => -x, { name: 'g' });
    for (let i = 0; i < 5; i++) await f(i), await sleep(2);
    await g(1);
    await f(0); // now the most recently used f entry
    const byKey = await collect(memory.entries());
    expect(byKey.map((e) => e.id)).toEqual([...byKey.map((e) => e.id)].sort());
    expect(byKey).toHaveLength(6);
    const lru = await collect(memory.entries({ function: 'f', order: 'lastAccess' }));
    expect(lru).toHaveLength(5);
    expect(lru.map((e) => e.lastAccessMs)).toEqual([...lru.map((e) => e.lastAccessMs)].sort((a, b) => a - b));
    expect(lru.at(-1)!.hits).toBe(1);
    expect(await collect(memory.entries({ function: 'nobody' }))).toEqual([]);
    await expect(collect(memory.entries({ order: 'size' as never }))).rejects.toThrow(/order/);
    await expect(collect(memory.entries({ stale: 'yes' as never }))).rejects.toThrow(/stale/);
  });

  it('reduceSize: least recently used first from the index; an entry whose file is already gone just loses its record', async () => {
    const { memory, location } = testMemory();
    const f = memory.cache((x: number) => new Float64Array(64).fill(x), { name: 'f' });
    for (let i = 0; i < 6; i++) await f(i), await sleep(2);
    await f(0); // used again: kept
    const before = await collect(memory.entries({ order: 'lastAccess' }));
    unlinkSync(entryFile(location, before[0]!.id));
    expect(await memory.reduceSize({ itemsLimit: 3 })).toMatchObject({ removed: 3 });
    const left = (await memory.list()).map((e) => e.id).sort();
    expect(left).toEqual(before.slice(3).map((e) => e.id).sort());
    expect(left).toContain(before.at(-1)!.id);
  });

  it('reduceSize over pages (1,200 entries, 1,000 a page): exactly the least recently used go, files and records, and what it reports adds up', async () => {
    const { memory, location } = testMemory();
    const f = memory.cache((x: number) => x * 2, { name: 'f' });
    for (let i = 0; i < 1200; i += 100) await Promise.all(Array.from({ length: 100 }, (_, k) => f(i + k)));
    await sleep(5);
    for (let i = 0; i < 100; i++) await f(i); // used again: the 100 most recently used
    const before = await collect(memory.entries({ order: 'lastAccess' }));
    expect(before).toHaveLength(1200);
    const bytes = before.slice(0, 1100).reduce((n, e) => n + e.bytes, 0);
    expect(await memory.reduceSize({ itemsLimit: 100 })).toEqual({ removed: 1100, freedBytes: bytes });
    const left = await memory.list();
    expect(left.map((e) => e.id).sort()).toEqual(before.slice(1100).map((e) => e.id).sort());
    for (const entry of before) expect(existsSync(entryFile(location, entry.id)), entry.id).toBe(left.some((e) => e.id === entry.id));
    expect((await memory.stats()).entries).toBe(100);
  });

  it('clearFunction: removes the function\'s records and files, also files the index never heard of', async () => {
    const { memory, location } = testMemory();
    const f = memory.cache((x: number) => x, { name: 'f' });
    const g = memory.cache((x: number) => x, { name: 'g' });
    await f(1), await f(2), await g(1);
    const [one] = await collect(memory.entries({ function: 'f' }));
    copyEntry(location, one!.id, one!.id.replace(/[0-9a-f]{16}$/, 'e'.repeat(16)));
    expect(await memory.clearFunction('f')).toBe(2);
    expect(readdirSync(join(location, 'results'))).toEqual(['g']);
    expect((await memory.stats()).perFunction.g).toMatchObject({ entries: 1 });
  });
});

describe('bookkeeping stays bounded', () => {
  it('a loop that awaits only cached calls (the event loop never turns, so no timer fires) starts index writes every 10,000 records instead of piling up one huge batch', async () => {
    const location = tempDir();
    const fixture = fileURLToPath(new URL('./fixtures/microtask-loop.ts', import.meta.url));
    const child = spawn(process.execPath, ['--conditions=larder-source', '--import', 'tsx', fixture, location, '10050'], { cwd: fileURLToPath(new URL('../../..', import.meta.url)), stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('looped') && resolve());
        child.once('exit', (code) => reject(new Error(`the loop exited early (${code})`)));
      });
      // The child is blocked (nothing of it can flush now); at least the first 10,000 misses reached the
      // index while it looped (counters come only from bookkeeping: a reconcile from the files cannot make them).
      const { memory } = testMemory({}, location);
      expect((await memory.stats()).misses).toBeGreaterThanOrEqual(10_000);
    } finally {
      child.kill('SIGKILL');
    }
  }, 120_000);
});

describe('function versions', () => {
  it('versions: an older body is stale only when a newer body exists and it was unused for staleAfter; clearStale removes it; reduceSize takes it first', async () => {
    const location = tempDir();
    const a = testMemory({ staleAfter: 500 }, location);
    const v1 = a.memory.cache(function step(n: number) { return n + 1; }, { name: 'step' });
    await v1(1), await v1(2), await v1(3);
    await a.memory.close();
    await sleep(600);
    const b = testMemory({ staleAfter: 500 }, location);
    const v2 = b.memory.cache(function step(n: number) { return n + 2; }, { name: 'step' });
    await v2(1);
    let stats = await b.memory.stats();
    expect(stats).toMatchObject({ entries: 4, staleEntries: 3 });
    expect(stats.perFunction.step).toMatchObject({ staleEntries: 3 });
    expect((await collect(b.memory.entries({ stale: true }))).every((e) => e.stale)).toBe(true);
    expect(await collect(b.memory.entries({ stale: false }))).toHaveLength(1);
    // Used again: no longer stale (two bodies in use at once are never retired).
    await v1(1);
    await a.memory.close();
    expect((await b.memory.stats()).staleEntries).toBe(0);
    await sleep(600);
    await v2(2); // the newer body in use; the older one unused for longer than staleAfter again
    // reduceSize takes the stale body's entries first, even though v2's first entry is older.
    expect(await b.memory.reduceSize({ itemsLimit: 4 })).toMatchObject({ removed: 1 });
    expect((await b.memory.list()).filter((e) => e.stale)).toHaveLength(2);
    const cleared = await b.memory.clearStale();
    expect(cleared.removed).toBe(2);
    expect(cleared.freedBytes).toBeGreaterThan(0);
    stats = await b.memory.stats();
    expect(stats).toMatchObject({ entries: 2, staleEntries: 0 });
    expect(readdirSync(join(location, 'results', 'step'))).toHaveLength(1);
  });

  it('versions: staleAfter is validated like expiresAfter', () => {
    expect(() => new Memory(null, { staleAfter: 'later' })).toThrow(/staleAfter/);
    expect(() => new Memory(null, { staleAfter: -1 })).toThrow(/staleAfter/);
  });
});

describe('degraded modes', () => {
  it('no SQLite driver: one LARDER_MISSING_DRIVER warning with the exact fix; hash, misses and hits work; stats and list read the files', async () => {
    const location = tempDir();
    const child = fileURLToPath(new URL('./fixtures/no-driver.ts', import.meta.url));
    const env = { ...process.env, LARDER_SQLITE_DRIVER: 'bun:sqlite' in process.versions || 'bun' in process.versions ? 'node:sqlite' : 'bun:sqlite' };
    const out = async () => JSON.parse((await run(process.execPath, ['--conditions=larder-source', '--import', 'tsx', child, location], { cwd: root, env, timeout: 120_000 })).stdout) as Record<string, unknown> & { warnings: { code: string; message: string }[] };
    const first = await out();
    expect(first).toMatchObject({ first: 16, second: 16, runs: 1, entries: 1, hits: 1, listed: 1 });
    expect(first.digest).toMatch(/^[0-9a-f]+$/);
    expect(first.warnings.map((w) => w.code)).toEqual(['LARDER_MISSING_DRIVER']);
    expect(first.warnings[0]!.message).toContain('npm install-scripts approve sqlite3');
    expect(first.warnings[0]!.message).toContain('npm rebuild sqlite3');
    expect(first.warnings[0]!.message).toContain('onlyBuiltDependencies');
    // A new process: the in-memory index starts empty, yet the entry hits and listings find its file.
    const second = await out();
    expect(second).toMatchObject({ runs: 0, entries: 1, listed: 1 });
  }, 180_000);

  it('a bare Keyv index: counters, listing and reduceSize work by iterating it', async () => {
    const keyv = new Keyv({ namespace: 'larder' });
    const { memory } = testMemory({ index: keyv });
    const f = memory.cache((x: number) => x, { name: 'f' });
    for (let i = 0; i < 4; i++) await f(i), await sleep(2);
    await f(0);
    expect(await memory.stats()).toMatchObject({ entries: 4, hits: 1, misses: 4 });
    expect(await memory.reduceSize({ itemsLimit: 2 })).toMatchObject({ removed: 2 });
    expect((await memory.list()).length).toBe(2);
  });
});
