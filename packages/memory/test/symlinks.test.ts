/**
 * Symlinks inside a cache: larder never deletes, writes or renames through a
 * symlink out of its location, whoever put it there. The location itself may
 * be a symlink the user made: that is the location.
 */
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Memory, type MemoryWarning } from '@larder/memory';
import { larder, snapshot, tempDir } from './helpers.js';

/** A folder outside the cache (the user's ~/data), with files shaped like larder's to tempt a walker that follows links. */
function userData(): string {
  const data = tempDir();
  mkdirSync(join(data, '0123456789abcdef'));
  writeFileSync(join(data, '0123456789abcdef', 'fedcba9876543210.larder'), 'precious, shaped like an entry');
  writeFileSync(join(data, '0123456789abcdef', 'thesis.pdf'), 'precious');
  writeFileSync(join(data, 'measurements.csv'), '1,2,3\n');
  writeFileSync(join(data, 'old.larder-tmp'), 'precious, shaped like a temp file');
  return data;
}

/** A marked cache holding one entry of `other`. */
async function markedCache(): Promise<string> {
  const location = tempDir();
  const memory = new Memory(location);
  await memory.cache(function other(x: number) { return x; }, { name: 'other' })(1);
  await memory.close();
  return location;
}

/** The key of `fn(...args)` under `name` (the same in every location), computed in a scratch cache. */
async function keyOf(name: string, fn: (x: number) => unknown, arg: number): Promise<string[]> {
  const memory = new Memory(tempDir());
  const { info } = await memory.cache(fn, { name }).call(arg);
  await memory.close();
  return info.id.split('/');
}

function collect() {
  const warnings: MemoryWarning[] = [];
  return { warnings, onWarning: (w: MemoryWarning) => void warnings.push(w) };
}

