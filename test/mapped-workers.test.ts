/**
 * Mapped arrays travel to worker threads as file references, and back: each
 * worker maps the file copy-on-write (no copy, no anonymous memory), a
 * task's writes stay its own, a file replaced after the mapping never leaks
 * its new bytes, and an array the caller wrote to goes by value.
 */
import { renameSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Memory } from '@larder/memory';
import { delayed, Parallel } from '@larder/parallel';
import { dump, dumpSync, load, loadSync, mappedReference, MappedArray, verify } from '@larder/store-fs';
import { disableAddonForTests } from '../packages/store-fs/src/native.js';
import { fixture, runScript } from './fixtures/run-child.js';

let dir: string;
let mapped: typeof import('./fixtures/mapped-tasks.js').mapped;
let rssAnon: () => number;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'larder-mapped-workers-'));
  process.env.LARDER_TEST_CACHE = path.join(dir, 'cache');
  ({ mapped, rssAnon } = await import('./fixtures/mapped-tasks.js'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const values = (n: number, scale = 0.25): Float64Array => new Float64Array(n).map((_, i) => i * scale);
const sumOf = (array: Float64Array): number => array.reduce((sum, x) => sum + x, 0);

/** A fresh file holding `array`, loaded mapped: the real typed array the addon gives on this platform. */
function mappedFile(name: string, array: Float64Array): Float64Array {
  const file = path.join(dir, name);
  dumpSync({ x: array }, file);
  const { x } = loadSync<{ x: Float64Array }>(file, { mmap: 'r' });
  if (x instanceof MappedArray) throw new Error('expected a real mapped array (is the addon missing?)');
  return x;
}

describe('mapped arrays and worker threads', () => {
  it('each worker maps the file itself: no shared copy, and the anonymous memory does not grow by the array', async () => {
    const n = 8 << 20; // 64 MB
    const array = mappedFile('big.larder', values(n, 1));
    await using pool = new Parallel({ nJobs: 2 });
    // Workers started and warm, so their own heaps are not counted below.
    await pool.run([delayed(mapped.inspect)(new Float64Array(8), 0, 8), delayed(mapped.inspect)(new Float64Array(8), 0, 8)]);
    const before = rssAnon();
    const half = n >> 1;
    const parts = await pool.run([delayed(mapped.inspect)(array, 0, half), delayed(mapped.inspect)(array, half, n)]);
    expect(parts.map((part) => part.mapped)).toEqual([true, true]);
    expect(parts.map((part) => part.shared)).toEqual([false, false]);
    expect(parts[0]!.sum + parts[1]!.sum).toBe((n * (n - 1)) / 2);
    const grown = Math.max(...parts.map((part) => part.rssAnon)) - before;
    expect(grown).toBeLessThan(0.25 * array.byteLength); // a copy would add the whole array
  });

  it("a task's writes change only its own pages: not the next task's, not the caller's, not the file", async () => {
    const array = mappedFile('scribble.larder', values(1 << 16));
    await using pool = new Parallel({ nJobs: 2, batchSize: 3 }); // one batch: three tasks in one worker
    const runs = await pool.run([delayed(mapped.scribble)(array), delayed(mapped.scribble)(array), delayed(mapped.scribble)(array)]);
    expect(runs).toEqual([0, 1, 2].map(() => ({ before: 0.25, after: -1, mapped: true })));
    expect(array[1]).toBe(0.25);
    expect(verify(array)).toEqual({ arrays: 1, bytes: array.byteLength });
    expect(loadSync<{ x: Float64Array }>(path.join(dir, 'scribble.larder')).x[1]).toBe(0.25);
  });

  it('a worker reuses the mapping an earlier task left unwritten (a new mapping over 64 MiB costs V8 a collection), and maps again after a write', async () => {
    const array = mappedFile('reused.larder', values(1 << 16));
    // With resourceLimits, nJobs 1 runs in one worker thread: every task below runs there, in order.
    await using pool = new Parallel({ nJobs: 1, resourceLimits: { maxOldGenerationSizeMb: 512 } });
    const [first] = await pool.run([delayed(mapped.sameMapping)(array)]);
    const [second] = await pool.run([delayed(mapped.sameMapping)(array)]);
    const [written] = await pool.run([delayed(mapped.scribble)(array)]); // reuses that mapping too, and writes data[1] in it
    const [afterWrite] = await pool.run([delayed(mapped.sameMapping)(array)]);
    expect([first, second]).toEqual([{ same: false, mapped: true, first: 0.25 }, { same: true, mapped: true, first: 0.25 }]);
    expect(written).toEqual({ before: 0.25, after: -1, mapped: true });
    expect(afterWrite).toEqual({ same: false, mapped: true, first: 0.25 });
    expect(array[1]).toBe(0.25);
  });

  it('an array the caller wrote to goes by value, as a shared copy above maxNbytes (the file no longer holds its bytes)', async () => {
    const array = mappedFile('written.larder', values(1 << 16));
    array[10] = 1000;
    expect(mappedReference(array)).toBeUndefined();
    await using pool = new Parallel({ nJobs: 2, maxNbytes: 1024 });
    const [part] = await pool.run([delayed(mapped.inspect)(array, 10, 11)]);
    expect(part).toMatchObject({ sum: 1000, mapped: false, shared: true });
  });

  it('a file replaced after the mapping: workers get the mapped (old) bytes as a copy, never the new file', async () => {
    const file = path.join(dir, 'replaced.larder');
    const old = values(1 << 16);
    const array = mappedFile('replaced.larder', old);
    dumpSync({ x: values(1 << 16, 3) }, `${file}.new`);
    renameSync(`${file}.new`, file); // what larder's own writes do
    expect(mappedReference(array)).toBeDefined(); // still the old file's bytes, but the path names another file now
    await using pool = new Parallel({ nJobs: 2, maxNbytes: 1024 });
    const [part] = await pool.run([delayed(mapped.inspect)(array, 0, array.length)]);
    expect(part).toMatchObject({ sum: sumOf(old), mapped: false, shared: true });
  });

  it('without the addon, mapped arrays go by value', async () => {
    const array = mappedFile('no-addon.larder', values(1 << 16));
    disableAddonForTests(true);
    try {
      await using pool = new Parallel({ nJobs: 2, maxNbytes: 1024 });
      const [part] = await pool.run([delayed(mapped.inspect)(array, 0, array.length)]);
      expect(part).toMatchObject({ sum: sumOf(array), mapped: false, shared: true });
    } finally {
      disableAddonForTests(false);
    }
  });

  it('a cached function with mmap: "r" run in workers returns mapped arrays that compose with a second cached function and with dump', async () => {
    const n = 1 << 17;
    await using pool = new Parallel({ nJobs: 2 });
    const made = await pool.run([delayed(mapped.make)(n), delayed(mapped.make)(n), delayed(mapped.make)(n)]);
    const expected = values(n);
    for (const { data, mappedInWorker } of made) {
      expect(mappedInWorker).toBe(true);
      expect(data).toBeInstanceOf(Float64Array);
      expect(mappedReference(data)).toBeDefined(); // mapped here too, from the worker's file
      expect(data).toStrictEqual(expected);
    }
    expect(verify(made.map((m) => m.data))).toEqual({ arrays: 3, bytes: 3 * expected.byteLength });
    const memory = new Memory(path.join(dir, 'second'));
    try {
      let computed = 0;
      const total = memory.cache(function total(data: Float64Array) {
        computed++;
        return sumOf(data);
      }, { name: 'total' });
      for (const { data } of made) expect(await total(data as Float64Array)).toBe(sumOf(expected));
      expect(await total(expected)).toBe(sumOf(expected));
      expect(computed).toBe(1);
    } finally {
      await memory.close();
    }
    const file = path.join(dir, 'made.larder');
    await dump({ data: made[0]!.data }, file);
    expect(await load(file)).toStrictEqual({ data: expected });
    // And back to the workers, as a reference again.
    const half = n >> 1;
    const back = made[1]!.data as Float64Array; // checked above: a real typed array
    const parts = await pool.run([delayed(mapped.inspect)(back, 0, half), delayed(mapped.inspect)(back, half, n)]);
    expect(parts.map((part) => part.mapped)).toEqual([true, true]);
    expect(parts[0]!.sum + parts[1]!.sum).toBe(sumOf(expected));
  });

  it('regression: the worker closes the descriptors it opened for mapped results (was: the caller did, and Node warned "File descriptor N opened in unmanaged mode twice")', async () => {
    // A child process, so that the warnings of its worker thread land in a stderr of their own.
    const { stdout, stderr } = await runScript(fixture('mapped-results-main.ts'), ['8'], { env: { LARDER_TEST_CACHE: path.join(dir, 'results-cache') } });
    expect(stderr).not.toMatch(/unmanaged mode/);
    const { open, results } = JSON.parse(stdout) as { open: number; results: number };
    expect(results).toBe(8);
    expect(open).toBe(0); // every reply's descriptor closed, none left open
  });
});
