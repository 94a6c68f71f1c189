/**
 * memmap — joblib's "dump, then load with mmap_mode='r'" example: a
 * 1 000 000-element array of ones is dumped, loaded as a Float64Array over a
 * copy-on-write memory map of the file (a MappedArray where the platform has
 * no prebuilt addon), then loaded into shared memory and handed to worker
 * threads without a copy.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Parallel, delayed } from '@larder/parallel';
import { dump, load, MappedArray } from '@larder/store-fs';
import { arrays } from './tasks/arrays.js';

const folder = await mkdtemp(path.join(os.tmpdir(), 'larder-memmap-'));
try {
  const file = path.join(folder, 'ones.larder');
  const ones = new Float64Array(1_000_000).fill(1);
  const info = await dump(ones, file);
  console.log(`dumped a Float64Array of ${ones.length} ones: ${info.bytes} bytes on disk (header, manifest, one aligned segment)`);

  const mapped = await load<Float64Array>(file, { mmap: 'r' });
  console.log(`\nload(file, { mmap: 'r' }) → ${Object.prototype.toString.call(mapped)} (only the header and manifest read so far)`);
  console.log(`  byteLength ${mapped.byteLength} bytes, length ${mapped.length} elements, first ${mapped.at(0)}, last ${mapped.at(-1)}`);
  const array = mapped instanceof MappedArray ? mapped.toArray() : mapped;
  console.log(`  ${array.length === ones.length && array.every((value, i) => value === ones[i]) ? 'equal' : 'NOT EQUAL'} to the original`);
  array[0] = 5; // copy-on-write: this process's page changes, the file does not
  const again = await load(file);
  console.log(`  after writing 5 to element 0 of the mapped array, the file still holds ${(again as Float64Array)[0]}`);

  const shared = await load<Float64Array>(file, { shared: true });
  console.log(`\nload(file, { shared: true }) → a Float64Array on a ${shared.buffer.constructor.name}`);
  await using pool = new Parallel({ nJobs: 2 });
  const half = shared.length >> 1;
  const parts = await pool.run([delayed(arrays.sumRange)(shared, 0, half), delayed(arrays.sumRange)(shared, half, shared.length)]);
  const total = parts.reduce((sum, part) => sum + part.sum, 0);
  console.log(`  two workers summed one half each: ${parts.map((part) => part.sum).join(' + ')} = ${total}`);
  console.log(`  the workers saw ${parts.every((part) => part.shared) ? 'the same SharedArrayBuffer (no copy)' : 'a COPY, not shared memory'}`);
} finally {
  await rm(folder, { recursive: true, force: true });
}
