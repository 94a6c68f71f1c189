/**
 * A marked cache whose `results` folder was replaced by a symlink to a folder
 * elsewhere (the user's data, another cache): larder's entry store would
 * write and delete through it. Every entry point refuses the location
 * (LARDER_NOT_A_CACHE); a cached call still returns its value; nothing in
 * the folder the link points to is written or deleted.
 */
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Memory, type MemoryWarning } from '@larder/memory';
import { larder, snapshot, tempDir } from './helpers.js';

/** A folder outside the cache, with a function folder shaped like larder's to tempt the store. */
function userData(): string {
  const data = tempDir();
  mkdirSync(join(data, 'inc', '0123456789abcdef'), { recursive: true });
  writeFileSync(join(data, 'inc', '0123456789abcdef', 'fedcba9876543210.larder'), 'precious, shaped like an entry');
  writeFileSync(join(data, 'measurements.csv'), '1,2,3\n');
  return data;
}

function inc(n: number): number {
  return n + 1;
}

async function cacheWithLinkedResults(data: string): Promise<string> {
  const location = tempDir();
  const memory = new Memory(location);
  await memory.cache(inc)(1);
  await memory.close();
  rmSync(join(location, 'results'), { recursive: true });
  symlinkSync(data, join(location, 'results'));
  return location;
}

describe('results/ is a symlink', () => {
  it('calls return their value and write nothing there; clear, reduceSize and clearFunction refuse and delete nothing', async () => {
    const data = userData();
    const before = snapshot(data);
    const location = await cacheWithLinkedResults(data);
    const warnings: MemoryWarning[] = [];
    const memory = new Memory(location, { onWarning: (w) => void warnings.push(w) });
    expect(await memory.cache(inc)(1)).toBe(2);
    expect(await memory.cache(inc)(5)).toBe(6);
    expect(warnings.map((w) => w.code)).toContain('LARDER_NOT_A_CACHE');
    await expect(memory.clear()).rejects.toMatchObject({ code: 'LARDER_NOT_A_CACHE' });
    await expect(memory.reduceSize({ itemsLimit: 0 })).rejects.toMatchObject({ code: 'LARDER_NOT_A_CACHE' });
    await expect(memory.clearFunction('inc')).rejects.toMatchObject({ code: 'LARDER_NOT_A_CACHE' });
    await memory.close();
    expect(snapshot(data)).toEqual(before);
  });

  it('larder clear on it exits non-zero and deletes nothing there', async () => {
    const data = userData();
    const before = snapshot(data);
    const location = await cacheWithLinkedResults(data);
    const run = larder('clear', location);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/not a larder cache.*symlink/);
    expect(snapshot(data)).toEqual(before);
  });
});
