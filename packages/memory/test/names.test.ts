/**
 * Function names become folder names: any name a user gives must be cached,
 * inside the location, apart from every other name.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { larder, testMemory } from './helpers.js';

describe('function names', () => {
  it('names: a function name of 300 file-safe characters is cached (it was never cached: ENAMETOOLONG blamed on a full disk)', async () => {
    const { memory, warnings, location } = testMemory();
    const name = `simulate_${'x'.repeat(291)}`;
    let runs = 0;
    const f = memory.cache((n: number) => { runs++; return n * 2; }, { name });
    expect(await f(21)).toBe(42);
    expect(await f(21)).toBe(42);
    expect(runs).toBe(1);
    expect(warnings).toEqual([]);
    const [folder] = readdirSync(join(location, 'results'));
    expect(folder!.length).toBeLessThanOrEqual(100);
    const stats = await memory.stats();
    expect(Object.keys(stats.perFunction)).toEqual([name]);
    expect((await memory.list())[0]!.functionName).toBe(name);
    await memory.close();
    expect(larder('ls', location).stdout).toContain(name);
    // Two long names that share their first 100 characters stay apart.
    const g = memory.cache((n: number) => { runs++; return n * 3; }, { name: `${name}_v2` });
    expect(await g(21)).toBe(63);
    expect(await f(21)).toBe(42);
    expect(runs).toBe(2);
    expect(await memory.clearFunction(name)).toBe(1);
    expect(await g.isCached(21)).toBe(true);
  }, 120_000);

  it('names: names with "/", "..", NUL, unicode or only dots are each cached in their own folder inside the location', async () => {
    const { memory, warnings, location } = testMemory();
    const names = ['../../escape', 'a/b', '/abs', '.', '..', '...', 'nul\0byte', 'ünïcödé ☃', 'ü'.normalize('NFD'), 'CON', 'a b', 'a_b'];
    let runs = 0;
    const fns = names.map((name, i) => memory.cache((n: number) => { runs++; return `${i}:${n}`; }, { name }));
    for (const [i, fn] of fns.entries()) expect(await fn(1)).toBe(`${i}:1`);
    for (const [i, fn] of fns.entries()) expect(await fn(1)).toBe(`${i}:1`);
    expect(runs).toBe(names.length);
    expect(warnings).toEqual([]);
    const folders = readdirSync(join(location, 'results'));
    expect(folders).toHaveLength(names.length);
    for (const folder of folders) expect(folder).toMatch(/^[A-Za-z0-9._-]+$/);
    expect(readdirSync(join(location, '..')).filter((name) => name === 'escape')).toEqual([]);
    expect(new Set((await memory.list()).map((entry) => entry.functionName))).toEqual(new Set(names));
  });
});
