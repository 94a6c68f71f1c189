import { copyFileSync, linkSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { dumpSync, loadSync } from '@larder/store-fs';
import { entryFile, testMemory } from './helpers.js';

const entryPath = (location: string, key: string) => entryFile(location, key);

/** Rewrites the entry file of `key` as the older layout wrote it: the same envelope without its `key` field. */
function toOlderLayout(location: string, key: string): void {
  const { key: _dropped, ...envelope } = loadSync<Record<string, unknown>>(entryPath(location, key));
  dumpSync(envelope, entryPath(location, key));
}

describe('misplaced files', () => {
  it('robustness: a valid entry file copied onto another entry\'s path is a miss with a warning, never the other call\'s value', async () => {
    const { memory, warnings, location } = testMemory();
    let runs = 0;
    const f = memory.cache(function f(x: number) { runs++; return { x }; }, { name: 'f' });
    const three = (await f.call(3)).info.id;
    const four = (await f.call(4)).info.id;
    copyFileSync(entryFile(location, four), entryFile(location, three));
    expect(await f(3)).toEqual({ x: 3 });
    expect(runs).toBe(3);
    expect(warnings.map((w) => w.code)).toEqual(['LARDER_ENTRY_CORRUPT']);
    expect(warnings[0]!.message).toContain(`holds the entry ${four}, not ${three}`);
    expect(await f(3)).toEqual({ x: 3 }); // overwritten with the right entry: a hit now
    expect(runs).toBe(3);
  });

  it('lease: a lease file without a readable holder (debris) stops blocking after 2 s, not after leaseMs', async () => {
    const { memory, location } = testMemory({ leaseMs: 60_000 });
    // Slow enough (≥ LEASE_MIN_COMPUTE_MS) that its misses take the lease, which is what meets the debris.
    const f = memory.cache(async function g(x: number) { await sleep(10); return x + 1; }, { name: 'g' });
    const id = (await f.call(1)).info.id;
    const entry = entryFile(location, id);
    await f.clear();
    mkdirSync(join(entry, '..'), { recursive: true });
    writeFileSync(`${entry}.lease`, 'not json at all');
    const started = Date.now();
    expect(await f(1)).toBe(2);
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(1_900);
    expect(waited).toBeLessThan(6_000);
  });

  it('misplaced: older-layout entries (without their key) swapped between two paths: square(3) returns 9, never 16, with a warning', async () => {
    const { memory, warnings, location } = testMemory();
    let runs = 0;
    const square = memory.cache(function square(x: number) { runs++; return x * x; }, { name: 'square' });
    const three = (await square.call(3)).info.id;
    const four = (await square.call(4)).info.id;
    toOlderLayout(location, three);
    toOlderLayout(location, four);
    renameSync(entryPath(location, three), `${entryPath(location, three)}.swap`);
    renameSync(entryPath(location, four), entryPath(location, three));
    renameSync(`${entryPath(location, three)}.swap`, entryPath(location, four));
    expect(await square.isCached(3)).toBe(false);
    expect(await square(3)).toBe(9);
    expect(await square(4)).toBe(16);
    expect(runs).toBe(4);
    expect(warnings.map((w) => w.code)).toEqual(['LARDER_ENTRY_CORRUPT']);
    expect(warnings[0]!.message).toMatch(/an entry of an older layout that does not say which key it belongs to/);
    expect(await square(3)).toBe(9); // rewritten with its key: a hit now
    expect(runs).toBe(4);
  });

  type Misplace = (location: string, keys: { three: string; four: string; otherFunction: string; otherBody: string }) => void;
  const misplacements: [string, Misplace][] = [
    ['renamed from another key', (location, { three, four }) => renameSync(entryPath(location, four), entryPath(location, three))],
    ['hard-linked from another key', (location, { three, four }) => (rmSync(entryPath(location, three)), linkSync(entryPath(location, four), entryPath(location, three)))],
    ['copied from another function with the same arguments', (location, { three, otherFunction }) => copyFileSync(entryPath(location, otherFunction), entryPath(location, three))],
    ['copied from another body of the same name', (location, { three, otherBody }) => copyFileSync(entryPath(location, otherBody), entryPath(location, three))],
    ['of another function that claims this very key', (location, { three }) => dumpSync({ larder: 1, name: 'impostor', createdMs: Date.now(), computeMs: 1, args: '(3)', key: three, value: 16 }, entryPath(location, three))],
  ];
  for (const [how, misplace] of misplacements) {
    it(`misplaced: an entry file ${how} is a miss with a warning for calls, isCached and shelved ids, never the wrong value`, async () => {
      const { memory, warnings, location } = testMemory();
      let runs = 0;
      const square = memory.cache(function square(x: number) { runs++; return x * x; }, { name: 'square' });
      const impostor = memory.cache(function impostor(x: number) { return x * x + 7; }, { name: 'square2' });
      const older = memory.cache(function square(x: number) { return -x; }, { name: 'square' });
      const shelved = await square.callAndShelve(3);
      const keys = {
        three: shelved.id,
        four: (await square.call(4)).info.id,
        otherFunction: (await impostor.call(3)).info.id,
        otherBody: (await older.call(3)).info.id,
      };
      expect(new Set([keys.three.split('/').at(-1), keys.otherFunction.split('/').at(-1), keys.otherBody.split('/').at(-1)]).size).toBe(1); // same arguments hash
      misplace(location, keys);
      await expect(shelved.get()).rejects.toMatchObject({ code: 'LARDER_SHELVED_MISSING' });
      expect(await square.isCached(3)).toBe(false);
      const before = runs;
      expect(await square(3)).toBe(9);
      expect(runs).toBe(before + 1);
      expect(warnings.map((w) => w.code)).toEqual(['LARDER_ENTRY_CORRUPT']);
      expect(await square(3)).toBe(9);
      expect(await square.isCached(3)).toBe(true);
      expect(await shelved.get()).toBe(9);
    });
  }
});
