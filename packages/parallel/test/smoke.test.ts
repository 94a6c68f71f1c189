import { describe, expect, it } from 'vitest';
import { Parallel } from '@larder/parallel';
import { t } from './fixtures/math-tasks.js';
import { double } from './fixtures/plain-tasks.mjs';

describe('smoke', () => {
  it('runs', async () => {
    await using pool = new Parallel({ nJobs: 2 });
    expect(await pool.map(t.square, [0, 1, 2, 3, 4])).toEqual([0, 1, 4, 9, 16]);
    expect(await pool.map(double, [1, 2])).toEqual([2, 4]);
  });
});
