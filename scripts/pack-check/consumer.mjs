// Uses the installed tarballs from plain Node, as a pipeline would.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump, load, loadSync, MappedArray } from '@larder/store-fs';
import { Memory, hash } from '@larder/memory';
import { parallel } from '@larder/parallel';
import { work } from './tasks.mjs';

const dir = mkdtempSync(join(tmpdir(), 'larder-consumer-'));
try {
  const value = { name: 'run', signal: Float64Array.from({ length: 100_000 }, (_, i) => i / 7) };
  await dump(value, join(dir, 'value.larder'));
  assert.deepEqual(await load(join(dir, 'value.larder')), value);
  assert.deepEqual(loadSync(join(dir, 'value.larder')), value);
  const mapped = await load(join(dir, 'value.larder'), { mmap: 'r' });
  // The prebuilt addon maps the file on linux-x64; elsewhere the fallback is a MappedArray.
  assert.ok(process.platform === 'linux' && process.arch === 'x64' ? mapped.signal instanceof Float64Array : mapped.signal instanceof MappedArray);
  assert.equal(mapped.signal.at(-1), 99_999 / 7);

  assert.match(hash([1, 2, 3]), /^[0-9a-f]{16,}$/);
  const memory = new Memory(join(dir, 'cache'));
  let computed = 0;
  const slowSquare = memory.cache(function slowSquare(x) {
    computed += 1;
    return x * x;
  });
  assert.equal(await slowSquare(12), 144);
  assert.equal(await slowSquare(12), 144);
  assert.equal(computed, 1);
  await memory.close();
  const stats = JSON.parse(execFileSync('npx', ['larder', 'stats', join(dir, 'cache'), '--json'], { encoding: 'utf8' }));
  assert.equal(stats.entries, 1);

  assert.deepEqual(await parallel(work.square, [0, 1, 2, 3, 4], { nJobs: 2 }), [0, 1, 4, 9, 16]);
  console.log('consumer.mjs: store-fs, memory, the larder CLI and parallel work from plain Node');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
