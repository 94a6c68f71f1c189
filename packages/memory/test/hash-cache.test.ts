import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { hash, HashError } from '@larder/memory';
import { tempDir, testMemory } from './helpers.js';

const run = promisify(execFile);
const fixture = fileURLToPath(new URL('./fixtures/hash-bounds.ts', import.meta.url));
const root = fileURLToPath(new URL('../../..', import.meta.url));

/** Runs hash-bounds.ts in a child with a 512 MB heap; the timeout is wide (a loaded machine), main took 46 s and 2 GB for the DAG alone. */
async function bounded(mode: string, timeout: number) {
  const started = Date.now();
  const { stdout } = await run(process.execPath, ['--max-old-space-size=512', '--conditions=larder-source', '--import', 'tsx', fixture, tempDir(), mode], { cwd: root, timeout });
  return { ...(JSON.parse(stdout.trim()) as { hashMs: number; digest: string; runs: number; missOk: boolean; hitOk: boolean; otherOk: boolean }), wallMs: Date.now() - started };
}

describe('hash through memory.cache', () => {
  it('cache: calls whose arguments differ only in a symbol key, a hidden property, a getter or extra keys never get each other\'s result', async () => {
    const { memory } = testMemory();
    let runs = 0;
    const f = memory.cache(function peek(x: object) {
      runs++;
      return Reflect.ownKeys(x).map((key) => String((x as Record<PropertyKey, unknown>)[key as string]));
    }, { name: 'peek' });
    // Hidden properties are in the key: each call computes its own result.
    const hidden = (value: number) => Object.defineProperty({ a: 1 }, 'b', { value, enumerable: false });
    expect(await f(hidden(1))).toEqual(['1', '1']);
    expect(await f(hidden(2))).toEqual(['1', '2']);
    expect(await f({ a: 1 })).toEqual(['1']);
    expect(runs).toBe(3);
    // What the key cannot hold is refused at the call, naming the argument.
    await expect(f({ a: 1, [Symbol.for('k')]: 1 })).rejects.toThrow(HashError);
    await expect(f({ a: 1, [Symbol.for('k')]: 2 })).rejects.toThrow(/at args\[0\]\[Symbol\(k\)\]/);
    await expect(f({ get a() { return 1; } })).rejects.toThrow(/getter\/setter \(accessor property\) at args\[0\]\.a/);
    await expect(f(Object.assign(new Map(), { tag: 'x' }))).rejects.toThrow(/a Map with own properties \(tag\) at args\[0\]/);
    const regexp = /a/g;
    const lastIndexOf = memory.cache(function lastIndexOf(r: RegExp) { return r.exec('aaaa')?.index ?? -1; }, { name: 'lastIndexOf' });
    expect(await lastIndexOf(regexp)).toBe(0);
    regexp.lastIndex = 2;
    expect(await lastIndexOf(regexp)).toBe(2);
    expect(runs).toBe(3);
  });

  it('cache: an argument aliased inside itself ([x, x]) and one holding two copies get separate entries, each its own result', async () => {
    const { memory } = testMemory();
    let runs = 0;
    // Writes through the first element: with [x, x] the second sees it.
    const f = memory.cache(function aliasing(pair: number[][]) { runs++; pair[0]![0] = 99; return pair[1]![0]; }, { name: 'aliasing' });
    const shared = [1];
    expect(await f([shared, shared])).toBe(99);
    expect(await f([[1], [1]])).toBe(1);
    const again = [1];
    expect(await f([again, again])).toBe(99);
    expect(runs).toBe(2);
  });

  it('cache: a shared-structure argument hashes the same whatever the insertion order of its keys, Map entries and Set members', async () => {
    const { memory } = testMemory();
    let runs = 0;
    const f = memory.cache(function count(v: unknown) { runs++; return typeof v; }, { name: 'count' });
    const x = { k: [1, 2] };
    const y = { k: [1, 2] };
    await f({ a: x, b: new Set([x, { y }, y]), c: new Map<unknown, unknown>([['p', x], [y, 'q']]) });
    await f({ c: new Map<unknown, unknown>([[y, 'q'], ['p', x]]), b: new Set([y, { y }, x]), a: x });
    expect(runs).toBe(1);
    // The same shape with the aliasing moved is another entry.
    await f({ a: y, b: new Set([x, { y }, y]), c: new Map<unknown, unknown>([['p', x], [y, 'q']]) });
    expect(runs).toBe(2);
    expect(hash(new Set([x, y]))).toBe(hash(new Set([y, x])));
  });

  it('cache: a 26-level DAG argument (v = [v, v]) hashes in milliseconds within a 512 MB heap, misses then hits, and never takes another argument\'s result', async () => {
    for (const mode of ['dag', 'dag-map']) {
      const result = await bounded(mode, 120_000);
      expect(result.runs).toBe(2);
      expect(result.missOk && result.hitOk && result.otherOk).toBe(true);
      // 27 distinct nodes: main hashed 2^26 leaves (46 s); a wide margin for a loaded machine.
      expect(result.hashMs).toBeLessThan(2_000);
    }
  }, 300_000);

  it('cache: an argument nested 1,000,000 deep hashes without a stack overflow, misses then hits, within a 512 MB heap', async () => {
    const result = await bounded('deep', 280_000);
    expect(result.runs).toBe(2);
    expect(result.missOk && result.hitOk && result.otherOk).toBe(true);
  }, 300_000);

  it('cache: a cached call whose argument and result are nested 2,000 deep stores, hits and returns the whole result', async () => {
    const { memory, warnings } = testMemory();
    let runs = 0;
    const f = memory.cache(function echo(v: unknown) { runs++; return v; }, { name: 'echo' });
    const nest = (leaf: string) => { let v: unknown = leaf; for (let i = 0; i < 2000; i++) v = { next: v }; return v; };
    const depth = (v: unknown) => { let d = 0; for (; typeof v === 'object' && v !== null; d++) v = (v as { next: unknown }).next; return [d, v]; };
    expect(depth(await f(nest('a')))).toEqual([2000, 'a']);
    expect(depth(await f(nest('a')))).toEqual([2000, 'a']);
    expect(depth(await f(nest('b')))).toEqual([2000, 'b']);
    expect(runs).toBe(2);
    expect(warnings).toEqual([]);
  });
});
