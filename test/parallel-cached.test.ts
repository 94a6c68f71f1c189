/**
 * Cached functions compose with Parallel: tasks(import.meta.url, { f: memory.cache(f) })
 * runs the cache inside each worker thread, all workers sharing one location.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Memory } from '@larder/memory';
import { Parallel } from '@larder/parallel';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'larder-parallel-cached-'));
  process.env.LARDER_TEST_CACHE = path.join(root, 'cache');
  process.env.LARDER_TEST_COUNTER = path.join(root, 'counter');
  await import('node:fs/promises').then((fs) => fs.mkdir(process.env.LARDER_TEST_COUNTER!, { recursive: true }));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

it('parallel + cache: the second run over the same inputs computes nothing', async () => {
  // Imported after the environment is set: the module opens its Memory at import.
  const { cachedSquare } = await import('./fixtures/cached-tasks.js');
  const inputs = [1, 2, 3, 4, 5, 6, 7, 8];
  const expected = inputs.map((x) => Float64Array.from({ length: 1000 }, (_, i) => x * x + i));

  await using first = new Parallel({ nJobs: 2, batchSize: 1 });
  expect(await first.map(cachedSquare, inputs)).toEqual(expected);
  const afterFirst = await readdir(process.env.LARDER_TEST_COUNTER!);
  expect(afterFirst).toHaveLength(inputs.length);
  expect(afterFirst.every((name) => !name.includes('-thread-0-'))).toBe(true); // computed in workers, not here
  await first.close();

  await using second = new Parallel({ nJobs: 2, batchSize: 1 });
  expect(await second.map(cachedSquare, inputs)).toEqual(expected);
  expect(await readdir(process.env.LARDER_TEST_COUNTER!)).toHaveLength(inputs.length);
  await second.close();

  // Regression: counts recorded inside workers were lost when close() terminated them.
  await using memory = new Memory(process.env.LARDER_TEST_CACHE);
  const stats = await memory.stats();
  expect({ entries: stats.entries, hits: stats.hits, misses: stats.misses }).toEqual({ entries: 8, hits: 8, misses: 8 });
});

