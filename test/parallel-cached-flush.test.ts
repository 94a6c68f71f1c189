/**
 * Regression: a worker's index write already under way when the pool closed
 * was not waited for (the teardown hook only flushed pending records), so
 * terminate() cut it and the counts were lost.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { Memory } from '@larder/memory';
import { Parallel } from '@larder/parallel';

let root: string;
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

it('parallel + cache: counts whose index write is under way when the pool closes still reach the index', async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'larder-parallel-flush-'));
  process.env.LARDER_TEST_CACHE = path.join(root, 'cache');
  process.env.LARDER_TEST_COUNTER = path.join(root, 'counter');
  process.env.LARDER_TEST_FLUSH_MS = '0';
  await mkdir(process.env.LARDER_TEST_COUNTER, { recursive: true });
  const { cachedSquare } = await import('./fixtures/cached-tasks.js');
  const inputs = [1, 2, 3, 4, 5, 6, 7, 8];
  for (let round = 0; round < 3; round++) {
    const pool = new Parallel({ nJobs: 2, batchSize: 1 });
    await pool.map(cachedSquare, inputs);
    await pool.close();
  }
  await using memory = new Memory(process.env.LARDER_TEST_CACHE);
  const { hits, misses } = await memory.stats();
  expect({ hits, misses }).toEqual({ hits: 16, misses: 8 });
});
