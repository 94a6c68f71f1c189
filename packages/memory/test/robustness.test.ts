import { execFile } from 'node:child_process';
import { chmodSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it, onTestFinished } from 'vitest';
// store-fs's own test switch (the same module instance: tests resolve @larder/store-fs to its sources).
import { disableAddonForTests } from '../../store-fs/src/native.js';
import { testMemory } from './helpers.js';

/**
 * How many file descriptors this process has open on files under `folder` (other
 * tests' garbage-collected MappedArrays may close theirs meanwhile: they are not counted).
 */
function openDescriptors(folder: string): number {
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(join('/proc/self/fd', fd)).startsWith(folder)) count++;
    } catch {
      // closed between the listing and the readlink
    }
  }
  return count;
}
const hasProcFd = (() => { try { return readdirSync('/proc/self/fd').length > 0; } catch { return false; } })();

/** The one entry file of function folder `name` in `location`. */
function entryFile(location: string, name: string): string {
  const [file] = readdirSync(join(location, 'results', name), { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && e.name.endsWith('.larder'));
  return join(file!.parentPath, file!.name);
}

describe('robustness', () => {
  for (const [damage, apply] of [
    ['truncated', (file: string) => truncateSync(file, Math.floor(statSync(file).size / 2))],
    ['corrupted (flipped bytes)', (file: string) => {
      const bytes = readFileSync(file);
      for (let i = 100; i < bytes.length; i += 7) bytes[i]! ^= 0xff;
      writeFileSync(file, bytes);
    }],
    ['replaced by junk', (file: string) => writeFileSync(file, 'not a larder file at all')],
    ['empty', (file: string) => writeFileSync(file, '')],
  ] as const) {
    it(`robustness: a ${damage} result file is a miss: one warning, recompute, overwrite`, async () => {
      const { memory, warnings, location } = testMemory();
      let runs = 0;
      const f = memory.cache(function f(n: number) { runs++; return { values: new Float64Array(n).fill(n), label: `n=${n}` }; }, { name: 'f' });
      await f(500);
      apply(entryFile(location, 'f'));
      const value = await f(500);
      expect(value.values).toEqual(new Float64Array(500).fill(500));
      expect(runs).toBe(2);
      expect(warnings.map((w) => w.code)).toEqual(['LARDER_ENTRY_CORRUPT']);
      expect(warnings[0]!.message).toMatch(/^\[larder\/memory\] the cached result f\/[0-9a-f]{16}\/[0-9a-f]{16} of f is corrupt or unreadable; it is treated as a miss, recomputed and overwritten/);
      expect(await f(500)).toEqual(value);
      expect(runs).toBe(2);
    });
  }

  it('robustness: a missing result file is a silent miss', async () => {
    const { memory, warnings, location } = testMemory();
    let runs = 0;
    const f = memory.cache(function f(x: number) { runs++; return x; }, { name: 'f' });
    await f(1);
    unlinkSync(entryFile(location, 'f'));
    expect(await f(1)).toBe(1);
    expect(runs).toBe(2);
    expect(warnings).toEqual([]);
  });

  it('robustness: a file that store-fs reads but is not an entry is a miss with a warning', async () => {
    const { memory, warnings, location } = testMemory();
    const f = memory.cache(function f(x: number) { return x; }, { name: 'f' });
    await f(1);
    const { FolderStore } = await import('@larder/store-fs');
    const [entry] = await memory.list();
    new FolderStore(join(location, 'results')).putSync(entry!.id, [1, 2, 3]);
    expect(await f(1)).toBe(1);
    expect(warnings.map((w) => w.code)).toEqual(['LARDER_ENTRY_CORRUPT']);
  });

  it('robustness: a class instance result is returned, not cached, with one warning', async () => {
    const { memory, warnings } = testMemory();
    class Model { constructor(readonly weights: number[]) {} predict() { return this.weights[0]; } }
    let runs = 0;
    const train = memory.cache(function train(n: number) { runs++; return new Model([n]); }, { name: 'train' });
    const a = await train(1);
    const b = await train(1);
    expect(a).toBeInstanceOf(Model);
    expect(b.predict()).toBe(1);
    expect(runs).toBe(2);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.code).toBe('LARDER_NOT_STORED');
    expect(warnings[0]!.message).toMatch(/the result of train cannot be stored .*returned without caching/);
    expect(await train.isCached(1)).toBe(false);
    const shelved = await train.callAndShelve(1);
    expect(shelved.info.stored).toBe(false);
    expect((await shelved.get()).predict()).toBe(1);
  });

  it('robustness: a read-only location returns results with one warning', async () => {
    if (process.getuid?.() === 0) {
      // root ignores permission bits; a file where the results folder should be makes every write fail for real.
      // (Made after larder marked the location: an unmarked folder holding a stray `results` file is refused outright.)
      const { memory, warnings, location } = testMemory();
      const f = memory.cache(function f(x: number) { return x * 3; }, { name: 'f' });
      expect(await f.isCached(2)).toBe(false);
      await f.clear(); // clearing adopts (and marks) the empty folder
      writeFileSync(join(location, 'results'), 'in the way');
      expect(await f(2)).toBe(6);
      expect(await f(2)).toBe(6);
      expect(warnings.map((w) => w.code)).toEqual(['LARDER_NOT_STORED']);
      expect(warnings[0]!.message).toMatch(/could not be written \(disk full, read-only location or permissions\?\)/);
      return;
    }
    const { memory, warnings, location } = testMemory();
    chmodSync(location, 0o500);
    try {
      const f = memory.cache(function f(x: number) { return x * 3; }, { name: 'f' });
      expect(await f(2)).toBe(6);
      expect(warnings.some((w) => w.code === 'LARDER_NOT_STORED')).toBe(true);
    } finally {
      chmodSync(location, 0o700);
    }
  });

  it('robustness: a corrupt index database is rebuilt with a warning, results stay', async () => {
    const first = testMemory();
    const f = first.memory.cache(function f(x: number) { return x + 1; }, { name: 'f' });
    await f(1);
    await first.memory.close();
    for (const suffix of ['', '-wal', '-shm']) {
      try { writeFileSync(join(first.location, `index.sqlite${suffix}`), Buffer.alloc(4096, 0x42)); } catch { /* absent */ }
    }
    const second = testMemory({}, first.location);
    let runs = 0;
    const g = second.memory.cache(function f(x: number) { runs++; return x + 1; }, { name: 'f' });
    expect(await g(1)).toBe(2);
    expect(runs).toBe(1); // a different body: recomputed (the next test checks hits through a corrupt index)
    const stats = await second.memory.stats();
    expect(stats.entries).toBe(2); // each body keeps its entry
    expect(second.warnings.map((w) => w.code)).toEqual(['LARDER_INDEX']);
    expect(readdirSync(first.location).some((name) => name.startsWith('index.sqlite.corrupt-'))).toBe(true);
  });

  it('robustness: hits on an entry survive a corrupt index (the index is only hints)', async () => {
    const first = testMemory();
    const body = (x: number) => x * 5;
    await first.memory.cache(body, { name: 'h' })(3);
    await first.memory.close();
    writeFileSync(join(first.location, 'index.sqlite'), Buffer.alloc(4096, 0x42));
    const second = testMemory({}, first.location);
    let runs = 0;
    const h = second.memory.cache(body, { name: 'h', validate: () => { runs++; return true; } });
    expect(await h(3)).toBe(15);
    expect(runs).toBe(1); // validate ran: it was a hit
    expect((await second.memory.stats()).hits).toBe(1);
  });

  it.runIf(hasProcFd)('robustness: regression: isCached on a mapped entry leaves no file descriptor open', async () => {
    const { memory, location } = testMemory({ flushIntervalMs: Infinity });
    const big = memory.cache(function big(n: number) { return { data: new Float64Array(n).fill(1) }; }, { name: 'big', mmap: 'r' });
    const held = await big(1 << 16); // a mapped result handed to the caller keeps its descriptor, by design
    const before = openDescriptors(location);
    for (let i = 0; i < 50; i++) expect(await big.isCached(1 << 16)).toBe(true);
    expect(openDescriptors(location)).toBe(before);
    expect(held.data.length).toBe(1 << 16);
  });

  // With store-fs's addon a mapped value holds no descriptor at all; without it (MappedArrays), one per value held.
  it.runIf(hasProcFd).each([
    ['real memory maps', false, 0],
    ['MappedArrays (store-fs addon disabled)', true, 10],
  ])('robustness: regression: mapped entries rejected by validate or expiresAfter leave no file descriptor open (%s)', async (_how, withoutAddon, heldDescriptors) => {
    disableAddonForTests(withoutAddon);
    onTestFinished(() => disableAddonForTests(false));
    const { memory, location } = testMemory({ flushIntervalMs: Infinity });
    let valid = true;
    const big = memory.cache(function big(n: number) { return { data: new Float64Array(n).fill(1) }; }, { name: 'big', mmap: 'r', validate: () => valid });
    const old = memory.cache(function old(n: number) { return new Float64Array(n).fill(2); }, { name: 'old', mmap: 'r', expiresAfter: 1 });
    const held: unknown[] = [await big(1 << 16), await old(1 << 16)];
    valid = false;
    await new Promise((resolve) => setTimeout(resolve, 5));
    const before = openDescriptors(location);
    // Each call reads the entry, rejects it, recomputes and returns the fresh mapped value.
    for (let i = 0; i < 5; i++) held.push(await big(1 << 16));
    for (let i = 0; i < 5; i++) {
      held.push(await old(1 << 16));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    expect(openDescriptors(location) - before).toBe(heldDescriptors);
  });

  it.runIf(hasProcFd)('robustness: regression: reconcile reading entry headers leaves no file descriptor open', async () => {
    const { memory, location } = testMemory({ flushIntervalMs: Infinity });
    const big = memory.cache(function big(n: number) { return { data: new Float64Array(n).fill(n) }; }, { name: 'big' });
    for (let i = 0; i < 5; i++) await big((1 << 16) + i);
    await memory.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(join(location, `index.sqlite${suffix}`), { force: true });
    const before = openDescriptors(location);
    expect(await memory.reconcile()).toMatchObject({ added: 5 });
    await memory.close();
    expect(openDescriptors(location)).toBe(before);
  });

  it('robustness: regression: isCached and reconcile on a mapped entry nested 50,000 arrays deep close it without overflowing the stack', async () => {
    const { memory, warnings, location } = testMemory({ flushIntervalMs: Infinity });
    // 128 KiB: above store-fs's mmapThreshold (64 KiB), so a mapped read maps the file for the array at the bottom.
    const deep = memory.cache(function deep(depth: number) {
      let value: unknown = new Float64Array(1 << 14).fill(depth);
      for (let i = 0; i < depth; i++) value = [value];
      return value;
    }, { name: 'deep' });
    await deep(50_000);
    const before = hasProcFd ? openDescriptors(location) : 0;
    expect(await deep.isCached(50_000)).toBe(true);
    if (hasProcFd) expect(openDescriptors(location)).toBe(before);
    // Without its index record, reconcile reads the entry's header mapped and closes it again.
    await memory.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(join(location, `index.sqlite${suffix}`), { force: true });
    expect(await memory.reconcile()).toEqual({ added: 1, removed: 0 });
    await memory.close();
    if (hasProcFd) expect(openDescriptors(location)).toBe(before);
    expect((await memory.list()).map((entry) => entry.functionName)).toEqual(['deep']);
    expect(warnings).toEqual([]);
  });

  it.runIf(hasProcFd)('robustness: regression: an entry that cannot be opened (EMFILE) is computed without calling it corrupt or overwriting it, and hits again once descriptors are free', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/out-of-descriptors.ts', import.meta.url));
    const root = fileURLToPath(new URL('../../..', import.meta.url));
    const { location } = testMemory();
    const { stdout } = await promisify(execFile)('/bin/sh', ['-c', 'ulimit -n 256 && exec "$0" "$@"', process.execPath, '--conditions=larder-source', '--import', 'tsx', fixture, location], { cwd: root, timeout: 60_000 });
    const result = JSON.parse(stdout.trim()) as { filled: number; starvedRight: boolean; untouched: boolean; hitAfterwards: boolean; warnings: { code: string; message: string }[] };
    expect(result.filled).toBeGreaterThan(0);
    expect(result.starvedRight).toBe(true);
    expect(result.untouched).toBe(true);
    expect(result.hitAfterwards).toBe(true);
    const codes = result.warnings.map((w) => w.code);
    expect(codes).toContain('LARDER_ENTRY_UNREADABLE');
    expect(codes).not.toContain('LARDER_ENTRY_CORRUPT');
    expect(codes).not.toContain('LARDER_NOT_STORED');
    expect(result.warnings.find((w) => w.code === 'LARDER_ENTRY_UNREADABLE')!.message).toMatch(/could not be read \(EMFILE\).*left as it is/);
  }, 60_000);
});
