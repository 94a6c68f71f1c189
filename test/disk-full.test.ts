/**
 * Disk full and read-only locations (issue 6), caused for real: as root the
 * test mounts a 1 MiB tmpfs, fills it, and remounts it read-only. A call whose
 * result cannot be written still returns its value with one warning; the
 * files and the index stay consistent, no temp file is left, and once space
 * (or write access) is back the next call caches normally.
 *
 * Without root or mount(8) those tests are skipped (the reason is printed)
 * and a fallback runs: the write fails for real because a plain file sits
 * where the function's folder should be (ENOTDIR), which exercises the same
 * path without a mount.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Memory, type MemoryWarning } from '@larder/memory';

const mounts: string[] = [];
afterAll(() => {
  for (const dir of mounts) {
    try { execFileSync('umount', ['-l', dir], { stdio: 'pipe' }); } catch { /* not a mount point (the fallback's folder) */ }
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Mounts a fresh tmpfs of `size`; the reason it cannot, when it cannot. */
function mountTmpfs(size: string): { dir: string } | { reason: string } {
  if (process.getuid?.() !== 0) return { reason: 'not running as root' };
  const dir = mkdtempSync(join(tmpdir(), 'larder-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    return { reason: `mount -t tmpfs failed: ${String((error as { stderr?: unknown }).stderr ?? error).trim()}` };
  }
  mounts.push(dir);
  return { dir };
}

const probe = mountTmpfs('64k');
const canMount = 'dir' in probe;
if (!canMount) console.log(`disk-full: skipping the tmpfs tests: ${probe.reason}`);

function setup(location: string) {
  const warnings: MemoryWarning[] = [];
  const memory = new Memory(location, { onWarning: (w) => void warnings.push(w), flushIntervalMs: Infinity });
  let computed = 0;
  // An explicit name: esbuild (vitest's transform) renames the inner function, and the folder follows the name.
  const series = memory.cache(function series(n: number) { computed++; return Float64Array.from({ length: n }, (_, i) => i * 0.5); }, { name: 'series' });
  return { memory, warnings, series, computed: () => computed };
}

const leftovers = (dir: string) => readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.larder-tmp') || f.includes('.lease'));
const expected = (n: number) => Float64Array.from({ length: n }, (_, i) => i * 0.5);

/** Fills the file system of `dir` until ENOSPC; returns the filler's path. */
function fill(dir: string): string {
  const filler = join(dir, 'filler');
  const fd = openSync(filler, 'w');
  const chunk = Buffer.alloc(16 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
  return filler;
}

describe('disk full and read-only', () => {
  it.skipIf(!canMount)('disk full (a full 1 MiB tmpfs): the value is returned with one warning, nothing half-written is left, and the next call with space caches', async () => {
    const mount = mountTmpfs('1m');
    if (!('dir' in mount)) throw new Error(mount.reason);
    const location = join(mount.dir, 'cache');
    const { memory, warnings, series, computed } = setup(location);
    expect(await series(10)).toEqual(expected(10));
    await memory.stats(); // the index database exists before the disk fills
    const filler = fill(mount.dir);

    expect(await series(20_000)).toEqual(expected(20_000)); // 160 KB: cannot be written
    expect(warnings.map((w) => w.code)).toEqual(['LARDER_NOT_STORED']);
    expect(warnings[0]!.message).toMatch(/^\[larder\/memory\] the result of series could not be written .*ENOSPC/);
    expect(await series.isCached(20_000)).toBe(false);
    expect(leftovers(mount.dir)).toEqual([]);
    expect(await series(10)).toEqual(expected(10)); // earlier entries still hit
    expect(computed()).toBe(2);
    const full = await memory.stats();
    expect(full.entries).toBe(1);
    // The index cannot write its counters on a full disk either: at most one index warning, and the counters wait.
    expect(warnings.slice(1).map((w) => w.code).filter((code) => code !== 'LARDER_INDEX')).toEqual([]);
    expect((await memory.list()).map((e) => e.functionName)).toEqual(['series']);
    const afterFull = warnings.length;

    rmSync(filler);
    expect(await series(20_000)).toEqual(expected(20_000));
    expect(computed()).toBe(3);
    expect(await series.isCached(20_000)).toBe(true);
    expect(await series(20_000)).toEqual(expected(20_000));
    expect(computed()).toBe(3);
    const stats = await memory.stats();
    expect(stats).toMatchObject({ entries: 2, misses: 3, hits: 2 }); // nothing lost while the disk was full
    expect(warnings.length).toBe(afterFull);
    expect((await memory.reconcile())).toEqual({ added: 0, removed: 0 }); // index and files agree
    expect(leftovers(mount.dir)).toEqual([]);
    await memory.close();
  });

  it.skipIf(!canMount)('read-only (tmpfs remounted ro): hits still work, a miss returns its value with one warning, and after remounting rw it caches', async () => {
    const mount = mountTmpfs('4m');
    if (!('dir' in mount)) throw new Error(mount.reason);
    const location = join(mount.dir, 'cache');
    const { memory, warnings, series, computed } = setup(location);
    expect(await series(100)).toEqual(expected(100));
    await memory.close();
    execFileSync('mount', ['-o', 'remount,ro', mount.dir]);
    try {
      expect(() => writeFileSync(join(mount.dir, 'probe'), 'x')).toThrow(/EROFS/); // root really cannot write
      expect(await series(100)).toEqual(expected(100)); // hit
      expect(computed()).toBe(1);
      expect(await series(200)).toEqual(expected(200)); // miss: returned, not stored
      expect(computed()).toBe(2);
      expect(warnings.filter((w) => w.code === 'LARDER_NOT_STORED')).toHaveLength(1);
      expect(warnings.filter((w) => w.code === 'LARDER_NOT_STORED')[0]!.message).toMatch(/EROFS/);
      expect(await series.isCached(200)).toBe(false);
      expect((await memory.list()).length).toBe(1);
    } finally {
      await memory.close();
      execFileSync('mount', ['-o', 'remount,rw', mount.dir]);
    }
    expect(await series(200)).toEqual(expected(200));
    expect(await series.isCached(200)).toBe(true);
    expect(leftovers(mount.dir)).toEqual([]);
    expect(await memory.reconcile()).toEqual({ added: 0, removed: 0 });
    expect((await memory.stats()).entries).toBe(2);
    await memory.close();
  });

  it('write failure fallback (no mount needed): a file where the function folder belongs makes the write fail for real; value returned, one warning, then caches once it is gone', async () => {
    const location = mkdtempSync(join(tmpdir(), 'larder-nowrite-'));
    mounts.push(location); // removed in afterAll (umount fails harmlessly)
    const { memory, warnings, series } = setup(location);
    // Marked first: in a folder larder never marked, a stray file would make it not a cache at all (LARDER_NOT_A_CACHE).
    await memory.clear();
    mkdirSync(join(location, 'results'), { recursive: true });
    writeFileSync(join(location, 'results', 'series'), 'in the way');
    expect(await series(50)).toEqual(expected(50));
    expect(warnings.map((w) => w.code)).toEqual(['LARDER_NOT_STORED']);
    expect(leftovers(location)).toEqual([]);
    rmSync(join(location, 'results', 'series'));
    expect(await series(50)).toEqual(expected(50));
    expect(await series.isCached(50)).toBe(true);
    await memory.close();
  });
});
