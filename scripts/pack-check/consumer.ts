// Typechecked against the published .d.ts files, then run from dist/.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dumpSync, loadSync, FormatError } from '@larder/store-fs';
import { Memory } from '@larder/memory';
import { Parallel } from '@larder/parallel';
import { work } from './tasks-ts.js';

const dir = mkdtempSync(join(tmpdir(), 'larder-consumer-ts-'));
try {
  dumpSync({ weights: new Float32Array([1, 2, 3]) }, join(dir, 'w.larder'));
  const loaded = loadSync<{ weights: Float32Array }>(join(dir, 'w.larder'));
  assert.deepEqual(Array.from(loaded.weights), [1, 2, 3]);
  assert.equal(new FormatError('x').code, 'LARDER_FORMAT');

  const memory = new Memory(join(dir, 'cache'));
  const add = memory.cache(async function add(a: number, b: number): Promise<number> {
    return a + b;
  });
  const sum: number = await add(2, 3);
  assert.equal(sum, 5);
  assert.equal(await add.isCached(2, 3), true);
  await memory.close();

  const pool = new Parallel({ nJobs: 2 });
  try {
    const cubes: number[] = await pool.map(work.cube, [1, 2, 3]);
    assert.deepEqual(cubes, [1, 8, 27]);
  } finally {
    await pool.close();
  }
  console.log('consumer.ts: the published types check and the compiled program runs');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
