import { existsSync, readdirSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Memory } from '@larder/memory';
import { planReduction, resolveLimits } from '../src/reduce-size.js';
import { entryFile, testMemory } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('maintenance', () => {
  it('stats: entries, bytes, hits, misses and compute time saved, in total and per function, visible at once', async () => {
    const { memory } = testMemory({ flushIntervalMs: Infinity });
    const f = memory.cache(async function f(x: number) { await sleep(20); return new Float64Array(1000).fill(x); }, { name: 'f' });
    const g = memory.cache(function g(x: number) { return x; }, { name: 'g' });
    await f(1), await f(1), await f(1), await f(2), await g(1);
    const stats = await memory.stats();
    expect(stats).toMatchObject({ entries: 3, hits: 2, misses: 3 });
    expect(stats.bytes).toBeGreaterThan(16_000);
    expect(stats.computeTimeSavedMs).toBeGreaterThanOrEqual(36);
    expect(stats.perFunction.f).toMatchObject({ entries: 2, hits: 2, misses: 2 });
    expect(stats.perFunction.g).toMatchObject({ entries: 1, hits: 0, misses: 1, computeTimeSavedMs: 0 });
    expect(stats.perFunction.f!.bytes + stats.perFunction.g!.bytes).toBe(stats.bytes);
  });

  it('stats: regression: every Memory on a location reports the same totals, also after a function cleared its entries', async () => {
    const { memory, location } = testMemory();
    const f = memory.cache(function f(x: number) { return x; }, { name: 'f' });
    await f(1), await f(1), await f(2);
    await f.clear();
    const fromWriter = await memory.stats();
    await memory.close();
    const reader = new Memory(location);
    const fromReader = await reader.stats();
    await reader.close();
    expect(fromWriter).toMatchObject({ entries: 0, hits: 1, misses: 2 });
    expect(fromReader).toEqual(fromWriter);
  });

  it('list: every entry with size, times and hits', async () => {
    const { memory } = testMemory();
    const f = memory.cache(function f(x: number) { return x; }, { name: 'f' });
    await f(1), await f(1), await f(2);
    const entries = await memory.list();
    expect(entries).toHaveLength(2);
    expect(entries.map((e) => e.hits).sort()).toEqual([0, 1]);
    for (const entry of entries) {
      expect(entry.functionName).toBe('f');
      expect(entry.bytes).toBeGreaterThan(0);
      expect(entry.lastAccessMs).toBeGreaterThanOrEqual(entry.createdMs);
    }
  });

  it('reduceSize: removes least recently used first until itemsLimit holds', async () => {
    const { memory } = testMemory();
    const f = memory.cache(function f(x: number) { return x; }, { name: 'f' });
    for (const x of [1, 2, 3, 4]) await f(x), await sleep(5);
    await f(1); // 1 is now the most recently used
    const result = await memory.reduceSize({ itemsLimit: 2 });
    expect(result.removed).toBe(2);
    expect(result.freedBytes).toBeGreaterThan(0);
    expect(await f.isCached(1)).toBe(true);
    expect(await f.isCached(4)).toBe(true);
    expect(await f.isCached(2)).toBe(false);
    expect(await f.isCached(3)).toBe(false);
  });

  it('reduceSize: bytesLimit takes strings base 1024 and ageLimit judges by last access', async () => {
    const { memory, location } = testMemory();
    const f = memory.cache(function f(n: number) { return new Uint8Array(n * 1024); }, { name: 'f' });
    await f(10), await sleep(5), await f(20), await sleep(5), await f(30);
    const before = await memory.stats();
    const limited = await memory.reduceSize({ bytesLimit: '40K' });
    const after = await memory.stats();
    expect(after.bytes).toBeLessThanOrEqual(40 * 1024);
    expect(limited.freedBytes).toBe(before.bytes - after.bytes);
    expect(await f.isCached(30)).toBe(true);
    // ageLimit: make the survivor look untouched for two days (no index record newer than that either).
    await memory.close();
    const fresh = testMemory({}, location);
    const old = Date.now() / 1000 - 2 * 86_400;
    for (const entry of await fresh.memory.list()) utimesSync(entryFile(location, entry.id), old, old);
    expect((await fresh.memory.reduceSize({ ageLimit: '1d' })).removed).toBe(0); // the index says it was stored just now
    expect((await fresh.memory.reduceSize({ ageLimit: 0 })).removed).toBe(1);
  });

  it('reduceSize: the policy is least recently used first, and bad limits name themselves', () => {
    const entries = [
      { key: 'a', bytes: 10, lastAccessMs: 3 },
      { key: 'b', bytes: 10, lastAccessMs: 1 },
      { key: 'c', bytes: 10, lastAccessMs: 2 },
    ];
    expect(planReduction(entries, resolveLimits({ bytesLimit: 15 }), 10).map((e) => e.key)).toEqual(['b', 'c']);
    expect(planReduction(entries, resolveLimits({ ageLimit: 8 }), 10).map((e) => e.key)).toEqual(['b']);
    expect(planReduction(entries, { bytesLimit: undefined, itemsLimit: undefined, ageLimitMs: undefined }, 10)).toEqual([]);
    expect(() => resolveLimits({})).toThrow(/needs at least one of bytesLimit, itemsLimit, ageLimit/);
    expect(() => resolveLimits({ itemsLimit: 1.5 })).toThrow('[larder/memory] itemsLimit must be a non-negative integer, got 1.5');
    expect(() => resolveLimits({ bytesLimit: '10Q' })).toThrow(/bytesLimit must be .* got "10Q"/);
  });

  it('clear: removes every entry and the index records', async () => {
    const { memory, location } = testMemory();
    const f = memory.cache(function f(x: number) { return x; }, { name: 'f' });
    await f(1), await f(1);
    await memory.clear();
    // The entry store keeps its (empty) root folder; nothing is left in it.
    expect(existsSync(join(location, 'results')) ? readdirSync(join(location, 'results'), { recursive: true }) : []).toEqual([]);
    expect(await f.isCached(1)).toBe(false);
    expect(await memory.stats()).toMatchObject({ entries: 0, bytes: 0, hits: 0, misses: 0 });
    expect(await f(1)).toBe(1);
    expect((await memory.stats()).entries).toBe(1);
  });

  it('clearFunction: removes the entries of one function by name', async () => {
    const { memory } = testMemory();
    const f = memory.cache(function f(x: number) { return x; }, { name: 'f' });
    const g = memory.cache(function g(x: number) { return x; }, { name: 'g' });
    await f(1), await f(2), await g(1);
    expect(await memory.clearFunction('f')).toBe(2);
    expect((await memory.stats()).entries).toBe(1);
  });

  it('close: flushes bookkeeping; await using closes; the Memory reopens on use', async () => {
    const { location } = testMemory();
    {
      await using memory = new Memory(location, { flushIntervalMs: Infinity });
      const f = memory.cache(function f(x: number) { return x; }, { name: 'f' });
      await f(1), await f(1), await f(1);
    }
    const reader = new Memory(location);
    expect(await reader.stats()).toMatchObject({ entries: 1, hits: 2, misses: 1 });
    await reader.close();
    expect((await reader.stats()).hits).toBe(2);
    await reader.close();
  });

  it('index option: a keyv instance holds the index instead of SQLite in the location', async () => {
    const Keyv = (await import('keyv')).default;
    const index = new Keyv();
    const { memory, location } = testMemory({ index });
    const f = memory.cache(function f(x: number) { return x; }, { name: 'f' });
    await f(1), await f(1);
    expect(await memory.stats()).toMatchObject({ entries: 1, hits: 1, misses: 1 });
    expect(existsSync(join(location, 'index.sqlite'))).toBe(false);
    expect([...(index.store as Map<string, unknown>).keys()].some((key) => key.includes('f/f'))).toBe(true);
  });

  it('names: a function name with unsafe characters is filed under a safe folder', async () => {
    const { memory } = testMemory();
    const f = memory.cache((x: number) => x, { name: 'my fn/with:odd chars' });
    await f(1);
    const [entry] = await memory.list();
    expect(entry!.id).toMatch(/^my_fn_with_odd_chars-[0-9a-f]{8}\//);
    expect(entry!.functionName).toBe('my fn/with:odd chars');
    expect(await memory.clearFunction('my fn/with:odd chars')).toBe(1);
  });
});
