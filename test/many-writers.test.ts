/**
 * Many writers (issue 6): 8 processes, each with its main thread and 2 worker
 * threads, share one location at once: hits, misses, `clear()` of one
 * function and `reduceSize()` running meanwhile. 0 errors, 0 wrong values,
 * and afterwards the index agrees with the files.
 *
 * "Agrees" means, after one `reconcile()` (which repairs the records a
 * concurrent clear/reduceSize can leave apart; it reports how many):
 * - the entry records in the index are exactly the result files (same keys);
 * - `stats()` counts exactly those files and their bytes, and hits + misses
 *   equal the cached calls every thread made (the counters of 24 threads
 *   added up through SQLite transactions, none lost or doubled);
 * - every file holds the right value for its key; no temp or lease file is left.
 *
 * The full 8 × 1000 calls take about 6 s on the shared 2-core machine, so CI
 * runs them all; LARDER_MANY_WRITERS_CALLS changes the count.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { FolderStore, loadSync } from '@larder/store-fs';
import { Memory } from '@larder/memory';
import { fixture, runScript, tempFolders } from './fixtures/run-child.js';
import { labelOf, squareOf, type Tally } from './fixtures/many-writers-tasks.js';

const folders = tempFolders('larder-many-');
afterAll(() => folders.cleanup());
const callsPerProcess = Number(process.env.LARDER_MANY_WRITERS_CALLS ?? 1000);

it(`many writers: 8 processes × 3 threads, ${callsPerProcess} mixed calls each, with clear() and reduceSize() meanwhile: no errors, no wrong values, index agrees with files`, async () => {
  const location = folders.make();
  const outputs = await Promise.all(
    Array.from({ length: 8 }, (_, i) => runScript(fixture('many-writers-child.ts'), [String(i), String(callsPerProcess)], { env: { LARDER_TEST_CACHE: location }, timeoutMs: 170_000 })),
  );
  const tallies = outputs.flatMap((o) => (JSON.parse(o.stdout.trim()) as { tallies: Tally[] }).tallies);
  expect(outputs.map((o) => o.stderr).filter((s) => s !== '')).toEqual([]);
  expect(tallies).toHaveLength(24);
  expect(tallies.flatMap((t) => t.errors)).toEqual([]);
  expect(tallies.reduce((sum, t) => sum + t.wrong, 0)).toBe(0);
  expect(tallies.reduce((sum, t) => sum + t.clears, 0)).toBeGreaterThan(0);
  expect(tallies.reduce((sum, t) => sum + t.reductions, 0)).toBeGreaterThan(0);
  const warnings = tallies.flatMap((t) => t.warnings);
  // The only warning a concurrent clear() may cause: a result whose folder vanished under its write.
  expect(warnings.filter((w) => !w.startsWith('LARDER_NOT_STORED'))).toEqual([]);

  const memory = new Memory(location);
  const repaired = await memory.reconcile();
  console.log(`many writers: ${tallies.reduce((s, t) => s + t.calls, 0)} cached calls, ${tallies.reduce((s, t) => s + t.computed, 0)} computed, ${warnings.length} warnings; reconcile ${JSON.stringify(repaired)}`);
  const entries = await memory.list();
  const stats = await memory.stats();
  await memory.close();
  // list() reads the index: after reconcile it names exactly the entry files on disk.
  const onDisk: string[] = [];
  for await (const { key } of new FolderStore(join(location, 'results')).list('')) onDisk.push(key);
  expect(onDisk.sort()).toEqual(entries.map((e) => e.id).sort());
  expect(stats.entries).toBe(entries.length);
  expect(stats.bytes).toBe(entries.reduce((sum, e) => sum + e.bytes, 0));
  expect(stats.hits + stats.misses).toBe(tallies.reduce((sum, t) => sum + t.calls, 0));
  for (const entry of entries) {
    const stored = loadSync<{ name: string; value: { i: number } }>(new FolderStore(join(location, 'results')).pathOf(entry.id));
    const expected = stored.name === 'square' ? squareOf(stored.value.i) : labelOf(stored.value.i);
    expect(stored.value).toEqual(expected);
  }
  const leftovers = readdirSync(location, { recursive: true }).map(String).filter((f) => f.endsWith('.larder-tmp') || f.includes('.lease'));
  expect(leftovers).toEqual([]);
}, 180_000);