describe('symlinks', () => {
  it('symlinks: results/fnA -> ~/data: the first call of fnA, fnA.clear(), larder clear --function, reduceSize, prune and clear never delete or write there', async () => {
    const location = await markedCache();
    const data = userData();
    symlinkSync(data, join(location, 'results', 'fnA'));
    const before = snapshot(data);
    const { warnings, onWarning } = collect();
    const memory = new Memory(location, { onWarning });
    const fnA = memory.cache(function fnA(x: number) { return x + 1; }, { name: 'fnA' });
    expect(await fnA(1)).toBe(2);
    expect(await fnA(1)).toBe(2);
    expect(warnings.map((w) => w.code)).toEqual(['LARDER_NOT_STORED']);
    expect(warnings[0]!.message).toMatch(/is a symbolic link; a folder store writes only into real folders under its root/);
    expect(snapshot(data)).toEqual(before);
    await fnA.clear();
    expect(snapshot(data)).toEqual(before);
    expect(larder('clear', location, '--function', 'fnA').code).toBe(0);
    expect(snapshot(data)).toEqual(before);
    expect(await memory.reduceSize({ itemsLimit: 0 })).toEqual({ removed: 1, freedBytes: expect.any(Number) }); // only `other`'s entry
    expect(snapshot(data)).toEqual(before);
    expect(larder('prune', location, '--items-limit', '0').code).toBe(0);
    expect(larder('clear', location).code).toBe(0);
    await memory.clear();
    await memory.close();
    expect(snapshot(data)).toEqual(before);
    // The link itself is not larder's to delete either.
    expect(readdirSync(join(location, 'results'))).toEqual(['fnA']);
  }, 180_000);

  it('symlinks: a store never writes through a symlinked body folder, and clearing never deletes through one', async () => {
    const location = await markedCache();
    const body = function fnB(x: number) { return { x }; };
    const [folder, id] = await keyOf('fnB', body, 1);
    const data = userData();
    mkdirSync(join(location, 'results', folder!));
    symlinkSync(data, join(location, 'results', folder!, id!));
    const before = snapshot(data);
    const { warnings, onWarning } = collect();
    const memory = new Memory(location, { onWarning });
    const fnB = memory.cache(body, { name: 'fnB' });
    expect(await fnB(1)).toEqual({ x: 1 });
    expect((await fnB.call(2)).info.stored).toBe(false);
    expect(await (await fnB.callAndShelve(3)).get()).toEqual({ x: 3 });
    expect(warnings.map((w) => w.code)).toEqual(['LARDER_NOT_STORED']);
    await fnB.clear();
    await memory.clearFunction('fnB');
    await memory.clear();
    await memory.close();
    expect(snapshot(data)).toEqual(before);
  });

  it('symlinks: an index.sqlite that is a symlink is never written through; the cache works with an in-memory index', async () => {
    const location = tempDir();
    const data = userData();
    const target = join(data, 'not-yet.sqlite');
    symlinkSync(target, join(location, 'index.sqlite'));
    symlinkSync(join(data, 'measurements.csv'), join(location, 'index.sqlite-wal'));
    const before = snapshot(data);
    const { warnings, onWarning } = collect();
    const memory = new Memory(location, { onWarning });
    let runs = 0;
    const f = memory.cache(function f(x: number) { runs++; return x * 2; }, { name: 'f' });
    // A folder holding nothing but a symlinked index is not larder's: refused, nothing written.
    expect(await f(1)).toBe(2);
    expect(warnings.map((w) => w.code)).toEqual(['LARDER_NOT_A_CACHE']);
    await memory.close();
    // In a marked cache, a symlinked index is bypassed.
    const marked = await markedCache();
    for (const name of readdirSync(marked)) if (name.startsWith('index.sqlite')) rmSync(join(marked, name));
    symlinkSync(target, join(marked, 'index.sqlite'));
    const second = collect();
    const inMarked = new Memory(marked, { onWarning: second.onWarning });
    const g = inMarked.cache(function f(x: number) { runs++; return x * 2; }, { name: 'f' });
    expect(await g(1)).toBe(2);
    expect(await g(1)).toBe(2);
    expect((await inMarked.stats()).entries).toBe(2);
    await inMarked.reduceSize({ itemsLimit: 0 });
    await inMarked.close();
    expect(second.warnings.map((w) => w.code)).toEqual(['LARDER_INDEX']);
    expect(second.warnings[0]!.message).toMatch(/is a symbolic link; larder does not write through it/);
    expect(existsSync(target)).toBe(false);
    expect(snapshot(data)).toEqual(before);
    expect(runs).toBe(2);
  });

  it('hard links: an index.sqlite, -wal or -shm hard-linked to a file outside is never written through; the cache works with an in-memory index', async () => {
    for (const suffix of ['-wal', '-shm', '']) {
      const location = await markedCache();
      for (const name of readdirSync(location)) if (name.startsWith('index.sqlite-')) rmSync(join(location, name));
      const data = userData();
      // The user's file: SQLite writes a -wal and -shm in place (and a database's pages), so a link's other name would change.
      const precious = join(data, 'measurements.csv');
      writeFileSync(precious, '1,2,3\n'.repeat(5000));
      if (suffix === '') rmSync(join(location, 'index.sqlite'));
      linkSync(precious, join(location, `index.sqlite${suffix}`));
      const before = snapshot(data);
      const { warnings, onWarning } = collect();
      const memory = new Memory(location, { onWarning });
      const f = memory.cache(function f(x: number) { return x * 2; }, { name: 'f' });
      for (let i = 0; i < 20; i++) expect(await f(i)).toBe(i * 2);
      expect(await f(3)).toBe(6);
      await memory.stats();
      await memory.close();
      expect(snapshot(data)).toEqual(before);
      expect(warnings.map((w) => w.code)).toEqual(['LARDER_INDEX']);
      expect(warnings[0]!.message).toContain(`index.sqlite${suffix} has 2 hard links`);
    }
  });

  it('symlinks: a lease file that is a symlink is taken over without touching what it points to', async () => {
    const location = await markedCache();
    const body = async function slow(x: number) { await sleep(10); return x + 1; };
    const [folder, id, args] = await keyOf('slow', body, 1);
    const data = userData();
    mkdirSync(join(location, 'results', folder!, id!), { recursive: true });
    symlinkSync(join(data, 'measurements.csv'), join(location, 'results', folder!, id!, `${args}.larder.lease`));
    const before = snapshot(data);
    const memory = new Memory(location, { leaseMs: 60_000 });
    expect(await memory.cache(body, { name: 'slow' })(1)).toBe(2); // waits out the 2 s debris grace, then takes over
    await memory.close();
    expect(snapshot(data)).toEqual(before);
    expect(readFileSync(join(data, 'measurements.csv'), 'utf8')).toBe('1,2,3\n');
  });

  it('symlinks: a location that is itself a symlink the user made is the location: stores, hits, marks and clears there', async () => {
    const real = join(tempDir(), 'scratch-cache');
    const link = join(tempDir(), '.cache');
    mkdirSync(real);
    symlinkSync(real, link);
    const { warnings, onWarning } = collect();
    const memory = new Memory(link, { onWarning });
    let runs = 0;
    const f = memory.cache(function f(x: number) { runs++; return x * 3; }, { name: 'f' });
    expect(await f(2)).toBe(6);
    expect(await f(2)).toBe(6);
    expect(runs).toBe(1);
    expect(existsSync(join(real, 'larder-cache.json'))).toBe(true);
    expect((await memory.stats()).entries).toBe(1);
    await memory.clear();
    expect((await memory.stats()).entries).toBe(0);
    await memory.close();
    expect(warnings).toEqual([]);
    expect(larder('stats', link).code).toBe(0);
  }, 180_000);
});
