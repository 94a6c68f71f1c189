/**
 * Mapped arrays are arrays: a result of `mmap: 'r'` (a load, or a cached
 * function) hashes like the equal in-memory array (joblib's coerce_mmap),
 * goes into a second cached function as an argument (hitting the entry the
 * in-memory array made), dumps, and goes to Parallel workers.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hash, Memory } from '@larder/memory';
import { delayed, Parallel } from '@larder/parallel';
import { dump, dumpSync, load, loadSync, MappedArray } from '@larder/store-fs';
import { arrays } from '../examples/tasks/arrays.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'larder-mapped-compose-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const original = new Float64Array(200_000).map((_, i) => i * 0.25);

/** A mapped load, checked to be the real typed array the addon gives on this platform. */
function mappedCopy(name: string): Float64Array {
  const file = path.join(dir, name);
  dumpSync({ x: original }, file);
  const { x } = loadSync<{ x: Float64Array }>(file, { mmap: 'r' });
  if (x instanceof MappedArray) throw new Error('expected a real mapped array (is the addon missing?)');
  expect(x.buffer.byteLength).toBeGreaterThan(original.byteLength); // a view on the whole file
  return x;
}

describe('mapped typed arrays compose', () => {
  it('hash like the equal in-memory array, whole, nested and as subarrays', () => {
    const mapped = mappedCopy('hash.larder');
    expect(hash(mapped)).toBe(hash(original));
    expect(hash({ runs: [mapped] })).toBe(hash({ runs: [original] }));
    expect(hash(mapped.subarray(5, 105))).toBe(hash(original.subarray(5, 105)));
    expect(hash(mapped)).not.toBe(hash(original.subarray(1)));
  });

  it('a cached function with mmap: "r" returns mapped arrays that feed a second cached function (a hit for the equal in-memory array) and dump', async () => {
    const memory = new Memory(path.join(dir, 'cache'));
    try {
      const make = memory.cache(function make(n: number) { return { data: new Float64Array(n).map((_, i) => i * 0.25) }; }, { name: 'make', mmap: 'r' });
      let totals = 0;
      const total = memory.cache(function total(data: Float64Array) {
        totals++;
        return data.reduce((sum, x) => sum + x, 0);
      }, { name: 'total' });
      for (const { data } of [await make(200_000), await make(200_000)]) {
        expect(data).toBeInstanceOf(Float64Array);
        expect(await total(data as Float64Array)).toBe(original.reduce((sum, x) => sum + x, 0));
      }
      expect(await total(original)).toBe(original.reduce((sum, x) => sum + x, 0));
      expect(totals).toBe(1); // the mapped miss, the mapped hit and the in-memory array share one entry
      const { data } = await make(200_000);
      const file = path.join(dir, 'from-cache.larder');
      await dump({ data }, file);
      expect(await load(file)).toStrictEqual({ data: original });
    } finally {
      await memory.close();
    }
  });

  it('go to Parallel workers like any array', async () => {
    const mapped = mappedCopy('parallel.larder');
    await using pool = new Parallel({ nJobs: 2 });
    const half = mapped.length >> 1;
    const parts = await pool.run([delayed(arrays.sumRange)(mapped, 0, half), delayed(arrays.sumRange)(mapped, half, mapped.length)]);
    expect(parts[0]!.sum + parts[1]!.sum).toBe(original.reduce((sum, x) => sum + x, 0));
    expect(mapped[7]).toBe(1.75); // the caller's mapping is untouched
  });
});
